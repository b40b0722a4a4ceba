import Messaging
import XCTest

final class LittleEndianFloatsTests: XCTestCase {
    func testKnownBytes() {
        XCTAssertEqual(LittleEndianFloats.bytes([1.0, -2.0, 0.5]), [0, 0, 0x80, 0x3F, 0, 0, 0, 0xC0, 0, 0, 0, 0x3F])
        XCTAssertEqual(LittleEndianFloats.floats([0, 0, 0x80, 0x3F, 0, 0, 0, 0xC0]), [1.0, -2.0])
        XCTAssertEqual(LittleEndianFloats.bytes([]), [])
        XCTAssertEqual(LittleEndianFloats.floats([]), [])
    }

    func testRejectsPartialFloats() {
        XCTAssertNil(LittleEndianFloats.floats([0, 0, 0x80]))
    }

    func testRoundTripPreservesBitPatterns() throws {
        var random = XorShift64(seed: 7)
        let bits = (0..<10_000).map { _ in UInt32(truncatingIfNeeded: random.next()) }
        let values = bits.map(Float.init(bitPattern:))
        let decoded = try XCTUnwrap(LittleEndianFloats.floats(LittleEndianFloats.bytes(values)))
        XCTAssertEqual(decoded.map(\.bitPattern), bits)
    }
}
