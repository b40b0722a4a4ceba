import Foundation
import Training
import XCTest

/// cluster/slurm/ and `backprop cluster` on a real one-node Slurm (Debian's slurm-wlm and munge, installed when
/// missing): a batch job trains exactly like `backprop train`, worker jobs join and leave it, a preempted and
/// requeued job resumes exactly, and bad input gets one clear line and the right exit code.
final class SlurmTests: XCTestCase {
    private var root = ""

    override class func tearDown() {
        LocalSlurm.stopShared()
        super.tearDown()
    }

    override func setUpWithError() throws {
        try XCTSkipUnless(getuid() == 0, "the Slurm tests need root: they install slurm-wlm and munge and start munged, slurmctld and slurmd")
        root = NSTemporaryDirectory() + "backprop-slurm-test-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: root)
    }

    private var batchScript: String { repository.appendingPathComponent("cluster/slurm/backprop.sbatch").path }
    private var workerScript: String { repository.appendingPathComponent("cluster/slurm/worker.sbatch").path }

    private func slurm() throws -> LocalSlurm { try LocalSlurm.shared(repository: repository) }

    /// `backprop ARGUMENTS` against the test's Slurm.
    private func backprop(_ arguments: [String], _ slurm: LocalSlurm, environment: [String: String] = [:]) throws -> CommandResult {
        let program = try XCTUnwrap(executable("backprop")).path
        return try runCommand(program, arguments, environment: slurm.environment.merging(environment) { $1 }, directory: root)
    }

    /// Cancels `jobs` that are still active when a test ends early, so none outlives it.
    private func cancelAtTeardown(_ slurm: LocalSlurm, _ jobs: @escaping () -> [String]) {
        addTeardownBlock {
            let ids = jobs()
            if !ids.isEmpty { _ = try? slurm.tool("scancel", ids) }
        }
    }

    /// The run's server events.
    private func serverLog(_ run: String) -> String { run + "/server.jsonl" }

    private func count(_ event: String, in run: String) -> Int {
        readEvents(serverLog(run)).filter { $0["event"] as? String == event }.count
    }

    // MARK: - The batch job

    func testBatchJobTrainsLikeBackpropTrain() throws {
        let slurm = try slurm()
        let small = SmallRun()
        let start = Date()
        let job = try slurm.submit(["-N", "1", "-n", "3", "-O", batchScript] + small.flags, from: root)
        cancelAtTeardown(slurm) { [job] in [job] }
        let end = try XCTUnwrap(slurm.waitForEnd(job), "job \(job) did not end")
        let run = root + "/runs/slurm-\(job)"
        let output = (try? String(contentsOfFile: root + "/slurm-\(job).out", encoding: .utf8)) ?? ""
        XCTAssertEqual(end["JobState"], "COMPLETED", output + ((try? String(contentsOfFile: run + "/server.log", encoding: .utf8)) ?? ""))
        XCTAssertEqual(end["ExitCode"], "0:0")
        XCTAssertTrue(output.contains("training finished"), output)
        print("slurm: batch job \(job) trained in \(String(format: "%.1f", Date().timeIntervalSince(start))) s")

        // One server and two workers, over CurveZMQ on the node's address, with the job's own keys.
        XCTAssertEqual(count("worker_joined", in: run), 2)
        let keys = run + "/keys"
        for name in ["server.key", "worker-1.key", "worker-2.key"] {
            let mode = try XCTUnwrap(FileManager.default.attributesOfItem(atPath: keys + "/" + name)[.posixPermissions] as? Int)
            XCTAssertEqual(mode & 0o777, 0o600, name)
        }
        let serverLog = try String(contentsOfFile: run + "/server.log", encoding: .utf8)
        XCTAssertTrue(serverLog.contains("CurveZMQ"), serverLog)
        XCTAssertTrue(serverLog.contains("tcp://127.0.0.1:"), serverLog)
        let checkpoint = try XCTUnwrap(FileManager.default.contents(atPath: run + "/checkpoint.safetensors"))
        XCTAssertEqual(checkpoint, try referenceCheckpoint(small.config), "the Slurm run's weights differ from backprop train's")

        // status and logs read Slurm's state.
        let status = try backprop(["cluster", "status", run], slurm)
        XCTAssertEqual(status.status, 0, status.output)
        XCTAssertTrue(status.output.contains("server     job \(job)"), status.output)
        XCTAssertTrue(status.output.contains("COMPLETED"), status.output)
        XCTAssertTrue(status.output.contains("worker-1..worker-2 run as tasks 1-2 of the server's job \(job)"), status.output)
        XCTAssertTrue(status.output.contains("state:    finished"), status.output)
        let logs = try backprop(["cluster", "logs", run], slurm)
        XCTAssertEqual(logs.status, 0, logs.output)
        XCTAssertTrue(logs.output.contains("slurm: the server's job \(job): COMPLETED"), logs.output)
        XCTAssertTrue(logs.output.contains("worker-1.log worker-2.log"), logs.output)
    }

    // MARK: - Worker jobs

    func testWorkerJobsJoinAndACancelledOneLeaves() throws {
        let slurm = try slurm()
        var small = SmallRun()
        small.trainLimit = 2_000
        small.epochs = 12
        let run = root + "/run"
        // The server waits for three workers: its job's own and the two worker jobs that scale submits.
        let job = try slurm.submit(["-N", "1", "-n", "2", "-O", batchScript, "--run-dir", run, "--workers-min", "3"] + small.flags,
                                   from: root)
        var jobs = [job]
        cancelAtTeardown(slurm) { jobs }
        XCTAssertTrue(waitForEvent(in: serverLog(run)) { $0["event"] as? String == "waiting_for_workers" }, "the server did not start")

        let scaled = try backprop(["cluster", "scale", "3", "--partition", "spot", run], slurm)
        XCTAssertEqual(scaled.status, 0, scaled.output)
        XCTAssertTrue(scaled.output.contains("submitted worker-2 (job "), scaled.output)
        XCTAssertTrue(scaled.output.contains("to partition spot"), scaled.output)
        let worker2 = try XCTUnwrap(try? String(contentsOfFile: run + "/slurm/worker-2.job", encoding: .utf8)).trimmingCharacters(in: .whitespacesAndNewlines)
        let worker3 = try XCTUnwrap(try? String(contentsOfFile: run + "/slurm/worker-3.job", encoding: .utf8)).trimmingCharacters(in: .whitespacesAndNewlines)
        jobs += [worker2, worker3]
        XCTAssertEqual(slurm.job(worker3)["Partition"], "spot")

        // Scaling again to the same number changes nothing.
        let again = try backprop(["cluster", "scale", "3", run], slurm)
        XCTAssertTrue(again.output.contains("nothing to change"), again.output)

        XCTAssertTrue(waitForEvent(in: serverLog(run)) { $0["event"] as? String == "step" && ($0["workers"] as? Int) == 3 },
                      "the worker jobs did not join")
        // Cancel a worker job mid-run: the worker leaves cleanly and the run goes on.
        let cancelled = try slurm.tool("scancel", [worker3])
        XCTAssertEqual(cancelled.status, 0, cancelled.output)
        XCTAssertTrue(waitForEvent(in: serverLog(run)) { $0["event"] as? String == "worker_left" }, "the cancelled worker did not leave")
        let stepsBefore = count("step", in: run)
        XCTAssertNotNil(slurm.waitForEnd(worker3, timeout: 60))
        let status = try backprop(["cluster", "status", run], slurm)
        XCTAssertTrue(status.output.contains("worker-3   job \(worker3)"), status.output)
        XCTAssertTrue(status.output.contains("CANCELLED"), status.output)

        // The run finishes after the cancel and ends as backprop train does.
        let end = try XCTUnwrap(slurm.waitForEnd(job, timeout: 300), "the server's job did not end")
        XCTAssertEqual(end["JobState"], "COMPLETED")
        XCTAssertGreaterThan(count("step", in: run), stepsBefore, "the cancel came after training had ended")
        let checkpoint = try XCTUnwrap(FileManager.default.contents(atPath: run + "/checkpoint.safetensors"))
        XCTAssertEqual(checkpoint, try referenceCheckpoint(small.config), "the weights differ from backprop train's")
        let worker2End = try XCTUnwrap(slurm.waitForEnd(worker2, timeout: 60))
        XCTAssertEqual(worker2End["ExitCode"], "0:0")

        // A worker job for a run that has ended says so and exits 0; scale refuses.
        let late = try slurm.submit(["--output", root + "/late.out", workerScript, run, "4"], from: root)
        jobs.append(late)
        let lateEnd = try XCTUnwrap(slurm.waitForEnd(late, timeout: 60))
        let lateOutput = try String(contentsOfFile: root + "/late.out", encoding: .utf8)
        XCTAssertEqual(lateEnd["ExitCode"], "0:0", lateOutput)
        XCTAssertTrue(lateOutput.contains("the run in \(run) has ended (training finished)"), lateOutput)
        let scaleEnded = try backprop(["cluster", "scale", "4", run], slurm)
        XCTAssertEqual(scaleEnded.status, 1)
        XCTAssertTrue(scaleEnded.output.contains("has finished; there is nothing to scale"), scaleEnded.output)
    }

    // MARK: - Preemption

    /// With Keras fit's options on, so that the requeued job resumes their state (the schedule's place, the
    /// plateau's and early stopping's counts, the best weights) from the checkpoint and best.safetensors, and ends on
    /// `backprop train`'s bits for the same flags.
    func testPreemptedJobIsRequeuedAndResumesExactly() throws {
        let slurm = try slurm()
        var small = SmallRun()
        small.trainLimit = 2_000
        small.epochs = 8
        // With these, the run improves until epoch 5, halves its rate after epochs 6 and 7 and stops early after 7
        // with epoch 5's weights, all after the requeue (which comes after epoch 2).
        let fit = ["--lr-schedule", "cosine", "--warmup-epochs", "1", "--reduce-lr-on-plateau", "0.5", "--plateau-patience", "1",
                   "--early-stopping", "2", "--min-delta", "0.01", "--restore-best-weights", "--clip-norm", "1",
                   "--weight-decay", "0.01", "--label-smoothing", "0.05"]
        let run = root + "/run"
        // A flag without a value just before the script's own flags: neither may take the other's place.
        let job = try slurm.submit(["-N", "1", "-n", "2", "-O", batchScript, "--save-best", "--run-dir", run, "--workers-min", "2"]
                                   + small.flags + fit, from: root)
        var jobs = [job]
        cancelAtTeardown(slurm) { jobs }
        XCTAssertTrue(waitForEvent(in: serverLog(run)) { $0["event"] as? String == "waiting_for_workers" }, "the server did not start")
        let scaled = try backprop(["cluster", "scale", "2", run], slurm)
        XCTAssertEqual(scaled.status, 0, scaled.output)
        let worker = try XCTUnwrap(try? String(contentsOfFile: run + "/slurm/worker-2.job", encoding: .utf8)).trimmingCharacters(in: .whitespacesAndNewlines)
        jobs.append(worker)
        // Two epochs in, so that the checkpoint carries the epoch decisions and best.safetensors exists.
        XCTAssertTrue(waitForEvent(in: serverLog(run)) { $0["event"] as? String == "epoch" && ($0["epoch"] as? Int ?? 0) >= 2 },
                      "training did not finish epoch 2")
        XCTAssertTrue(FileManager.default.fileExists(atPath: run + "/best.safetensors"))

        // Preempt: Slurm sends SIGTERM to the job's processes and puts it back in the queue.
        let start = Date()
        let elapsed = { String(format: "%.1f s", Date().timeIntervalSince(start)) }
        let requeued = try slurm.tool("scontrol", ["requeue", job])
        XCTAssertEqual(requeued.status, 0, requeued.output)
        XCTAssertTrue(waitForEvent(in: serverLog(run)) {
            $0["event"] as? String == "failed" && ($0["reason"] as? String ?? "").hasPrefix("stopped by a signal")
        }, "the server did not stop as asked")
        // Pending in squeue: requeued, and every process of the first run has ended.
        XCTAssertTrue(waitUntil(timeout: 60) { slurm.queueState(job) == "PENDING" }, "the job was not requeued")
        print("slurm: requeued job \(job) pending after \(elapsed())")
        XCTAssertTrue(FileManager.default.fileExists(atPath: run + "/checkpoint.safetensors"))
        // Slurm holds a requeued job for about two minutes (its BeginTime); let it start in two seconds. Not at once:
        // slurmd refuses ("Job credential revoked") a launch whose credential is from the same second as the revocation.
        XCTAssertEqual(try slurm.tool("scontrol", ["update", "JobId=\(job)", "StartTime=now+2"]).status, 0)

        XCTAssertTrue(waitUntil(timeout: 60) { slurm.queueState(job) == "RUNNING" }, "the requeued job did not start")
        print("slurm: requeued job \(job) running again after \(elapsed())")
        XCTAssertTrue(waitForEvent(in: serverLog(run)) { _ in self.count("run_started", in: run) == 2 && self.count("step", in: run) > 0 })
        print("slurm: resumed server of job \(job) trains after \(elapsed())")
        let end = try XCTUnwrap(slurm.waitForEnd(job, timeout: 300), "the requeued job did not end")
        print("slurm: requeued job \(job) ended after \(elapsed())")
        let output = (try? String(contentsOfFile: root + "/slurm-\(job).out", encoding: .utf8)) ?? ""
        XCTAssertEqual(end["JobState"], "COMPLETED", output)
        XCTAssertEqual(end["Restarts"], "1")
        XCTAssertTrue(output.contains("job \(job) restart 1: resuming \(run)"), output)
        XCTAssertEqual(count("run_started", in: run), 2, "the requeued job did not resume the run")
        // The worker job outlived the server's requeue: it joined the resumed server.
        let workerLog = try String(contentsOfFile: run + "/worker-2.log", encoding: .utf8)
        XCTAssertTrue(workerLog.contains("waiting for its job \(job) to run again"), workerLog)
        XCTAssertEqual(workerLog.components(separatedBy: "joining tcp://").count - 1, 2, workerLog)
        // The requeued job got only --resume: the fit options came back from config.json.
        let config = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: run + "/config.json"))) as? [String: Any])
        XCTAssertEqual(config["lr_schedule"] as? String, "cosine")
        XCTAssertEqual(config["restore_best_weights"] as? Bool, true)
        XCTAssertEqual(config["save_best"] as? Bool, true)
        let decisions = ["best_weights", "learning_rate_reduced", "stopped_early"].map { "\($0) \(count($0, in: run))" }
        print("slurm: requeued job \(job): \(decisions.joined(separator: ", "))")
        let events = readEvents(serverLog(run))
        let resumed = try XCTUnwrap(events.lastIndex { $0["event"] as? String == "run_started" })
        XCTAssertTrue(events[resumed...].contains { $0["event"] as? String == "stopped_early" },
                      "the resumed run did not stop early: the test no longer covers the decisions' state across a requeue")

        // backprop train with the same flags, undisturbed, in one process: the same final and best weights.
        let reference = root + "/reference"
        let program = try XCTUnwrap(executable("backprop")).path
        let trained = try runCommand(program, ["train"] + small.flags + fit + ["--save-best", "--run-dir", reference, "--quiet"], timeout: 300)
        XCTAssertEqual(trained.status, 0, trained.output)
        print("slurm: backprop train's reference done after \(elapsed())")
        for name in ["checkpoint.safetensors", "best.safetensors"] {
            let ours = try XCTUnwrap(FileManager.default.contents(atPath: run + "/" + name), name)
            XCTAssertEqual(ours, FileManager.default.contents(atPath: reference + "/" + name), "the resumed run's \(name) differs from backprop train's")
        }
        XCTAssertEqual(slurm.waitForEnd(worker, timeout: 60)?["ExitCode"], "0:0")
    }

    func testTimeLimitWarningRequeuesTheJobItself() throws {
        let slurm = try slurm()
        var small = SmallRun()
        small.trainLimit = 2_000
        small.epochs = 6
        let run = root + "/run"
        let job = try slurm.submit(["-N", "1", "-n", "3", "-O", batchScript, "--run-dir", run] + small.flags, from: root)
        cancelAtTeardown(slurm) { [job] in [job] }
        XCTAssertTrue(waitForEvent(in: serverLog(run)) { $0["event"] as? String == "step" && ($0["global_step"] as? Int ?? 0) >= 30 },
                      "training did not reach step 30")
        // What --signal=TERM@60 does before a time limit: SIGTERM to the job's steps, not to the batch script.
        XCTAssertEqual(try slurm.tool("scancel", ["--signal=TERM", job]).status, 0)
        XCTAssertTrue(waitUntil(timeout: 60) { slurm.queueState(job) == "PENDING" }, "the job did not requeue itself")
        let output = { (try? String(contentsOfFile: self.root + "/slurm-\(job).out", encoding: .utf8)) ?? "" }
        XCTAssertTrue(output().contains("the server stopped at a checkpoint before the time limit; requeueing job \(job) to continue"), output())
        XCTAssertEqual(try slurm.tool("scontrol", ["update", "JobId=\(job)", "StartTime=now+2"]).status, 0)
        let end = try XCTUnwrap(slurm.waitForEnd(job, timeout: 300), "the requeued job did not end")
        XCTAssertEqual(end["JobState"], "COMPLETED", output())
        XCTAssertEqual(end["Restarts"], "1")
        let checkpoint = try XCTUnwrap(FileManager.default.contents(atPath: run + "/checkpoint.safetensors"))
        XCTAssertEqual(checkpoint, try referenceCheckpoint(small.config), "the resumed run's weights differ from backprop train's")
    }

    // MARK: - Stopping

    func testStopCancelsTheWorkerJobsThenTheServersJob() throws {
        let slurm = try slurm()
        var small = SmallRun()
        small.trainLimit = 2_000
        small.epochs = 200
        let run = root + "/run"
        let job = try slurm.submit(["-N", "1", "-n", "2", "-O", batchScript, "--run-dir", run] + small.flags, from: root)
        var jobs = [job]
        cancelAtTeardown(slurm) { jobs }
        XCTAssertTrue(waitForEvent(in: serverLog(run)) { $0["event"] as? String == "step" }, "training did not start")
        XCTAssertEqual(try backprop(["cluster", "scale", "2", run], slurm).status, 0)
        let worker = try XCTUnwrap(try? String(contentsOfFile: run + "/slurm/worker-2.job", encoding: .utf8)).trimmingCharacters(in: .whitespacesAndNewlines)
        jobs.append(worker)
        XCTAssertTrue(waitForEvent(in: serverLog(run)) { $0["event"] as? String == "step" && ($0["workers"] as? Int) == 2 },
                      "the worker job did not join")

        let stopped = try backprop(["cluster", "stop", run], slurm)
        XCTAssertEqual(stopped.status, 0, stopped.output)
        XCTAssertTrue(stopped.output.contains("cluster: stopping worker-2 server in run\n"), stopped.output)
        XCTAssertTrue(stopped.output.contains("cluster: worker-2 (job \(worker)): stopped"), stopped.output)
        XCTAssertTrue(stopped.output.contains("cluster: server (job \(job)): stopped"), stopped.output)
        XCTAssertEqual(slurm.state(job), "CANCELLED", "a stopped job is cancelled, not requeued")
        XCTAssertEqual(slurm.job(job)["Restarts"], "0")
        XCTAssertTrue(waitForEvent(in: serverLog(run)) {
            $0["event"] as? String == "failed" && ($0["reason"] as? String ?? "").hasPrefix("stopped by a signal")
        }, "the server did not stop at a checkpoint")
        let status = try backprop(["cluster", "status", run], slurm)
        XCTAssertTrue(status.output.contains("state:    stopped by a signal"), status.output)
        let waited = try backprop(["cluster", "wait", run], slurm)
        XCTAssertEqual(waited.status, 1, waited.output)
        XCTAssertTrue(waited.output.contains("training did not finish"), waited.output)
    }

    // MARK: - Bad input

    func testAJobWithOneTaskHasNoRoomForAWorker() throws {
        let slurm = try slurm()
        let job = try slurm.submit(["-n", "1", batchScript], from: root)
        cancelAtTeardown(slurm) { [job] in [job] }
        let end = try XCTUnwrap(slurm.waitForEnd(job, timeout: 60))
        let output = try String(contentsOfFile: root + "/slurm-\(job).out", encoding: .utf8)
        XCTAssertEqual(end["ExitCode"], "2:0", output)
        XCTAssertEqual(output, "backprop.sbatch: the job has 1 task(s): no room for a worker; submit with -n 2 or more (task 0 is the server, the others workers)\n")
        XCTAssertFalse(FileManager.default.fileExists(atPath: root + "/runs"), "a refused job made a run directory")
    }

    func testUnusableKeysStopTheJobWithOneLine() throws {
        let slurm = try slurm()
        let program = try XCTUnwrap(executable("backprop")).path

        // Keys that group and others may read: refused before anything starts.
        let open = root + "/open"
        XCTAssertEqual(try runCommand(program, ["keys", "generate", open + "/keys", "--workers", "2"]).status, 0)
        chmod(open + "/keys/server.key", 0o644)
        let refused = try slurm.submit(["-n", "3", "-O", batchScript, "--run-dir", open], from: root)
        cancelAtTeardown(slurm) { [refused] in [refused] }
        let refusedEnd = try XCTUnwrap(slurm.waitForEnd(refused, timeout: 60))
        let refusedOutput = try String(contentsOfFile: root + "/slurm-\(refused).out", encoding: .utf8)
        XCTAssertEqual(refusedEnd["ExitCode"], "1:0", refusedOutput)
        XCTAssertEqual(refusedOutput, "backprop.sbatch: cannot use the keys in \(open)/keys: server.key is readable by group or others (mode 644); chmod 600 it\n")

        // A key file that is not a key: the server says why, and its workers leave at once instead of waiting for it.
        let garbled = root + "/garbled"
        XCTAssertEqual(try runCommand(program, ["keys", "generate", garbled + "/keys", "--workers", "2"]).status, 0)
        try "not a key\n".write(toFile: garbled + "/keys/server.key", atomically: false, encoding: .utf8)
        let failed = try slurm.submit(["-n", "3", "-O", batchScript, "--run-dir", garbled], from: root)
        cancelAtTeardown(slurm) { [failed] in [failed] }
        let failedEnd = try XCTUnwrap(slurm.waitForEnd(failed, timeout: 60))
        let failedOutput = try String(contentsOfFile: root + "/slurm-\(failed).out", encoding: .utf8)
        XCTAssertEqual(failedEnd["ExitCode"], "1:0", failedOutput)
        XCTAssertTrue(failedOutput.contains("backprop.sbatch: the server did not finish"), failedOutput)
        XCTAssertTrue(failedOutput.contains("server.key"), failedOutput)
        let seconds = try XCTUnwrap(Int(failedEnd["RunTime"]?.split(separator: ":").last ?? ""))
        XCTAssertLessThan(seconds, 20, "the workers waited for a server that had failed")
    }

    func testScriptOutsideSlurmAndUnresolvableNodes() throws {
        let slurm = try slurm()
        let binaries = try XCTUnwrap(slurm.environment["BACKPROP_BIN"])
        let base = ["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin", "HOME": root,
                    "SLURM_CONF": try XCTUnwrap(slurm.environment["SLURM_CONF"]), "BACKPROP_BIN": binaries]

        // No srun: not a Slurm machine.
        let noSrun = try runCommand("/bin/bash", [batchScript], environment: ["PATH": "/nonexistent"], replacing: true)
        XCTAssertEqual(noSrun.status, 1, noSrun.output)
        XCTAssertEqual(noSrun.output, "backprop.sbatch: srun not found: this is not a Slurm machine (submit with sbatch on a Slurm cluster; on one machine use scripts/cluster)\n")

        // Run by hand on a Slurm machine, outside a job.
        let outside = try runCommand("/bin/bash", [batchScript, "--epochs", "1"], environment: base, replacing: true, directory: root)
        XCTAssertEqual(outside.status, 2, outside.output)
        XCTAssertTrue(outside.output.hasPrefix("backprop.sbatch: not inside a Slurm job: submit it with sbatch"), outside.output)

        // A node list whose first node does not resolve.
        var job = base
        job["SLURM_JOB_ID"] = "900001"
        job["SLURM_NTASKS"] = "3"
        job["SLURM_JOB_NODELIST"] = "no-such-node-bp[1-2]"
        job["SLURM_SUBMIT_DIR"] = root
        let unresolved = try runCommand("/bin/bash", [batchScript], environment: job, replacing: true, directory: root)
        XCTAssertEqual(unresolved.status, 1, unresolved.output)
        XCTAssertEqual(unresolved.output, "backprop.sbatch: cannot resolve the server's node 'no-such-node-bp1' (first of SLURM_JOB_NODELIST=no-such-node-bp[1-2]) to an IPv4 address; give one with --host ADDRESS\n")
        XCTAssertFalse(FileManager.default.fileExists(atPath: root + "/runs"), "a refused job made a run directory")

        // A multi-node job whose first node is a loopback address to itself: the other nodes could not reach it.
        job["SLURM_JOB_NODELIST"] = "localhost,node-b"
        let loopback = try runCommand("/bin/bash", [batchScript], environment: job, replacing: true, directory: root)
        XCTAssertEqual(loopback.status, 1, loopback.output)
        XCTAssertEqual(loopback.output, "backprop.sbatch: the server's node 'localhost' resolves to 127.0.0.1, a loopback address the other 1 node(s) cannot reach; give its network address with --host ADDRESS\n")

        // backprop cluster on a Slurm run, without Slurm's tools.
        let run = root + "/slurm-run"
        try FileManager.default.createDirectory(atPath: run, withIntermediateDirectories: true)
        try "launcher=slurm\nslurm_job=900001\njob_workers=1\n".write(toFile: run + "/cluster.txt", atomically: true, encoding: .utf8)
        let program = try XCTUnwrap(executable("backprop")).path
        let noTools = try runCommand(program, ["cluster", "status", run], environment: ["PATH": "/nonexistent"], replacing: true)
        XCTAssertEqual(noTools.status, 1, noTools.output)
        XCTAssertEqual(noTools.output, "cluster: error: squeue not found on PATH: \(run) is a run on Slurm, and this machine has no Slurm client tools\n")

        // A worker job for a run that has ended: it says so and exits 0.
        try "{}\n".write(toFile: run + "/summary.json", atomically: true, encoding: .utf8)
        try FileManager.default.createDirectory(atPath: run + "/keys", withIntermediateDirectories: true)
        let late = try runCommand("/bin/bash", [workerScript, run, "1"], environment: base, replacing: true)
        XCTAssertEqual(late.status, 0, late.output)
        XCTAssertTrue(late.output.contains("worker.sbatch: the run in \(run) has ended (training finished); worker-1 has nothing to do"), late.output)
        // A worker number the job made no key for.
        try FileManager.default.removeItem(atPath: run + "/summary.json")
        let keyless = try runCommand("/bin/bash", [workerScript, run, "7"], environment: base, replacing: true)
        XCTAssertEqual(keyless.status, 1, keyless.output)
        XCTAssertTrue(keyless.output.contains("no key for worker-7 in \(run)/keys"), keyless.output)
    }
}
