import Datasets
import XCTest

final class ImageSetTests: XCTestCase {
    /// Ten 1x2 images whose pixels are (2i, 2i+1), labels i % 3.
    private let ramp = ImageSet(
        height: 1, width: 2, channels: 1, classCount: 3,
        pixels: (0..<20).map { UInt8($0) }, labels: (0..<10).map { UInt8($0 % 3) }
    )

    func testSizes() {
        XCTAssertEqual(ramp.count, 10)
        XCTAssertEqual(ramp.sampleSize, 2)
    }

    func testGatherScalesBytesAndFollowsTheIndices() {
        let set = ImageSet(
            height: 1, width: 2, channels: 1, classCount: 2, pixels: [0, 255, 51, 102, 7, 9], labels: [1, 0, 1]
        )
        var images = [Float](repeating: -1, count: 6)
        var labels = [Int32](repeating: -1, count: 3)
        images.withUnsafeMutableBufferPointer { imageBuffer in
            labels.withUnsafeMutableBufferPointer { labelBuffer in
                set.gather([1, 0, 1], images: imageBuffer.baseAddress!, labels: labelBuffer.baseAddress!)
            }
        }
        XCTAssertEqual(images, [0.2, 0.4, 0, 1, 0.2, 0.4])
        XCTAssertEqual(labels, [0, 1, 0])
    }

    func testSliceKeepsTheRange() {
        let slice = ramp.slice(3..<5)
        XCTAssertEqual(slice.pixels, [6, 7, 8, 9])
        XCTAssertEqual(slice.labels, [0, 1])
        XCTAssertEqual(slice.sampleSize, 2)
        XCTAssertEqual(ramp.slice(4..<4).count, 0)
    }
}
