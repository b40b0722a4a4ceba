import Foundation
import XCTest

/// Hosts on this machine as network namespaces on a bridge, made and removed by `scripts/hosts`
/// (root only): each has its own address and a real TCP link that can be cut, shaped or made lossy.
final class NamespaceHosts {
    /// The set's name: namespaces `bpt-h1` …, bridge `bpt-br0`, apart from a set someone made by hand (`bp`).
    static let name = "bpt"
    /// Host k's address at index k - 1.
    let addresses: [String]

    /// Makes `count` hosts and removes them (with every process still running in them) at the test's teardown.
    /// Skips the test when not root.
    init(_ test: XCTestCase, count: Int) throws {
        guard geteuid() == 0 else {
            throw XCTSkip("network-namespace hosts need root (CI runs the tests as root): run swift test as root to include them")
        }
        // Hosts left by a run that was killed before its teardown.
        _ = try Self.hosts(["down"])
        let listing = try Self.hosts(["up", String(count)])
        addresses = listing.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: " ")
            return fields.count == 2 && fields[0].hasPrefix(Self.name + "-h") ? String(fields[1]) : nil
        }
        test.addTeardownBlock { _ = try? Self.hosts(["down"]) }
        guard addresses.count == count else {
            throw NSError(domain: "ClusterTests", code: 3, userInfo: [NSLocalizedDescriptionKey: "scripts/hosts up printed:\n\(listing)"])
        }
    }

    /// Host `k`'s namespace.
    func namespace(_ k: Int) -> String { "\(Self.name)-h\(k)" }

    func address(_ k: Int) -> String { addresses[k - 1] }

    /// Cuts host `k`'s link (`ip -n … link set eth0 down`), or restores it.
    func setLink(_ k: Int, up: Bool) throws {
        _ = try run(["ip", "-n", namespace(k), "link", "set", "eth0", up ? "up" : "down"])
    }

    /// Shapes host `k`'s link both ways to `rate` (tc's units: `1mbit`), or unshapes it with `off`.
    func shape(_ k: Int, _ rate: String) throws {
        _ = try Self.hosts(["shape", String(k), rate])
    }

    /// Drops `percent` of host `k`'s packets each way (nftables in its namespace).
    func loss(_ k: Int, percent: Int) throws {
        _ = try Self.hosts(["loss", String(k), String(percent)])
    }

    /// Packets host `k`'s loss rules have dropped so far, from their nftables counters.
    func droppedPackets(_ k: Int) throws -> Int {
        let table = try run(["ip", "netns", "exec", namespace(k), "nft", "list", "table", "netdev", "bp-loss"])
        return table.split(separator: "\n").reduce(0) { total, line in
            guard let range = line.range(of: "counter packets ") else { return total }
            return total + (Int(line[range.upperBound...].prefix { $0.isNumber }) ?? 0)
        }
    }

    /// What host `k`'s side of its link has seen, from tc's counters of its egress qdisc.
    func queueStatistics(_ k: Int) throws -> String {
        try run(["ip", "netns", "exec", namespace(k), "tc", "-s", "qdisc", "show", "dev", "eth0"])
    }

    /// Starts a built executable of this package on host `k`, its output going to `outputPath`.
    func start(_ executableName: String, on k: Int, _ arguments: [String], outputPath: String) throws -> Child {
        guard let url = executable(executableName) else {
            throw NSError(domain: "ClusterTests", code: 1, userInfo: [NSLocalizedDescriptionKey: "cannot find \(executableName); run swift build -c release"])
        }
        // `ip netns exec` execs the command in place, so the process keeps the pid it was started with.
        var environment = ProcessInfo.processInfo.environment
        environment["PATH"] = (environment["PATH"] ?? "/usr/bin:/bin") + ":/usr/sbin:/sbin"
        return try Child(URL(fileURLWithPath: "/usr/bin/env"), ["ip", "netns", "exec", namespace(k), url.path] + arguments,
                         name: executableName, environment: environment, outputPath: outputPath)
    }

    private static var script: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("scripts/hosts").path
    }

    private static func hosts(_ arguments: [String]) throws -> String {
        try run([script, "--name", name] + arguments)
    }
}

/// Runs a command to its end and returns its standard output; throws with its output when it fails.
private func run(_ command: [String]) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = command
    var environment = ProcessInfo.processInfo.environment
    environment["PATH"] = (environment["PATH"] ?? "/usr/bin:/bin") + ":/usr/sbin:/sbin"
    process.environment = environment
    let output = Pipe(), errors = Pipe()
    process.standardOutput = output
    process.standardError = errors
    process.standardInput = FileHandle.nullDevice
    try process.run()
    let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    let errorText = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    guard process.terminationStatus == 0 else {
        throw NSError(domain: "ClusterTests", code: 4, userInfo: [
            NSLocalizedDescriptionKey: "\(command.joined(separator: " ")) exited \(process.terminationStatus): \(text)\(errorText)",
        ])
    }
    return text
}

/// A server on host 1 and workers on the other hosts, over TCP with CurveZMQ keys, in a fresh run directory.
final class HostCluster: ServerRunUnderTest {
    let hosts: NamespaceHosts
    let root: String
    let keys: String
    let runDirectory: String
    let server: Child
    let endpoint: String
    private(set) var workers: [Child] = []

    /// Generates keys for `workers` workers with `backprop keys generate`, starts the server on host 1
    /// with `flags` and waits until it listens.
    init(_ test: XCTestCase, hosts: NamespaceHosts, workers: Int, workersMin: Int, flags: [String], workerTimeout: Double) throws {
        self.hosts = hosts
        root = NSTemporaryDirectory() + "backprop-hosts-" + UUID().uuidString
        keys = root + "/keys"
        runDirectory = root + "/run"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        let root = self.root
        test.addTeardownBlock { try? FileManager.default.removeItem(atPath: root) }
        let generate = try Child("backprop", ["keys", "generate", keys, "--workers", String(workers)], outputPath: root + "/keys.log")
        guard generate.wait(timeout: 30) == 0 else {
            throw NSError(domain: "ClusterTests", code: 5, userInfo: [NSLocalizedDescriptionKey: "backprop keys generate failed:\n\(generate.output)"])
        }
        server = try hosts.start("backprop-server", on: 1,
                                 ["--keys", keys, "--host", hosts.address(1), "--port", "0", "--workers-min", String(workersMin),
                                  "--worker-timeout", String(workerTimeout), "--run-dir", runDirectory, "--quiet"] + flags,
                                 outputPath: root + "/server.log")
        test.addTeardownBlock { [server] in server.stop() }
        endpoint = try serverEndpoint(server, runDirectory: runDirectory)
        test.addTeardownBlock { [weak self] in self?.workers.forEach { $0.stop() } }
    }

    /// Starts worker `key` (its key pair `worker-<key>.key`) on host `k`, connecting over TCP.
    @discardableResult
    func addWorker(on k: Int, key: Int, _ extra: [String] = []) throws -> Child {
        let worker = try hosts.start("backprop-worker", on: k,
                                     ["--server", endpoint, "--key", keys + "/worker-\(key).key", "--server-key", keys + "/server.pub"] + extra,
                                     outputPath: root + "/worker-\(workers.count + 1).log")
        workers.append(worker)
        return worker
    }
}
