import Foundation
import TrainingLog
import XCTest

final class RunLogPerformanceTests: XCTestCase {
    static let epochs = 100
    static let stepsPerEpoch = 1000

    /// Writes a 100k-step cluster run as the server and two workers would: about 70 MB of JSON Lines.
    private func writeLongRun() throws -> String {
        let directory = try temporaryDirectory(self)
        let t0 = 1_700_000_000.0
        var server = #"{"time":\#(t0),"event":"run_started","process":"server","parameters":5729,"train_samples":32000,"validation_samples":3200,"test_samples":5000,"config.model":"seed-cnn","config.data":"synthetic","config.epochs":\#(Self.epochs),"config.batch_size":32,"config.microbatch":8,"config.learning_rate":0.001,"config.optimizer":"adam","config.momentum":0.0,"config.seed":"1"}"# + "\n"
        var workers = ["", ""]
        let serverPath = directory + "/server.jsonl"
        let workerPaths = [directory + "/worker-1.jsonl", directory + "/worker-2.jsonl"]
        for path in [serverPath] + workerPaths { XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: nil)) }
        let handles = try ([serverPath] + workerPaths).map { try XCTUnwrap(FileHandle(forWritingAtPath: $0)) }
        func flush() {
            handles[0].write(Data(server.utf8))
            handles[1].write(Data(workers[0].utf8))
            handles[2].write(Data(workers[1].utf8))
            server = ""
            workers = ["", ""]
        }
        var globalStep = 0
        for epoch in 1...Self.epochs {
            for step in 1...Self.stepsPerEpoch {
                globalStep += 1
                let time = t0 + Double(globalStep) * 0.0125
                let loss = 0.7 / (1 + Double(globalStep) / 10000) + Double(step % 7) * 0.001
                for w in 0..<2 {
                    workers[w] += #"{"time":\#(time - 0.001),"event":"worker_step","process":"worker-\#(w + 1)","worker":\#(w + 1),"epoch":\#(epoch),"global_step":\#(globalStep - 1),"microbatches":2,"samples":16,"compute_seconds":0.00\#(w + 4)\#(step % 10),"wait_seconds":0.0021,"bytes_sent":45992,"bytes_received":23020}"# + "\n"
                }
                server += #"{"time":\#(time),"event":"step","process":"server","epoch":\#(epoch),"step":\#(step),"steps_per_epoch":\#(Self.stepsPerEpoch),"global_step":\#(globalStep),"loss":\#(loss),"accuracy":\#(1 - loss),"samples":32,"step_seconds":0.0123456789,"workers":2}"# + "\n"
            }
            let time = t0 + Double(globalStep) * 0.0125
            server += #"{"time":\#(time + 0.001),"event":"epoch","process":"server","epoch":\#(epoch),"loss":0.5,"accuracy":0.75,"val_loss":0.55,"val_accuracy":0.7,"seconds":12.5,"samples_per_second":2560.0}"# + "\n"
            server += #"{"time":\#(time + 0.002),"event":"checkpoint","process":"server","path":"\#(directory)/checkpoint.safetensors","epoch":\#(epoch),"step":\#(globalStep)}"# + "\n"
            flush()
        }
        server += #"{"time":\#(t0 + 1300),"event":"test","process":"server","test_loss":0.4,"test_accuracy":0.85,"samples":5000}"# + "\n"
        flush()
        for handle in handles { try handle.close() }
        return directory
    }

    func testA100kStepRunSummarisesQuickly() throws {
        let directory = try writeLongRun()
        let started = Date()
        let reader = try RunLogReader.read(directory)
        let text = RunReport(reader: reader).render()
        let seconds = Date().timeIntervalSince(started)

        XCTAssertEqual(reader.log.steps.count, Self.epochs * Self.stepsPerEpoch)
        XCTAssertEqual(reader.log.history.count, Self.epochs)
        XCTAssertEqual(reader.log.workers[1]?.steps, Self.epochs * Self.stepsPerEpoch)
        XCTAssertEqual(reader.problemCount, 0)
        XCTAssertTrue(text.contains("verdict: finished with test accuracy 0.8500"), text)
        XCTAssertTrue(text.contains("checkpoints after epochs 1–100 (100, last at step 100000)"), text)
        print("read and summarised 100,000 steps and 200,000 worker steps in \(String(format: "%.3f", seconds)) s")
        #if DEBUG
        let limit = 30.0
        #else
        let limit = 3.0
        #endif
        XCTAssertLessThan(seconds, limit, "summarising a 100k-step run took \(seconds) s")

        let plotStarted = Date()
        let svg = SVGPlot(runs: [SVGPlot.Run(name: "long", log: reader.log)]).render()
        print("plotted it in \(String(format: "%.3f", Date().timeIntervalSince(plotStarted))) s (\(svg.utf8.count / 1000) kB of SVG)")
        XCTAssertLessThan(svg.utf8.count, 1_000_000)
    }
}
