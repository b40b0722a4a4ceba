import ArgumentParser
import CommandSupport
import Foundation
import Messaging

struct Keys: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Manage the CurveZMQ keys that authenticate workers and encrypt the cluster's traffic.",
        subcommands: [GenerateKeys.self]
    )
}

struct GenerateKeys: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Write a server key pair, worker key pairs and the server's list of authorized workers.",
        discussion: """
            Writes DIR/server.key and DIR/worker-<k>.key (secret, mode 0600), DIR/server.pub and \
            DIR/worker-<k>.pub, and DIR/authorized_workers. Existing key files are never overwritten.
            """
    )

    @Argument(help: "Directory for the key files (created if missing).")
    var directory: String

    @Option(parsing: .unconditional, help: "Number of worker key pairs to write (1...1000).")
    var workers = 1

    func validate() throws {
        guard (1...1000).contains(workers) else {
            throw ValidationError("--workers must be in 1...1000, got \(workers)")
        }
    }

    func run() throws {
        try runReportingErrors {
            let paths = try CurveKeys.generate(directory: directory, workers: workers)
            for path in paths {
                print("wrote \(path)")
            }
            let first = (directory as NSString).appendingPathComponent(CurveKeys.workerKeyFile(1))
            let serverPublic = (directory as NSString).appendingPathComponent(CurveKeys.serverPublicFile)
            print("server: backprop-server --keys \(directory) ...")
            print("worker: backprop-worker --key \(first) --server-key \(serverPublic) ...")
            print("copy worker-<k>.key and server.pub to worker k's machine; server.key stays on the server.")
        }
    }
}
