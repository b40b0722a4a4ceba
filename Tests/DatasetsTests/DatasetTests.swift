import Datasets
import XCTest

final class DatasetTests: XCTestCase {
    /// Ten 1x2 images whose pixels are (2i, 2i+1), labels i % 3.
    private let ten = Dataset(
        name: "ten",
        train: ImageSet(
            height: 1, width: 2, channels: 1, classCount: 3,
            pixels: (0..<20).map { UInt8($0) }, labels: (0..<10).map { UInt8($0 % 3) }
        ),
        test: ImageSet(height: 1, width: 2, channels: 1, classCount: 3, pixels: [], labels: [])
    )

    func testValidationIsTheTail() throws {
        let (train, validation) = try ten.splittingValidation(0.2)
        XCTAssertEqual(train.count, 8)
        XCTAssertEqual(validation.count, 2)
        XCTAssertEqual(train.pixels, (0..<16).map { UInt8($0) })
        XCTAssertEqual(validation.pixels, [16, 17, 18, 19])
        XCTAssertEqual(validation.labels, [2, 0])
        XCTAssertEqual(validation.classCount, 3)
    }

    func testValidationSizesFollowKeras() throws {
        // Keras keeps int(count * (1 - fraction)) samples for training.
        for (fraction, kept) in [(0.0, 10), (0.1, 9), (0.25, 7), (0.5, 5), (0.85, 1)] {
            let (train, validation) = try ten.splittingValidation(fraction)
            XCTAssertEqual(train.count, kept, "fraction \(fraction)")
            XCTAssertEqual(validation.count, 10 - kept, "fraction \(fraction)")
        }
    }

    func testRejectsBadFractions() {
        assertDatasetError(try ten.splittingValidation(1), mentions: ["validation fraction 1.0 is outside [0, 1)"])
        assertDatasetError(try ten.splittingValidation(-0.1), mentions: ["outside [0, 1)"])
        assertDatasetError(try ten.splittingValidation(.nan), mentions: ["outside [0, 1)"])
        assertDatasetError(try ten.splittingValidation(0.95), mentions: ["of 10 training samples leaves none"])
    }
}
