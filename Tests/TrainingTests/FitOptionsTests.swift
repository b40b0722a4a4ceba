import Foundation
import Training
import TrainingLog
import XCTest

/// `RunConfig.fit`: what `config.json` (a resume's settings) and the workers' welcome (JSON) carry,
/// and the one line each bad value gives.
final class FitOptionsTests: XCTestCase {
    private func everyOption() -> RunConfig {
        var config = RunConfig()
        config.optimizer = "adamw"
        config.learningRate = 0.01
        config.epochs = 9
        config.fit.weightDecay = 0.01
        config.fit.clipNorm = 1
        config.fit.labelSmoothing = 0.1
        config.fit.lrSchedule = "step:2:0.5"
        config.fit.warmupEpochs = 1
        config.fit.monitor = "val_accuracy"
        config.fit.reduceLROnPlateau = 0.5
        config.fit.plateauPatience = 1
        config.fit.minLR = 0.0001
        config.fit.earlyStopping = 2
        config.fit.minDelta = 0.003
        config.fit.restoreBestWeights = true
        config.fit.saveBest = true
        return config
    }

    func testConfigJSONReadsBackEveryOption() throws {
        let config = everyOption()
        XCTAssertNoThrow(try config.validate())
        let text = try JSONSerialization.data(withJSONObject: jsonDictionary(config.fields))
        let fields = try XCTUnwrap(try JSONSerialization.jsonObject(with: text) as? [String: Any])
        XCTAssertEqual(try RunConfig(fields: fields), config)
        // Whole numbers written for Double options (1, not 1.0) still read back.
        var whole = config
        whole.fit.weightDecay = 1
        whole.fit.reduceLROnPlateau = nil
        let wholeFields = try XCTUnwrap(try JSONSerialization.jsonObject(with: JSONSerialization.data(withJSONObject: jsonDictionary(whole.fields))) as? [String: Any])
        XCTAssertEqual(try RunConfig(fields: wholeFields).fit.weightDecay, 1)
        XCTAssertEqual(try RunConfig(fields: wholeFields).fit.clipNorm, 1)
    }

    func testTheWelcomeCarriesEveryOption() throws {
        let config = everyOption()
        XCTAssertEqual(try JSONDecoder().decode(RunConfig.self, from: JSONEncoder().encode(config)), config)
    }

    func testDefaultsWriteNoFitFields() {
        let names = Set(RunConfig().fields.map(\.0))
        for name in ["weight_decay", "clip_norm", "label_smoothing", "lr_schedule", "warmup_epochs", "monitor", "reduce_lr_on_plateau",
                     "early_stopping", "min_delta", "restore_best_weights", "save_best"] {
            XCTAssertFalse(names.contains(name), name)
        }
    }

    func testAdamWDecaysByKerasDefaultUnlessTold() {
        var fit = FitOptions()
        XCTAssertEqual(fit.effectiveWeightDecay(optimizer: "adamw"), 0.004)
        XCTAssertEqual(fit.effectiveWeightDecay(optimizer: "adam"), 0)
        XCTAssertEqual(fit.effectiveWeightDecay(optimizer: "rmsprop"), 0)
        fit.weightDecay = 0
        XCTAssertEqual(fit.effectiveWeightDecay(optimizer: "adamw"), 0)
        fit.weightDecay = 0.02
        XCTAssertEqual(fit.effectiveWeightDecay(optimizer: "sgd"), 0.02)
    }

    /// Each bad value is one line naming its flag.
    func testBadValuesNameTheirFlag() {
        func check(_ flag: String, file: StaticString = #filePath, line: UInt = #line, _ change: (inout RunConfig) -> Void) {
            var config = RunConfig()
            change(&config)
            XCTAssertThrowsError(try config.validate(), flag, file: file, line: line) { error in
                XCTAssertTrue("\(error)".contains(flag), "\(error)", file: file, line: line)
                XCTAssertFalse("\(error)".contains("\n"), "\(error)", file: file, line: line)
            }
        }
        check("--optimizer") { $0.optimizer = "adamax" }
        check("--lr-schedule") { $0.fit.lrSchedule = "linear" }
        check("--monitor") { $0.fit.monitor = "val_acc" }
        for factor in [0, 1, 1.5, -0.5, .nan] {
            check("--reduce-lr-on-plateau") { $0.fit.reduceLROnPlateau = factor }
        }
        check("--plateau-patience") { $0.fit.plateauPatience = -1 }
        check("--early-stopping") { $0.fit.earlyStopping = -1 }
        check("--restore-best-weights") { $0.fit.restoreBestWeights = true }
        check("--early-stopping") { $0.fit.restoreBestWeights = true }
        check("--min-lr") { $0.learningRate = 0.01; $0.fit.minLR = 0.1 }
        check("--min-lr") { $0.fit.minLR = 0.002 }  // above adam's default rate, 0.001
        check("--min-lr") { $0.fit.minLR = -1 }
        check("--weight-decay") { $0.fit.weightDecay = -0.1 }
        check("--clip-norm") { $0.fit.clipNorm = 0 }
        check("--label-smoothing") { $0.fit.labelSmoothing = 1 }
        check("--warmup-epochs") { $0.fit.warmupEpochs = -1 }
        check("--min-delta") { $0.fit.minDelta = -0.1 }
        check("--validation-split") { $0.validationSplit = 0; $0.fit.earlyStopping = 2 }
    }
}
