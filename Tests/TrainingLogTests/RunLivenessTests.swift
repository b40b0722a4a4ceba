import Foundation
import TrainingLog
import XCTest
#if canImport(Glibc)
import Glibc
#endif

final class RunLivenessTests: XCTestCase {
    func testAFileOpenForWritingHasAWriter() throws {
        #if !os(Linux)
        throw XCTSkip("the writer is found through /proc, which only Linux has")
        #else
        let path = try temporaryDirectory(self) + "/server.jsonl"
        XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: nil))
        XCTAssertEqual(RunLiveness.someProcessWrites(path), false)
        let reading = try XCTUnwrap(FileHandle(forReadingAtPath: path))
        XCTAssertEqual(RunLiveness.someProcessWrites(path), false, "a reader (tail -f, backprop logs) is not a writer")
        let writing = try XCTUnwrap(FileHandle(forWritingAtPath: path))
        XCTAssertEqual(RunLiveness.someProcessWrites(path), true)
        try writing.close()
        try reading.close()
        XCTAssertEqual(RunLiveness.someProcessWrites(path), false)
        XCTAssertEqual(RunLiveness.someProcessWrites(path + ".missing"), false)
        #endif
    }

    func testAnEndpointAnswersWhileSomethingListens() throws {
        let directory = try temporaryDirectory(self)
        let endpointFile = directory + "/endpoint"
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        XCTAssertGreaterThanOrEqual(fd, 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && listen(fd, 4) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        XCTAssertTrue(bound)
        let port = Int(UInt16(bigEndian: address.sin_port))
        try "tcp://127.0.0.1:\(port)\n".write(toFile: endpointFile, atomically: true, encoding: .utf8)
        XCTAssertTrue(RunLiveness.endpointAnswers(endpointFile))
        close(fd)
        XCTAssertFalse(RunLiveness.endpointAnswers(endpointFile))
        XCTAssertFalse(RunLiveness.endpointAnswers(directory + "/missing"))
    }

    /// A recorded pid counts only while that process runs the named program with the given argument.
    func testAProcessIsRecognisedByProgramAndArgument() throws {
        let arguments = CommandLine.arguments
        let program = (arguments[0] as NSString).lastPathComponent
        XCTAssertEqual(RunLiveness.process(getpid(), runs: program, with: arguments[0]), true)
        XCTAssertEqual(RunLiveness.process(getpid(), runs: "backprop-server", with: arguments[0]), false)
        XCTAssertEqual(RunLiveness.process(getpid(), runs: program, with: "/no/such/run"), false)
        XCTAssertEqual(RunLiveness.process(0, runs: program, with: arguments[0]), false)
        XCTAssertEqual(RunLiveness.process(Int32.max, runs: program, with: arguments[0]), false)
    }
}
