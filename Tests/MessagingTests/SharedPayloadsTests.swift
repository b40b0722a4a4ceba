import Foundation
import Messaging
import XCTest

/// The shared-memory file between a worker and a server on one machine: what one writes the
/// other reads, and the server maps only a file that is exactly what a worker would create.
final class SharedPayloadsTests: XCTestCase {
    private func uniqueName() -> String { "\(getpid())-test-\(UUID().uuidString)" }

    override func setUpWithError() throws {
        try XCTSkipUnless(FileManager.default.isWritableFile(atPath: SharedPayloads.directory), "no writable /dev/shm here")
    }

    func testWhatOneMappingWritesTheOtherReads() throws {
        let worker = try SharedPayloads.create(name: uniqueName(), slots: 3, elements: 5)
        defer { worker.removeName() }
        let server = try SharedPayloads.open(path: worker.path, slots: 3, elements: 5)
        server.slot(0).update(repeating: 1.5, count: 5)
        XCTAssertEqual(Array(UnsafeBufferPointer(start: worker.slot(0), count: 5)), [1.5, 1.5, 1.5, 1.5, 1.5])
        worker.slot(2)[4] = -7
        XCTAssertEqual(server.slot(2)[4], -7)
        XCTAssertEqual(server.bytes(2).count, 20)
        // The name can go once both have mapped it; the memory stays.
        server.removeName()
        XCTAssertFalse(FileManager.default.fileExists(atPath: worker.path))
        XCTAssertEqual(server.slot(2)[4], -7)
    }

    func testANameInUseIsNotTakenOver() throws {
        let name = uniqueName()
        let first = try SharedPayloads.create(name: name, slots: 1, elements: 4)
        defer { first.removeName() }
        XCTAssertThrowsError(try SharedPayloads.create(name: name, slots: 1, elements: 4)) { error in
            XCTAssertTrue("\(error)".contains("File exists"), "\(error)")
        }
    }

    func testTheServerRefusesAnythingButSuchAFile() throws {
        let file = try SharedPayloads.create(name: uniqueName(), slots: 2, elements: 8)
        defer { file.removeName() }
        func refusal(_ path: String, slots: Int = 2, elements: Int = 8) -> String {
            do {
                _ = try SharedPayloads.open(path: path, slots: slots, elements: elements)
                return "opened"
            } catch {
                return error.description
            }
        }
        XCTAssertTrue(refusal(file.path, slots: 3).contains("has 64 bytes, expected 96"), refusal(file.path, slots: 3))
        XCTAssertTrue(refusal("/etc/passwd").contains("is not a file /dev/shm/backprop-"))
        XCTAssertTrue(refusal("/dev/shm/backprop-x/../../etc/passwd").contains("is not a file"))
        XCTAssertTrue(refusal("/dev/shm/backprop-\(uniqueName())-absent").contains("No such file"))

        let link = "/dev/shm/backprop-\(uniqueName())-link"
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: file.path)
        defer { try? FileManager.default.removeItem(atPath: link) }
        XCTAssertFalse(refusal(link) == "opened", "followed a symbolic link")

        let directory = "/dev/shm/backprop-\(uniqueName())-dir"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        XCTAssertFalse(refusal(directory) == "opened", "opened a directory")
    }
}
