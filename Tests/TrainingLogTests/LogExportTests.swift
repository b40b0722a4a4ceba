import Foundation
import TrainingLog
import XCTest

final class LogExportTests: XCTestCase {
    private func reference() throws -> RunReport {
        let run = try RunDirectoryFixture(self)
        try ReferenceRun.write(run)
        run.close()
        return try report(run.path)
    }

    /// CSV rows split into cells (the fixture's cells hold no commas or quotes).
    private func cells(_ csv: String) -> [[String]] {
        lines(of: csv).map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
    }

    func testHistoryCSVHasTheColumnsOfHistoryCSV() throws {
        XCTAssertEqual(LogExport.csv(.history, [try reference()]), """
            epoch,loss,accuracy,val_loss,val_accuracy,seconds,samples_per_second,learning_rate
            1,0.7,0.5,0.65,0.6,4.0,144.0,
            2,0.5,0.75,0.45,0.8,4.5,128.0,
            3,0.35,0.875,0.4,0.85,62.0,9.25,

            """, "logs without learning rates leave the column empty")
    }

    private func earlyStopped() throws -> RunReport {
        let run = try RunDirectoryFixture(self, kind: .single)
        EarlyStoppedRun.write(run)
        return try report(run.path)
    }

    func testHistoryCSVHasTheLearningRate() throws {
        XCTAssertEqual(LogExport.csv(.history, [try earlyStopped()]), """
            epoch,loss,accuracy,val_loss,val_accuracy,seconds,samples_per_second,learning_rate
            1,0.7,0.5,0.65,0.6,4.0,144.0,0.001
            2,0.5,0.75,0.45,0.8,4.5,128.0,0.0008
            3,0.35,0.875,0.5,0.75,4.0,144.0,0.0006

            """)
    }

    func testJSONHoldsTheLearningRateAndTheDecisions() throws {
        let report = try earlyStopped()
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(try LogExport.json([report]).utf8)) as? [String: Any])
        let history = try XCTUnwrap(object["history"] as? [[String: Any]])
        XCTAssertEqual(history.map { $0["learning_rate"] as? Double }, [0.001, 0.0008, 0.0006])
        let reductions = try XCTUnwrap(object["learning_rate_reductions"] as? [[String: Any]])
        XCTAssertEqual(reductions.map { $0["epoch"] as? Int }, [3])
        XCTAssertEqual(reductions.first?["from"] as? Double, 0.0006)
        XCTAssertEqual(reductions.first?["to"] as? Double, 0.0003)
        let best = try XCTUnwrap(object["best_weights"] as? [String: Any])
        XCTAssertEqual(best["epoch"] as? Int, 2)
        XCTAssertEqual(best["monitor"] as? String, "val_loss")
        XCTAssertEqual(best["value"] as? Double, 0.45)
        XCTAssertEqual(best["path"] as? String, (report.directory as NSString).appendingPathComponent("best.safetensors"))
        let stop = try XCTUnwrap(object["stopped_early"] as? [String: Any])
        XCTAssertEqual(stop["epoch"] as? Int, 3)
        XCTAssertEqual(stop["reason"] as? String, EarlyStoppedRun.reason)
        XCTAssertEqual((object["best_restored"] as? [String: Any])?["epoch"] as? Int, 2)
        let timeline = try XCTUnwrap(object["timeline"] as? [[String: Any]])
        XCTAssertEqual(timeline.filter { $0["event"] as? String == "best_weights" }.count, 2, "every improvement")
        XCTAssertEqual(timeline.filter { $0["event"] as? String == "stopped_early" }.map { $0["text"] as? String }, [EarlyStoppedRun.reason])
        let verdict = try XCTUnwrap(object["verdict"] as? [String: Any])
        XCTAssertTrue((verdict["text"] as? String ?? "").hasSuffix("; " + EarlyStoppedRun.reason))
    }

    func testWorkerCSV() throws {
        let rows = cells(LogExport.csv(.workers, [try reference()]))
        XCTAssertEqual(rows[0], LogExport.workerColumns)
        XCTAssertEqual(rows.count, 4)
        func column(_ name: String) throws -> [String] {
            let index = try XCTUnwrap(rows[0].firstIndex(of: name), name)
            return rows.dropFirst().map { $0[index] }
        }
        XCTAssertEqual(try column("worker"), ["1", "2", "3"])
        XCTAssertEqual(try column("name"), ["alpha", "beta", "gamma"])
        XCTAssertEqual(try column("pid"), ["101", "102", "103"])
        XCTAssertEqual(try column("state"), ["left", "timed out", "left"])
        XCTAssertEqual(try column("state_detail"), ["finished", "6.0s silent", "finished"])
        XCTAssertEqual(try column("steps"), ["13", "5", "6"])
        XCTAssertEqual(try column("microbatches"), ["26", "10", "12"])
        XCTAssertEqual(try column("samples"), ["208", "80", "96"])
        XCTAssertEqual(try column("bytes_sent"), ["597896", "229960", "275952"])
        XCTAssertEqual(try column("bytes_received"), ["299260", "115100", "138120"])
        XCTAssertEqual(try column("reassigned_microbatches"), ["0", "2", "0"])
        XCTAssertEqual(try column("rejected_messages"), ["0", "2", "0"])
        XCTAssertEqual(try column("last_seen"), ["1700000023.5", "1700000016.5", "1700000023.6"])
        let numbers: [(String, [Double])] = [
            ("compute_p50_seconds", [0.016, 0.016, 0.064]), ("compute_p95_seconds", [0.0288, 0.016, 0.064]),
            ("compute_seconds_per_sample", [0.002, 0.002, 0.008]), ("compute_seconds", [0.48, 0.16, 0.768]),
            ("wait_seconds", [6.5, 2.5, 1.5]),
        ]
        for (name, expected) in numbers {
            let values = try column(name).map { try XCTUnwrap(Double($0), "\(name): \($0)") }
            for (value, want) in zip(values, expected) { XCTAssertEqual(value, want, accuracy: 1e-12, name) }
        }
    }

    func testStepCSV() throws {
        let rows = cells(LogExport.csv(.steps, [try reference()]))
        XCTAssertEqual(rows[0], ["epoch", "step", "steps_per_epoch", "global_step", "time", "loss", "accuracy", "samples", "step_seconds", "workers"])
        XCTAssertEqual(rows.count, 13)
        XCTAssertEqual(rows[1], ["1", "1", "4", "1", "1700000011.0", "0.9375", "0.40625", "32", "0.875", "2"])
        XCTAssertEqual(rows[6], ["2", "2", "4", "6", "1700000016.0", "0.625", "0.5625", "32", "0.875", "1"])
    }

    func testSeveralRunsGetARunColumn() throws {
        let a = try reference(), b = try reference()
        let rows = cells(LogExport.csv(.history, [a, b]))
        XCTAssertEqual(rows[0], ["run"] + EpochRecord.columns)
        XCTAssertEqual(rows.dropFirst().map { $0[0] }, [a.directory, a.directory, a.directory, b.directory, b.directory, b.directory])
        XCTAssertEqual(rows[4].dropFirst().first, "1")
    }

    func testJSONHoldsHistoryWorkersTimelineAndVerdict() throws {
        let report = try reference()
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(try LogExport.json([report]).utf8)) as? [String: Any])
        XCTAssertEqual(object["run_dir"] as? String, report.directory)
        XCTAssertEqual(object["kind"] as? String, "cluster")
        XCTAssertEqual(object["parameters"] as? Int, 5729)
        let config = try XCTUnwrap(object["config"] as? [String: Any])
        XCTAssertEqual(config["model"] as? String, "seed-cnn")
        XCTAssertEqual(config["batch_size"] as? Int, 32)

        let history = try XCTUnwrap(object["history"] as? [[String: Any]])
        XCTAssertEqual(history.count, 3)
        XCTAssertEqual(history[2]["epoch"] as? Int, 3)
        XCTAssertEqual(history[2]["val_accuracy"] as? Double, 0.85)
        XCTAssertEqual(history[2]["samples_per_second"] as? Double, 9.25)

        let workers = try XCTUnwrap(object["workers"] as? [[String: Any]])
        XCTAssertEqual(workers.map { $0["name"] as? String }, ["alpha", "beta", "gamma"])
        XCTAssertEqual(workers.map { $0["state"] as? String }, ["left", "timed out", "left"])
        XCTAssertEqual(workers.map { $0["samples"] as? Int }, [208, 80, 96])
        XCTAssertEqual(workers.map { $0["bytes_sent"] as? Int }, [597896, 229960, 275952])

        let stragglers = try XCTUnwrap(object["stragglers"] as? [[String: Any]])
        XCTAssertEqual(stragglers.map { $0["worker"] as? Int }, [3])
        XCTAssertEqual(try XCTUnwrap(stragglers.first?["ratio"] as? Double), 4, accuracy: 1e-9)

        let timeline = try XCTUnwrap(object["timeline"] as? [[String: Any]])
        XCTAssertEqual(timeline.filter { $0["event"] as? String == "worker_timed_out" }.map { $0["worker"] as? Int }, [2])
        XCTAssertEqual(timeline.first?["text"] as? String, "waiting for 2 workers")

        let rejected = try XCTUnwrap(object["rejected_messages"] as? [[String: Any]])
        XCTAssertEqual(rejected.map { $0["count"] as? Int }, [2, 1, 1])
        XCTAssertEqual(rejected.first?["senders"] as? [Int], [2])

        let verdict = try XCTUnwrap(object["verdict"] as? [String: Any])
        XCTAssertEqual(verdict["state"] as? String, "finished")
        XCTAssertEqual(verdict["test_accuracy"] as? Double, 0.9)
        let progress = try XCTUnwrap(object["progress"] as? [String: Any])
        XCTAssertEqual(progress["global_step"] as? Int, 12)
    }

    func testJSONOfSeveralRunsIsAnArrayAndMissingNumbersAreNull() throws {
        let run = try RunDirectoryFixture(self)
        run.main(.epoch(EpochRecord(epoch: 1, loss: 0.5, accuracy: 0.5, validationLoss: nil, validationAccuracy: nil,
                                    seconds: 1, samplesPerSecond: 10)), at: ReferenceRun.t0)
        run.close()
        let array = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(try LogExport.json([try report(run.path), try reference()]).utf8)) as? [[String: Any]])
        XCTAssertEqual(array.count, 2)
        let history = try XCTUnwrap(array[0]["history"] as? [[String: Any]])
        XCTAssertTrue(history[0]["val_loss"] is NSNull)
        XCTAssertTrue(history[0]["learning_rate"] is NSNull, "an unknown learning rate is null, as in the CSV an empty cell")
        XCTAssertNil(array[0]["stopped_early"], "no decisions, no keys")
        XCTAssertNil(array[0]["best_weights"])
        let verdict = try XCTUnwrap(array[0]["verdict"] as? [String: Any])
        XCTAssertEqual(verdict["state"] as? String, "stopped")
        XCTAssertTrue(verdict["test_accuracy"] is NSNull)
    }
}
