import Foundation
import Training
import TrainingLog
import XCTest

/// `config.json` is how a resumed run learns its own settings: what `fields` writes, `init(fields:)` reads back.
final class RunConfigTests: XCTestCase {
    func testTheWrittenFieldsReadBackAsTheSameConfig() throws {
        var config = RunConfig()
        config.model = "mnist-cnn"
        config.data = "synthetic10"
        config.epochs = 7
        config.batchSize = 64
        config.microbatch = 16
        config.learningRate = 0.004
        config.optimizer = "sgd"
        config.momentum = 0.9
        config.seed = UInt64.max - 2
        config.validationSplit = 0.25
        config.trainLimit = 900
        config.testLimit = 50
        config.checkpointEvery = 3
        // Through JSON text, as the file holds it.
        let text = try JSONSerialization.data(withJSONObject: jsonDictionary(config.fields))
        let fields = try XCTUnwrap(try JSONSerialization.jsonObject(with: text) as? [String: Any])
        XCTAssertEqual(try RunConfig(fields: fields), config)
    }

    func testMissingKeysKeepTheDefaultsAndWrongTypesAreNamed() throws {
        XCTAssertEqual(try RunConfig(fields: [:]), RunConfig())
        XCTAssertThrowsError(try RunConfig(fields: ["epochs": "ten"])) { error in
            XCTAssertTrue("\(error)".contains("epochs is ten"), "\(error)")
        }
        XCTAssertThrowsError(try RunConfig(fields: ["seed": "-1"])) { error in
            XCTAssertTrue("\(error)".contains("seed is -1"), "\(error)")
        }
    }
}
