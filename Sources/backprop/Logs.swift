import ArgumentParser
import CommandSupport
import Foundation
import TrainingLog

struct Logs: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Summarise a run directory: config, history, workers, timeline and a verdict.",
        discussion: """
            Reads server.jsonl (or train.jsonl) and worker-<id>.jsonl of a finished, running or crashed run. \
            A torn last line is skipped and reported. With --follow, refreshes until the run ends and exits 0 \
            only if it finished. RUN_DIR may also be a name under runs/; without one, runs/current or the newest run is read.
            """
    )

    @Argument(help: ArgumentHelp("Run directories (several only with --plot, --csv or --json).", valueName: "RUN_DIR"))
    var runDirs: [String] = []

    @Flag(name: .shortAndLong, help: "Refresh live until the run ends; plain lines when standard output is not a terminal.")
    var follow = false

    @Option(parsing: .unconditional, help: "Seconds between refreshes with --follow.")
    var interval = 1.0

    @Option(help: ArgumentHelp("Print one table as CSV instead of the report: history, workers or steps.", valueName: "TABLE"))
    var csv: String?

    @Flag(help: "Print the report as JSON: config, history, workers, stragglers, timeline, rejected messages, verdict.")
    var json = false

    @Option(help: ArgumentHelp("Write loss, accuracy and samples/s curves of every run given to this SVG file.", valueName: "FILE.svg"))
    var plot: String?

    func validate() throws {
        if let csv, LogExport.Table(rawValue: csv) == nil {
            throw ValidationError("--csv takes history, workers or steps, not \(csv)")
        }
        if csv != nil && json { throw ValidationError("--csv and --json cannot be used together") }
        if follow && (csv != nil || json || plot != nil) { throw ValidationError("--follow cannot be combined with --csv, --json or --plot") }
        if follow && runDirs.count > 1 { throw ValidationError("--follow reads one run directory") }
        if runDirs.count > 1 && csv == nil && !json && plot == nil {
            throw ValidationError("several run directories need --plot, --csv or --json; give one to read its report")
        }
        guard interval > 0 && interval.isFinite else { throw ValidationError("--interval must be positive") }
    }

    func run() throws {
        try runReportingErrors {
            let directories = try runDirs.isEmpty ? [defaultRunDirectory()] : runDirs.map(resolve)
            if follow { return try followRun(directories[0]) }
            let readers = try directories.map(RunLogReader.read)
            let reports = readers.map { RunReport(reader: $0) }
            if let plot {
                let names = displayNames(directories)
                let svg = SVGPlot(runs: zip(names, readers).map { SVGPlot.Run(name: $0, log: $1.log) }).render()
                do {
                    try Data(svg.utf8).write(to: URL(fileURLWithPath: plot), options: .atomic)
                } catch {
                    throw LogsError("\(plot): cannot write the plot: \(error.localizedDescription)")
                }
                print("plot: \(plot) (\(reports.count) run\(reports.count == 1 ? "" : "s"))")
            }
            if let csv, let table = LogExport.Table(rawValue: csv) {
                print(LogExport.csv(table, reports), terminator: "")
            } else if json {
                print(try LogExport.json(reports), terminator: "")
            } else if plot == nil {
                print(reports[0].render(), terminator: "")
            }
        }
    }

    private func followRun(_ directory: String) throws {
        let follower = LogFollower(reader: try RunLogReader(directory: directory), interactive: isatty(STDOUT_FILENO) == 1)
        while true {
            let output = try follower.tick()
            if !output.isEmpty {
                print(output, terminator: "")
                fflush(nil)
            }
            if let verdict = follower.finished {
                if verdict.state != .finished { throw ExitCode.failure }
                return
            }
            Thread.sleep(forTimeInterval: interval)
        }
    }

    /// A path as given, or a run name under `runs/`.
    private func resolve(_ path: String) throws -> String {
        if FileManager.default.fileExists(atPath: path) { return path }
        let underRuns = "runs/" + path
        if !path.hasPrefix("/"), FileManager.default.fileExists(atPath: underRuns) { return underRuns }
        throw LogsError("\(path): no such run directory")
    }

    /// `runs/current` if it exists, else the most recently modified directory under `runs/`.
    private func defaultRunDirectory() throws -> String {
        let manager = FileManager.default
        if manager.fileExists(atPath: "runs/current") { return "runs/current" }
        let names = (try? manager.contentsOfDirectory(atPath: "runs")) ?? []
        let newest = names.compactMap { name -> (String, Date)? in
            let path = "runs/" + name
            guard let attributes = try? manager.attributesOfItem(atPath: path),
                  attributes[.type] as? FileAttributeType == .typeDirectory,
                  let date = attributes[.modificationDate] as? Date else { return nil }
            return (path, date)
        }.max { $0.1 < $1.1 }
        guard let newest else { throw ValidationError("no run directory given and none under runs/; pass RUN_DIR") }
        return newest.0
    }

    /// Each run's last path component, or the whole path where two would look the same.
    private func displayNames(_ directories: [String]) -> [String] {
        let short = directories.map { (($0 as NSString).standardizingPath as NSString).lastPathComponent }
        return zip(short, directories).map { name, path in short.filter { $0 == name }.count > 1 ? path : name }
    }
}

/// A problem with what `backprop logs` was asked to do, said in one line.
private struct LogsError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
