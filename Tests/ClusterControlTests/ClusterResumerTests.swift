import ClusterControl
import XCTest

final class ClusterResumerTests: XCTestCase {
    private var run = ClusterRun(directory: "/")

    override func setUpWithError() throws {
        let directory = NSTemporaryDirectory() + "backprop-resumer-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: directory) }
        run = ClusterRun(directory: directory)
        let command = ShellQuoting.commandLine(["/b/backprop-server", "--model", "seed-cnn", "--epochs", "3", "--host", "127.0.0.1",
                                                "--port", "0", "--workers-min", "3", "--worker-timeout", "5", "--model", "dense:32 it's",
                                                "--run-dir", directory])
        try "config=cluster/local.conf\nworkers=3\nserver_command=\(command)\n".write(toFile: run.file("cluster.txt"), atomically: true, encoding: .utf8)
    }

    func testCommandLinesReadBack() {
        let words = ["/b/x", "plain", "with space", "it's", "", "a=b,c", "$HOME"]
        XCTAssertEqual(ShellQuoting.words(ShellQuoting.commandLine(words)), words)
    }

    /// The run's settings come from its config.json: only how its server ran is kept, then the flags given.
    func testTheServerKeepsHowItRanAndTakesTheRestFromTheRun() throws {
        XCTAssertEqual(try ClusterResumer.serverArguments(run, ResumeRequest(), workers: 3),
                       ["--host", "127.0.0.1", "--port", "0", "--workers-min", "3", "--worker-timeout", "5", "--resume", run.directory])
        XCTAssertEqual(try ClusterResumer.serverArguments(run, ResumeRequest(workers: 1, port: 5600, serverFlags: ["--epochs", "30", "--worker-timeout=9"]), workers: 1),
                       ["--host", "127.0.0.1", "--port", "5600", "--workers-min", "1", "--epochs", "30", "--worker-timeout=9", "--resume", run.directory])
        XCTAssertThrowsError(try ClusterResumer.serverArguments(run, ResumeRequest(serverFlags: ["--resume", "x"]), workers: 3)) {
            XCTAssertEqual($0 as? ClusterCommandError, .usage("resume continues the run in its own directory from its checkpoint; drop --resume after --"))
        }
    }
}
