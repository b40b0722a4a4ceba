import ArgumentParser
import CommandSupport
import Foundation
import Training
import TrainingLog

@main
struct BackpropServer: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backprop-server",
        abstract: "The parameter server: waits for workers, deals out microbatches, averages gradients, applies the optimiser.",
        discussion: """
            Writes into the run directory: config.json, server.jsonl (every event), history.csv, \
            checkpoint.safetensors (after every epoch), summary.json, and while it runs, endpoint (the address it listens on) \
            and local-endpoint (the same server through a Unix socket in the run directory, server.ipc: for workers on this \
            machine, which move large models' weights and gradients faster through it than through loopback TCP).
            """
    )

    @OptionGroup var training: TrainingOptions

    @Option(parsing: .unconditional, help: "TCP port to listen on (0 picks a free one; see the run directory's endpoint file).")
    var port = 5555

    @Option(help: "Interface to listen on: 127.0.0.1 (default, this machine only) or an address; * for all.")
    var host = "127.0.0.1"

    @Option(parsing: .unconditional, help: "Workers that must join before training starts.")
    var workersMin = 1

    @Option(help: "Directory of CurveZMQ keys (from `backprop keys generate`): admit only workers listed in its authorized_workers, and encrypt all traffic.")
    var keys: String?

    @Flag(help: "Allow listening on an interface other than loopback without --keys (anyone who can reach the port can join).")
    var insecure = false

    @Option(parsing: .unconditional, help: "Seconds of silence after which a worker is dropped and its microbatches go to others.")
    var workerTimeout = 5.0

    @OptionGroup var start: RunStartOptions

    @Flag(help: "Print only membership changes and the final test line.")
    var quiet = false

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port must be in 0...65535, got \(port)") }
        guard workersMin >= 1 else { throw ValidationError("--workers-min must be at least 1, got \(workersMin)") }
        guard workerTimeout > 0 else { throw ValidationError("--worker-timeout must be positive") }
        if keys == nil && !isLoopback(host) && !insecure {
            throw ValidationError("--host \(host) would let anyone who can reach the port join the run; pass --keys DIR (see `backprop keys generate`), or --insecure to accept that")
        }
    }

    func run() throws {
        StopSignal.install()
        try runReportingErrors {
            let curve = try keys.map { try loadServerKeys(directory: $0) }
            if curve == nil && !isLoopback(host) {
                FileHandle.standardError.write(Data("warning: listening on \(host) without --keys: anyone who can reach this port can join the run and read its traffic; create keys with `backprop keys generate DIR` and pass --keys DIR\n".utf8))
            }
            let (run, state, directory) = try start.prepare(training, directoryPrefix: "cluster")
            let endpoint = "tcp://\(host):\(port == 0 ? "*" : String(port))"
            // Workers on this machine may connect through a Unix socket in the run directory instead.
            let socketFile = URL(fileURLWithPath: directory.file("server.ipc")).standardizedFileURL.path
            let local = "ipc://" + socketFile
            let server: ParameterServer
            do {
                server = try ParameterServer(
                    run: run, directory: directory,
                    options: ServerOptions(endpoint: endpoint, localEndpoint: local, workersMin: workersMin,
                                           workerTimeout: workerTimeout, curve: curve),
                    start: state, shouldStop: { StopSignal.requested })
            } catch {
                // A server that cannot listen leaves no trace, not even the directory it was to write in.
                directory.removeIfUnused()
                throw error
            }
            try directory.writeConfig(run.config)
            // `endpoint` and `local-endpoint` exist exactly while this server listens; ones left by an earlier server are stale.
            let endpointFile = directory.file("endpoint"), localEndpointFile = directory.file("local-endpoint")
            for file in [endpointFile, localEndpointFile] { try? FileManager.default.removeItem(atPath: file) }
            defer { for file in [endpointFile, localEndpointFile, socketFile] { try? FileManager.default.removeItem(atPath: file) } }
            let console = ConsoleSink(epochs: run.config.epochs, showSteps: !quiet)
            let sink = EventFanOut(try start.fileSinks(in: directory, start: state, events: "server.jsonl", process: "server") + [console])
            if let problem = server.localEndpointProblem {
                FileHandle.standardError.write(Data("note: \(problem); workers on this machine use \(server.endpoint)\n".utf8))
            }
            if let localEndpoint = server.localEndpoint {
                try Data((localEndpoint + "\n").utf8).write(to: URL(fileURLWithPath: localEndpointFile), options: .atomic)
            }
            try Data((server.endpoint + "\n").utf8).write(to: URL(fileURLWithPath: endpointFile), options: .atomic)
            if !quiet {
                say(run.model.summary(name: run.modelName))
                say("data: \(run.dataName) - \(run.train.count) train, \(run.validation.count) validation, \(run.test.count) test samples")
            }
            let also = server.localEndpoint.map { " and \($0) (workers on this machine)" } ?? ""
            say("listening on \(server.endpoint)\(also)\(curve == nil ? "" : " (CurveZMQ: \(curve?.authorizedWorkers.count ?? 0) authorized worker keys)"); run directory \(directory.path)")
            _ = try server.serve(sink: sink)
        }
    }
}
