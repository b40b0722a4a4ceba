import ClusterControl
import XCTest

final class StartPlanTests: XCTestCase {
    private let definition = try! ClusterDefinition(text: "PORT=5555\nWORKERS=3\nEPOCHS=3\nSEED=1\nSERVER_TIMEOUT=20", file: "x.conf")

    func testTheDefinitionBecomesServerFlags() throws {
        let plan = try StartPlan(definition: definition, request: StartRequest())
        XCTAssertEqual(plan.server.arguments, ["--epochs", "3", "--seed", "1", "--host", "127.0.0.1", "--port", "5555", "--workers-min", "3"])
        XCTAssertEqual(plan.workers, 3)
        XCTAssertEqual(plan.workersMin, 3)
        XCTAssertEqual(plan.workerServerTimeout, "20")
    }

    func testCommandLineOverridesTheDefinition() throws {
        let plan = try StartPlan(definition: definition, request: StartRequest(workers: 0, port: 0, serverFlags: ["--epochs=1", "--lr", "0.002"]))
        XCTAssertEqual(plan.server.arguments, ["--seed", "1", "--host", "127.0.0.1", "--port", "0", "--workers-min", "1", "--epochs=1", "--lr", "0.002"])
        XCTAssertEqual(plan.workers, 0)
        XCTAssertEqual(plan.port, 0)
        XCTAssertFalse(plan.workersMinGiven)
    }

    func testTheRunDirectoryIsNoServerFlag() {
        XCTAssertThrowsError(try StartPlan(definition: definition, request: StartRequest(serverFlags: ["--run-dir", "x"]))) {
            XCTAssertEqual($0 as? ClusterCommandError, .usage("give the run directory as 'start --run-dir DIR', before --"))
        }
    }

    func testSelectingFlagsKeepsTheirValues() {
        let arguments = ServerArguments(["--model", "seed-cnn", "--quiet", "--port", "0", "--epochs=2", "--insecure", "--init", "c.safetensors"])
        XCTAssertEqual(arguments.keeping(ServerArguments.trainingFlags).arguments, ["--model", "seed-cnn", "--epochs=2", "--init", "c.safetensors"])
        XCTAssertEqual(arguments.dropping(["--port", "--init"]).arguments, ["--model", "seed-cnn", "--quiet", "--epochs=2", "--insecure"])
        XCTAssertEqual(arguments.flagNames, ["--model", "--quiet", "--port", "--epochs", "--insecure", "--init"])
    }

    func testYesNoKeysBecomeSwitchesAndTheCommandLineAddsThem() throws {
        let fit = try ClusterDefinition(text: "EPOCHS=3\nEARLY_STOPPING=2\nRESTORE_BEST_WEIGHTS=yes\nSAVE_BEST=no", file: "x.conf")
        let plan = try StartPlan(definition: fit, request: StartRequest(workers: 1, port: 0, serverFlags: ["--save-best", "--early-stopping=4"]))
        XCTAssertEqual(plan.server.arguments, ["--epochs", "3", "--restore-best-weights", "--host", "127.0.0.1", "--port", "0",
                                               "--workers-min", "1", "--save-best", "--early-stopping=4"])
        // The switches take no value: selecting flags around them keeps every flag whole, and they are training flags.
        XCTAssertEqual(plan.server.keeping(ServerArguments.trainingFlags).arguments,
                       ["--epochs", "3", "--restore-best-weights", "--save-best", "--early-stopping=4"])
        XCTAssertEqual(plan.server.dropping(["--port"]).arguments,
                       ["--epochs", "3", "--restore-best-weights", "--host", "127.0.0.1", "--workers-min", "1", "--save-best", "--early-stopping=4"])
    }
}
