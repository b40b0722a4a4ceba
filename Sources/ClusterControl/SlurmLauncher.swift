import Foundation

/// Drives a run that `cluster/slurm/backprop.sbatch` started: the server (with the workers of its own job) is one
/// Slurm job, and each worker added later is a job of its own, submitted with `cluster/slurm/worker.sbatch`.
///
/// Everything it knows comes from the run directory and from Slurm: the batch script records the server's job in
/// `cluster.txt` (`launcher=slurm`, `slurm_job=`, `job_workers=`, `worker_keys=`), each worker job's id is kept in
/// `slurm/worker-<k>.job`, and whether a job runs, how it ended and where its output went are asked of `squeue`
/// and `scontrol`; jobs are ended with `scancel`.
public final class SlurmLauncher: ClusterLauncher {
    /// The directory holding `backprop-worker`, given to worker jobs as `BACKPROP_BIN`.
    public let binaries: String
    /// `cluster/slurm/worker.sbatch`.
    public let workerScript: String
    /// The partition worker jobs are submitted to (nil: the cluster's default), e.g. a spot or preemptible one.
    public var partition: String?
    let tools: SlurmTools
    private var cache: (time: Date, jobs: [String: SlurmJob])?

    public init(binaries: String, workerScript: String, partition: String? = nil, tools: SlurmTools = .system()) {
        self.binaries = binaries
        self.workerScript = workerScript
        self.partition = partition
        self.tools = tools
    }

    /// Whether `run` was started by the batch script (its `cluster.txt` says `launcher=slurm`).
    public static func records(_ run: ClusterRun) -> Bool { run.info("launcher") == "slurm" }

    public var handleName: String { "job" }

    public func prepare(_ run: ClusterRun) throws {
        do {
            try FileManager.default.createDirectory(atPath: run.file("slurm"), withIntermediateDirectories: true)
        } catch {
            throw ClusterCommandError.failure("cannot create \(run.file("slurm")): \(error.localizedDescription)")
        }
    }

    public func holdsRecords(_ run: ClusterRun) -> Bool { Self.records(run) }

    /// The server's job.
    public func serverJob(in run: ClusterRun) -> String? { run.info("slurm_job") }

    /// How many workers run as tasks of the server's job (worker-1 … worker-N).
    public func jobWorkers(in run: ClusterRun) -> Int { run.info("job_workers").flatMap { Int($0) } ?? 0 }

    /// How many worker keys the job made: worker numbers beyond it have no key.
    public func workerKeys(in run: ClusterRun) -> Int? { run.info("worker_keys").flatMap { Int($0) } }

    /// Submits worker `k` as a job of its own (the job reads the server's address from the run directory itself, so
    /// `arguments` are not used) and records its id.
    @discardableResult
    public func launch(_ member: ClusterMember, arguments: [String], in run: ClusterRun, appendingLog: Bool) throws -> String {
        guard case .worker(let k) = member else {
            throw ClusterCommandError.failure("the server runs in the job of cluster/slurm/backprop.sbatch; submit it with sbatch")
        }
        return try submitWorker(k, in: run)
    }

    /// Submits `worker.sbatch RUN k` and records the job; its output goes to `worker-<k>.log` in the run directory.
    @discardableResult
    public func submitWorker(_ k: Int, in run: ClusterRun) throws -> String {
        try prepare(run)
        var arguments = ["--parsable", "--job-name", "backprop-worker-\(k)", "--output", run.file(ClusterMember.worker(k).logName),
                         "--open-mode=append", "--chdir", run.directory]
        if let partition { arguments += ["--partition", partition] }
        arguments += [workerScript, run.directory, String(k)]
        let output = try tools.run("sbatch", arguments, ["BACKPROP_BIN": binaries])
        guard output.status == 0, let job = SlurmJob.parseSubmitted(output.standardOutput) else {
            throw ClusterCommandError.failure("sbatch refused worker-\(k): \(output.reason)")
        }
        do {
            try "\(job)\n".write(toFile: jobFile(k, run), atomically: true, encoding: .utf8)
        } catch {
            _ = try? tools.run("scancel", [job], [:])
            throw ClusterCommandError.failure("cannot record job \(job) in \(jobFile(k, run)): \(error.localizedDescription)")
        }
        cache = nil
        return job
    }

    public func handle(of member: ClusterMember, in run: ClusterRun) -> String? {
        switch member {
        case .server: return serverJob(in: run)
        case .worker(let k): return workerJob(k, in: run)
        }
    }

    /// Queued or running, as Slurm sees it: a pending job counts, since it will join when it starts.
    public func isRunning(_ member: ClusterMember, in run: ClusterRun) -> Bool {
        job(of: member, in: run)?.isActive ?? false
    }

    /// SIGTERM is Slurm's cancel (SIGCONT and SIGTERM to every process of the job, SIGKILL after its KillWait): a
    /// worker leaves cleanly, the server checkpoints the step it stopped at. Other signals go to every process of
    /// the job with `scancel --signal`.
    @discardableResult
    public func signal(_ member: ClusterMember, _ signal: Int32, in run: ClusterRun) -> Bool {
        guard isRunning(member, in: run), let job = handle(of: member, in: run) else { return false }
        let arguments = signal == SIGTERM ? [job] : ["--full", "--signal=\(signal)", job]
        cache = nil
        return (try? tools.run("scancel", arguments, [:]))?.status == 0
    }

    public func workerAddress(in run: ClusterRun, endpoint: String) -> String { endpoint }

    /// The worker jobs (the workers inside the server's job are not separate members).
    public func recordedWorkers(in run: ClusterRun) -> [Int] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: run.file("slurm"))) ?? []
        return names.compactMap { name -> Int? in
            guard name.hasSuffix(".job"), case .worker(let k)? = ClusterMember(name: String(name.dropLast(4))) else { return nil }
            return k
        }.sorted()
    }

    public func exitStatus(of member: ClusterMember, in run: ClusterRun) -> Int32? {
        guard let job = job(of: member, in: run), !job.isActive else { return nil }
        return job.exitCode
    }

    public func state(of member: ClusterMember, in run: ClusterRun) -> String? {
        guard let handle = handle(of: member, in: run) else { return nil }
        return job(of: member, in: run)?.text ?? "not known to Slurm (job \(handle) is gone from its records)"
    }

    public func statusNotes(in run: ClusterRun) -> [String] {
        var notes: [String] = []
        let workers = jobWorkers(in: run)
        if let server = serverJob(in: run), workers > 0 {
            notes.append("  worker-1..worker-\(workers) run as tasks 1-\(workers) of the server's job \(server)")
        }
        if let server = serverJob(in: run), let output = details(server)?.output {
            notes.append("  the job's own output: \(output)")
        }
        return notes
    }

    /// The job of `member` as Slurm describes it now: `squeue` for every job of the run at once, `scontrol show
    /// job` for one that squeue no longer lists.
    public func job(of member: ClusterMember, in run: ClusterRun) -> SlurmJob? {
        guard let id = handle(of: member, in: run) else { return nil }
        let jobs = queue(run)
        if let job = jobs[id] {
            if job.isActive { return job }
            // A finished job: scontrol knows its exit code.
            return details(id) ?? job
        }
        return details(id)
    }

    /// `scontrol show job ID`, if Slurm still knows the job.
    public func details(_ id: String) -> SlurmJob? {
        guard let output = try? tools.run("scontrol", ["show", "job", id], [:]), output.status == 0 else { return nil }
        return SlurmJob.parseShow(output.standardOutput)
    }

    /// The run's jobs in `squeue`, asked at most every half second.
    private func queue(_ run: ClusterRun) -> [String: SlurmJob] {
        if let cache, Date().timeIntervalSince(cache.time) < 0.5 { return cache.jobs }
        let ids = ([serverJob(in: run)] + recordedWorkers(in: run).map { workerJob($0, in: run) }).compactMap { $0 }
        guard !ids.isEmpty else { return [:] }
        let output = try? tools.run("squeue", ["-h", "-t", "all", "-o", "%i|%T|%r|%N", "-j", ids.joined(separator: ",")], [:])
        let jobs = output.map { SlurmJob.parseQueue($0.standardOutput) } ?? [:]
        cache = (Date(), jobs)
        return jobs
    }

    private func jobFile(_ k: Int, _ run: ClusterRun) -> String { run.file("slurm/worker-\(k).job") }

    private func workerJob(_ k: Int, in run: ClusterRun) -> String? {
        guard let text = try? String(contentsOfFile: jobFile(k, run), encoding: .utf8) else { return nil }
        let id = text.trimmingCharacters(in: .whitespacesAndNewlines)
        return id.isEmpty ? nil : id
    }
}
