import ArgumentParser
import CommandSupport
import Foundation
import Training

@main
struct BackpropWorker: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backprop-worker",
        abstract: "A worker: joins a parameter server and computes the microbatch gradients it is handed.",
        discussion: "Exits 0 when training ends or after SIGINT/SIGTERM (it tells the server it is leaving), 1 when refused or when the server is gone."
    )

    @Option(help: "The server's address, e.g. tcp://127.0.0.1:5555.")
    var server: String

    @Option(help: "A name for the logs (default: <host>-<pid>).")
    var name: String?

    @Option(help: "Refuse to train any model but this one (a preset or spec).")
    var model: String?

    @Option(parsing: .unconditional, help: "Seconds to keep trying when the server is absent or silent before giving up.")
    var serverTimeout = 30.0

    @Option(help: "Directory for worker-<id>.jsonl (default: the server's run directory, if it exists on this machine).")
    var logDir: String?

    @Option(help: "This worker's CurveZMQ key file (from `backprop keys generate`), for a server started with --keys.")
    var key: String?

    @Option(help: "The server's public key file (server.pub), with --key.")
    var serverKey: String?

    @Option(parsing: .unconditional, help: .hidden)
    var protocolVersion: UInt16?

    func validate() throws {
        guard server.hasPrefix("tcp://") || server.hasPrefix("ipc://") || server.hasPrefix("inproc://") else {
            throw ValidationError("--server must be an address such as tcp://127.0.0.1:5555, got '\(server)'")
        }
        if server.hasPrefix("tcp://") {
            // host:port, the port a number libzmq can connect to.
            guard let port = server.split(separator: ":").last.flatMap({ Int($0) }), (1...65535).contains(port) else {
                throw ValidationError("--server must end in a port from 1 to 65535, such as tcp://127.0.0.1:5555, got '\(server)'")
            }
        }
        guard serverTimeout > 0 else { throw ValidationError("--server-timeout must be positive") }
        guard (key == nil) == (serverKey == nil) else { throw ValidationError("--key and --server-key go together") }
    }

    func run() throws {
        StopSignal.install()
        try runReportingErrors {
            let host = ProcessInfo.processInfo.hostName
            let curve = try key.map { try loadWorkerKeys(keyFile: $0, serverPublicFile: serverKey ?? "") }
            let options = WorkerOptions(server: server, name: name ?? "\(host)-\(getpid())", expectedModel: model,
                                        serverTimeout: serverTimeout, logDirectory: logDir, curve: curve)
            say("worker \(options.name): joining \(server)")
            let worker = Worker(options: options, console: WorkerConsole(),
                                protocolVersion: protocolVersion ?? Training.protocolVersion,
                                shouldStop: { StopSignal.requested })
            switch try worker.run() {
            case .finished(let reason): say("worker \(options.name): done (\(reason))")
            case .stopped: say("worker \(options.name): stopped; left the cluster")
            }
        }
    }
}
