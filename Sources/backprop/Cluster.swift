import ArgumentParser
import ClusterControl
import CommandSupport
import Foundation

struct Cluster: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cluster",
        abstract: "Start, watch, scale and stop a parameter server and its workers on this machine, or on Slurm.",
        discussion: """
            Each process runs detached in the background with its console log in the run directory \
            (runs/cluster-<date>-<time>/; runs/current points at the latest). Settings come from a cluster \
            definition (cluster/local.conf by default; see cluster/README.md); server flags after -- override it. \
            RUN is a run directory (a path, or a name under runs/); default runs/current. A run that \
            cluster/slurm/backprop.sbatch started is driven through Slurm: status, scale (worker jobs, --partition), \
            logs, wait and stop ask squeue, scontrol, sbatch and scancel.

            Exit codes: 2 for a usage error (a bad flag or definition), 1 for a failure; run, wait and logs -f \
            exit 0 iff training finished, chaos iff it finished with the weights of an undisturbed run.

            Environment: CLUSTER_RUNS (where new runs and the current link go, default runs/), \
            CLUSTER_START_TIMEOUT (seconds to wait for the server to listen, default 30), CLUSTER_STOP_TIMEOUT \
            (seconds between SIGTERM and SIGKILL, default 10), CLUSTER_CHAOS_STALL_TIMEOUT (seconds chaos waits for \
            the server to log anything before it gives up, default 60).
            """,
        subcommands: [ClusterRunCommand.self, ClusterStart.self, ClusterStatusCommand.self, ClusterScale.self,
                      ClusterLogs.self, ClusterWait.self, ClusterStop.self, ClusterChaos.self]
    )
}

/// The exit codes of `backprop cluster`.
enum ClusterExit {
    static let usage: Int32 = 2
    static let interrupted: Int32 = 130
}

/// Builds what the cluster commands work with from the environment and where the command runs, then runs `body`,
/// turning its errors into one line and the right exit code.
func runCluster(stoppable: Bool, _ body: (ClusterContext) throws -> Void) throws {
    let environment = ProcessInfo.processInfo.environment
    let name = environment["BACKPROP_CLUSTER_COMMAND"] ?? "backprop cluster"
    let fail = { (error: ClusterCommandError) -> ExitCode in
        switch error {
        case .usage(let text):
            FileHandle.standardError.write(Data("cluster: \(text)\nrun '\(name) help' for usage\n".utf8))
            return ExitCode(ClusterExit.usage)
        case .failure(let text):
            FileHandle.standardError.write(Data("cluster: error: \(text)\n".utf8))
            return .failure
        case .reported:
            return .failure
        case .interrupted:
            return ExitCode(ClusterExit.interrupted)
        }
    }
    do {
        let context = try clusterContext(environment: environment, name: name)
        if stoppable { StopSignal.install() }
        try body(context)
    } catch let error as ClusterCommandError {
        throw fail(error)
    } catch let error as ExitCode {
        throw error
    } catch {
        throw fail(.failure("\(error)"))
    }
}

private func clusterContext(environment: [String: String], name: String) throws -> ClusterContext {
    let binaries = executableDirectory()
    let workingDirectory = FileManager.default.currentDirectoryPath
    var settings = ClusterSettings(repository: repository(above: binaries) ?? workingDirectory, workingDirectory: workingDirectory,
                                   runs: environment["CLUSTER_RUNS"].flatMap { $0.isEmpty ? nil : $0 })
    settings.commandName = name
    settings.startTimeout = try seconds(environment, "CLUSTER_START_TIMEOUT") ?? settings.startTimeout
    settings.stopTimeout = try seconds(environment, "CLUSTER_STOP_TIMEOUT") ?? settings.stopTimeout
    settings.stallTimeout = try seconds(environment, "CLUSTER_CHAOS_STALL_TIMEOUT") ?? settings.stallTimeout
    let console = ClusterConsole(
        progress: { FileHandle.standardError.write(Data(($0 + "\n").utf8)) },
        result: { line in
            print(line)
            fflush(nil)
        })
    return ClusterContext(settings: settings, launcher: LocalLauncher(binaries: binaries), console: console,
                          interrupted: { StopSignal.requested })
}

/// The run `given` names (nil: runs/current) and a context with the run's own launcher: a `SlurmLauncher` when
/// cluster/slurm/backprop.sbatch started it (its cluster.txt says launcher=slurm), else the local one.
/// `partition` is for worker jobs, so it is a usage error for a local run.
func locateRun(_ given: String?, in context: ClusterContext, partition: String? = nil) throws -> (ClusterContext, ClusterRun) {
    let directory = try RunLocator(context).directory(given)
    guard SlurmLauncher.records(directory) else {
        if partition != nil { throw ClusterCommandError.usage("--partition is for runs on Slurm; \(context.show(directory.directory)) runs on this machine") }
        return (context, try RunLocator(context).locate(given))
    }
    for tool in ["squeue", "scontrol", "scancel", "sbatch"] where SlurmTools.find(tool) == nil {
        throw ClusterCommandError.failure("\(tool) not found on PATH: \(context.show(directory.directory)) is a run on Slurm, and this machine has no Slurm client tools")
    }
    let binaries = (context.launcher as? LocalLauncher)?.binaries ?? executableDirectory()
    let script = (context.settings.repository as NSString).appendingPathComponent("cluster/slurm/worker.sbatch")
    let slurm = SlurmLauncher(binaries: binaries, workerScript: script, partition: partition)
    let slurmContext = context.with(launcher: slurm)
    return (slurmContext, try RunLocator(slurmContext).locate(given))
}

/// A number of seconds from the environment variable `name`, if set.
private func seconds(_ environment: [String: String], _ name: String) throws -> Double? {
    guard let text = environment[name], !text.isEmpty else { return nil }
    guard let value = Double(text), value > 0, value.isFinite else {
        throw ClusterCommandError.usage("\(name) must be a number of seconds > 0, got '\(text)'")
    }
    return value
}

/// The directory of this executable, where `backprop-server` and `backprop-worker` are built beside it.
func executableDirectory() -> String {
    let path = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    return ((path as NSString).deletingLastPathComponent as NSString).standardizingPath
}

/// The repository this executable was built in: the nearest directory above it with Package.swift and cluster/.
private func repository(above directory: String) -> String? {
    var candidate = directory
    while candidate != "/" && !candidate.isEmpty {
        let manager = FileManager.default
        if manager.fileExists(atPath: candidate + "/Package.swift") && manager.fileExists(atPath: candidate + "/cluster") { return candidate }
        candidate = (candidate as NSString).deletingLastPathComponent
    }
    return nil
}
