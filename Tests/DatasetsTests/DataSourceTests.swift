import Datasets
import XCTest

final class DataSourceTests: XCTestCase {
    func testParsesEveryForm() throws {
        XCTAssertEqual(try DataSource(parsing: "synthetic"), .synthetic(classes: 2, seed: 0))
        XCTAssertEqual(try DataSource(parsing: "synthetic10"), .synthetic(classes: 10, seed: 0))
        XCTAssertEqual(try DataSource(parsing: "synthetic:7"), .synthetic(classes: 2, seed: 7))
        XCTAssertEqual(try DataSource(parsing: "synthetic10:7"), .synthetic(classes: 10, seed: 7))
        XCTAssertEqual(try DataSource(parsing: "synthetic5:18446744073709551615"), .synthetic(classes: 5, seed: .max))
        XCTAssertEqual(try DataSource(parsing: "idx:/data/mnist"), .idx(directory: "/data/mnist"))
        XCTAssertEqual(try DataSource(parsing: "idx:relative/dir:with:colons"), .idx(directory: "relative/dir:with:colons"))
    }

    func testDescriptionRoundTrips() throws {
        let sources: [DataSource] = [
            .synthetic(classes: 2, seed: 0), .synthetic(classes: 2, seed: 7), .synthetic(classes: 10, seed: 0),
            .synthetic(classes: 10, seed: 123_456_789), .synthetic(classes: 3, seed: 1), .idx(directory: "/data/fashion"),
        ]
        for source in sources {
            XCTAssertEqual(try DataSource(parsing: source.description), source)
        }
        XCTAssertEqual(DataSource.synthetic(classes: 2, seed: 0).description, "synthetic")
        XCTAssertEqual(DataSource.synthetic(classes: 10, seed: 7).description, "synthetic10:7")
        XCTAssertEqual(DataSource.idx(directory: "/d").description, "idx:/d")
    }

    func testRejectsBadForms() {
        let bad = [
            "", "mnist", "synth", "Synthetic", "synthetic:", "synthetic:-1", "synthetic:x", "synthetic:+3",
            "synthetic1", "synthetic11", "synthetic 10", "synthetic10:7:8", "synthetic:18446744073709551616", "idx:",
        ]
        for text in bad {
            assertDatasetError(
                try DataSource(parsing: text),
                mentions: ["--data \"\(text)\"", "synthetic10", ":SEED", "idx:DIRECTORY"]
            )
        }
    }

    func testLoadRejectsUnsupportedClassCounts() {
        assertDatasetError(try Dataset.load(.synthetic(classes: 11, seed: 0)), mentions: ["synthetic11"])
        assertDatasetError(try Dataset.load(.synthetic(classes: 1, seed: 0)), mentions: ["synthetic1"])
    }
}
