import ClusterControl
import XCTest

final class ClusterDefinitionTests: XCTestCase {
    private func parse(_ text: String) throws -> ClusterDefinition { try ClusterDefinition(text: text, file: "test.conf") }

    private func problem(_ text: String, file: StaticString = #filePath, line: UInt = #line) -> String {
        do {
            _ = try parse(text)
            XCTFail("accepted:\n\(text)", file: file, line: line)
            return ""
        } catch {
            return "\(error)"
        }
    }

    func testTheShippedDefinitionsParse() throws {
        let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        for name in ["local", "quick"] {
            let path = repository.appendingPathComponent("cluster/\(name).conf").path
            let definition = try ClusterDefinition.read(path: path, file: "cluster/\(name).conf")
            XCTAssertEqual(definition[.model], "seed-cnn")
        }
    }

    func testValuesCommentsQuotesAndEmptyKeys() throws {
        let definition = try parse("""
            # a comment
              WORKERS = 2   # two of them
            MODEL="seed-cnn"
            DATA='synthetic10' # quoted
            LR=
            EPOCHS=4\r
            SEED=7
            """)
        XCTAssertEqual(definition[.workers], "2")
        XCTAssertEqual(definition[.model], "seed-cnn")
        XCTAssertEqual(definition[.data], "synthetic10")
        XCTAssertNil(definition[.learningRate])
        XCTAssertEqual(definition.lines[.learningRate], 5)
        XCTAssertEqual(definition.trainingConfig.epochs, 4)
        XCTAssertEqual(definition.trainingConfig.seed, 7)
        XCTAssertEqual(definition.serverFlags, ["--model", "seed-cnn", "--data", "synthetic10", "--epochs", "4", "--seed", "7"])
    }

    func testEachProblemNamesItsLine() {
        XCTAssertTrue(problem("WORKERS=2\nEPOCS=3\n").hasPrefix("test.conf:2: unknown key 'EPOCS' (known: PORT, HOST, WORKERS,"))
        XCTAssertEqual(problem("EPOCHS=1\nEPOCHS=2"), "test.conf:2: duplicate key 'EPOCHS' (already set on line 1)")
        XCTAssertEqual(problem("just words"), "test.conf:1: malformed line 'just words' (expected KEY=VALUE)")
        XCTAssertEqual(problem("1KEY=3"), "test.conf:1: malformed line '1KEY=3' (expected KEY=VALUE)")
        XCTAssertEqual(problem("MODEL=seed cnn"), "test.conf:1: malformed value for MODEL: 'seed cnn' (no spaces or quotes inside a value)")
        XCTAssertEqual(problem("MODEL=\"seed-cnn"), "test.conf:1: malformed value for MODEL: '\"seed-cnn' (no spaces or quotes inside a value)")
        XCTAssertEqual(problem("PORT=70000"), "test.conf:1: PORT must be a port number 0-65535 (0 = any free port), got '70000'")
        XCTAssertEqual(problem("WORKERS=-1"), "test.conf:1: WORKERS must be a whole number >= 0, got '-1'")
        XCTAssertEqual(problem("WORKERS_MIN=0"), "test.conf:1: WORKERS_MIN must be a whole number > 0, got '0'")
        XCTAssertEqual(problem("LR=fast"), "test.conf:1: LR must be a number, got 'fast'")
        XCTAssertEqual(problem("LR=nan"), "test.conf:1: LR must be a number, got 'nan'")
        XCTAssertEqual(problem("WORKER_TIMEOUT=0"), "test.conf:1: WORKER_TIMEOUT must be a number > 0, got '0'")
        XCTAssertEqual(problem("HOST=a;b"), "test.conf:1: HOST must be a host name or address, got 'a;b'")
    }

    /// Ranges and combinations of the training keys are RunConfig's checks, reported at the key's line.
    func testTrainingValuesAreCheckedByRunConfig() {
        XCTAssertEqual(problem("# x\nEPOCHS=0"), "test.conf:2: EPOCHS=0: --epochs must be at least 1, got 0")
        XCTAssertEqual(problem("OPTIMIZER=lion"), "test.conf:1: OPTIMIZER=lion: --optimizer must be adam, adamw, rmsprop or sgd, got 'lion'")
        XCTAssertEqual(problem("VALIDATION_SPLIT=1"), "test.conf:1: VALIDATION_SPLIT=1: --validation-split must be in [0, 1), got 1.0")
        XCTAssertEqual(problem("BATCH_SIZE=8\nMICROBATCH=16"), "test.conf:2: MICROBATCH=16: --microbatch (16) cannot be larger than --batch-size (8)")
    }

    // MARK: - Keras fit's keys

    /// Every fit key set: the config `backprop-server` would get, and the flags it becomes (yes/no keys as switches).
    func testFitKeysBecomeConfigAndServerFlags() throws {
        let definition = try parse("""
            EPOCHS=6
            LR=0.01
            OPTIMIZER=adamw
            WEIGHT_DECAY=0.01
            CLIP_NORM=1
            LABEL_SMOOTHING=0.05
            LR_SCHEDULE=step:2:0.5
            WARMUP_EPOCHS=1
            MONITOR=val_accuracy
            REDUCE_LR_ON_PLATEAU=0.5
            PLATEAU_PATIENCE=2
            MIN_LR=1e-5
            EARLY_STOPPING=3
            MIN_DELTA=0.001
            RESTORE_BEST_WEIGHTS=yes
            SAVE_BEST=TRUE
            """)
        let fit = definition.trainingConfig.fit
        XCTAssertEqual(definition.trainingConfig.optimizer, "adamw")
        XCTAssertEqual(fit.weightDecay, 0.01)
        XCTAssertEqual(fit.clipNorm, 1)
        XCTAssertEqual(fit.labelSmoothing, 0.05)
        XCTAssertEqual(fit.lrSchedule, "step:2:0.5")
        XCTAssertEqual(fit.warmupEpochs, 1)
        XCTAssertEqual(fit.monitor, "val_accuracy")
        XCTAssertEqual(fit.reduceLROnPlateau, 0.5)
        XCTAssertEqual(fit.plateauPatience, 2)
        XCTAssertEqual(fit.minLR, 1e-5)
        XCTAssertEqual(fit.earlyStopping, 3)
        XCTAssertEqual(fit.minDelta, 0.001)
        XCTAssertTrue(fit.restoreBestWeights)
        XCTAssertTrue(fit.saveBest)
        XCTAssertEqual(definition.serverFlags, [
            "--epochs", "6", "--lr", "0.01", "--optimizer", "adamw",
            "--weight-decay", "0.01", "--clip-norm", "1", "--label-smoothing", "0.05", "--lr-schedule", "step:2:0.5",
            "--warmup-epochs", "1", "--monitor", "val_accuracy", "--reduce-lr-on-plateau", "0.5", "--plateau-patience", "2",
            "--min-lr", "1e-5", "--early-stopping", "3", "--min-delta", "0.001", "--restore-best-weights", "--save-best",
        ])
    }

    func testYesNoKeys() throws {
        for (value, on) in [("yes", true), ("Yes", true), ("true", true), ("1", true), ("no", false), ("FALSE", false), ("0", false)] {
            let definition = try parse("SAVE_BEST=\(value)")
            XCTAssertEqual(definition.trainingConfig.fit.saveBest, on, value)
            XCTAssertEqual(definition.serverFlags, on ? ["--save-best"] : [], value)
        }
        let empty = try parse("SAVE_BEST=\nRESTORE_BEST_WEIGHTS=")
        XCTAssertEqual(empty.serverFlags, [])
        XCTAssertFalse(empty.trainingConfig.fit.saveBest)
    }

    /// The table: every training key has a server flag, and its config field is the one config.json writes.
    func testEveryTrainingKeyHasAFlagAndTheConfigField() throws {
        let definition = try parse("""
            MODEL=seed-cnn
            DATA=synthetic
            EPOCHS=2
            BATCH_SIZE=16
            MICROBATCH=4
            LR=0.01
            OPTIMIZER=sgd
            MOMENTUM=0.9
            SEED=5
            VALIDATION_SPLIT=0.2
            TRAIN_LIMIT=100
            TEST_LIMIT=50
            WEIGHT_DECAY=0.01
            CLIP_NORM=1
            LABEL_SMOOTHING=0.1
            LR_SCHEDULE=cosine
            WARMUP_EPOCHS=1
            MONITOR=loss
            REDUCE_LR_ON_PLATEAU=0.5
            PLATEAU_PATIENCE=1
            MIN_LR=0.001
            EARLY_STOPPING=1
            MIN_DELTA=0.01
            RESTORE_BEST_WEIGHTS=yes
            SAVE_BEST=yes
            """)
        let written = Set(definition.trainingConfig.fields.map(\.0))
        for key in DefinitionKey.allCases where key.configField != nil {
            XCTAssertNotNil(key.serverFlag, key.rawValue)
            XCTAssertNotNil(definition[key], "the test sets every training key: \(key.rawValue)")
            XCTAssertTrue(written.contains(key.configField ?? ""), "\(key.rawValue): config.json has no field \(key.configField ?? "")")
            XCTAssertTrue(DefinitionKey.flagOrder.contains(key), key.rawValue)
        }
    }

    func testBadFitValuesGetOneLineWithTheKey() {
        XCTAssertEqual(problem("EPOCHS=2\nSAVE_BEST=maybe"), "test.conf:2: SAVE_BEST must be yes or no (or true/false, 1/0), got 'maybe'")
        XCTAssertEqual(problem("RESTORE_BEST_WEIGHTS=on"), "test.conf:1: RESTORE_BEST_WEIGHTS must be yes or no (or true/false, 1/0), got 'on'")
        XCTAssertEqual(problem("CLIP_NORM=big"), "test.conf:1: CLIP_NORM must be a number, got 'big'")
        XCTAssertEqual(problem("EARLY_STOPPING=2.5"), "test.conf:1: EARLY_STOPPING must be a whole number >= 0, got '2.5'")
        XCTAssertEqual(problem("WARMUP_EPOCHS=-1"), "test.conf:1: WARMUP_EPOCHS must be a whole number >= 0, got '-1'")
        XCTAssertEqual(problem("LABEL_SMOOTHING=1"), "test.conf:1: LABEL_SMOOTHING=1: --label-smoothing must be in [0, 1), got 1.0")
        XCTAssertEqual(problem("LR_SCHEDULE=linear"),
                       "test.conf:1: LR_SCHEDULE=linear: --lr-schedule must be constant, cosine, step:EPOCHS:FACTOR or exponential:RATE (FACTOR and RATE in (0, 1)), got 'linear'")
        XCTAssertEqual(problem("MONITOR=acc"), "test.conf:1: MONITOR=acc: --monitor must be val_loss, val_accuracy, loss or accuracy, got 'acc'")
        XCTAssertEqual(problem("REDUCE_LR_ON_PLATEAU=2"), "test.conf:1: REDUCE_LR_ON_PLATEAU=2: --reduce-lr-on-plateau must be a factor in (0, 1), got 2.0")
        XCTAssertEqual(problem("LR=0.001\nMIN_LR=0.01"), "test.conf:2: MIN_LR=0.01: --min-lr (0.01) must be in [0, --lr] (0.001)")
        // A combination: the line of the first key the message names that the file sets.
        XCTAssertEqual(problem("# x\nRESTORE_BEST_WEIGHTS=yes"), "test.conf:2: RESTORE_BEST_WEIGHTS=yes: --restore-best-weights goes with --early-stopping PATIENCE")
        XCTAssertEqual(problem("SAVE_BEST=yes\nVALIDATION_SPLIT=0"),
                       "test.conf:2: VALIDATION_SPLIT=0: --monitor val_loss needs a validation set (--validation-split > 0), or monitor loss or accuracy")
        // Off is off: no flag, nothing to combine.
        XCTAssertNoThrow(try parse("RESTORE_BEST_WEIGHTS=no"))
    }
}
