/// Starts a cluster's processes somewhere and keeps track of them: the seam between what `backprop cluster` does
/// and where the processes run.
///
/// `LocalLauncher` runs them as detached processes on this machine and records their pids in the run directory.
/// Another launcher (a batch scheduler submitting one job per process and asking the scheduler for their state)
/// implements the same calls. Every call is about one run directory, so a launcher holds no state a later
/// `backprop cluster` command would miss.
public protocol ClusterLauncher: AnyObject {
    /// What a launched process is called in messages: `pid` (or `job`).
    var handleName: String { get }

    /// Makes `run` ready to record processes in (`pids/` for local processes).
    func prepare(_ run: ClusterRun) throws

    /// Whether `run` holds this launcher's records (a cluster run, not just any run directory).
    func holdsRecords(_ run: ClusterRun) -> Bool

    /// Starts `member` with `arguments`, its console output (stdout and stderr) to `run`'s log of it (appended to
    /// when `appendingLog`), records it and returns its handle (a pid).
    @discardableResult
    func launch(_ member: ClusterMember, arguments: [String], in run: ClusterRun, appendingLog: Bool) throws -> String

    /// The handle recorded for `member`, if any.
    func handle(of member: ClusterMember, in run: ClusterRun) -> String?

    /// Whether the process recorded for `member` is running (and is still that member of this run).
    func isRunning(_ member: ClusterMember, in run: ClusterRun) -> Bool

    /// Sends `signal` to `member` if it is running; returns whether it was sent.
    @discardableResult
    func signal(_ member: ClusterMember, _ signal: Int32, in run: ClusterRun) -> Bool

    /// The address a worker it launches should connect to, given the server's TCP `endpoint`: a worker on the
    /// server's machine may use the server's Unix socket; one on another node needs TCP.
    func workerAddress(in run: ClusterRun, endpoint: String) -> String

    /// The workers recorded for `run`, by number, ascending.
    func recordedWorkers(in run: ClusterRun) -> [Int]

    /// How `member` exited (128 + the signal for a killed process), when this launcher saw it end.
    func exitStatus(of member: ClusterMember, in run: ClusterRun) -> Int32?

    /// The state of `member` in words, when the launcher knows more than running or exited (a scheduler's job
    /// state: `PENDING (Resources)`, `RUNNING on node3`); nil otherwise.
    func state(of member: ClusterMember, in run: ClusterRun) -> String?

    /// Lines `status` adds after the processes (what runs where beyond the members, where the scheduler's output is).
    func statusNotes(in run: ClusterRun) -> [String]
}

extension ClusterLauncher {
    public func state(of member: ClusterMember, in run: ClusterRun) -> String? { nil }

    public func statusNotes(in run: ClusterRun) -> [String] { [] }

    /// The recorded workers that are running.
    public func runningWorkers(in run: ClusterRun) -> [Int] {
        recordedWorkers(in: run).filter { isRunning(.worker($0), in: run) }
    }

    /// Whether the server or any worker of `run` is running.
    public func anythingRuns(in run: ClusterRun) -> Bool {
        isRunning(.server, in: run) || !runningWorkers(in: run).isEmpty
    }
}
