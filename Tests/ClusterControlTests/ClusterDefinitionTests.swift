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
        XCTAssertEqual(problem("OPTIMIZER=rmsprop"), "test.conf:1: OPTIMIZER=rmsprop: --optimizer must be adam or sgd, got 'rmsprop'")
        XCTAssertEqual(problem("VALIDATION_SPLIT=1"), "test.conf:1: VALIDATION_SPLIT=1: --validation-split must be in [0, 1), got 1.0")
        XCTAssertEqual(problem("BATCH_SIZE=8\nMICROBATCH=16"), "test.conf:2: MICROBATCH=16: --microbatch (16) cannot be larger than --batch-size (8)")
    }
}
