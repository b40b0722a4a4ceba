import Foundation
import Training

/// `backprop-bench --threads N`: samples per second of the training step with 1 and N threads.
///
/// Both rigs train the same model in one process and take turns in short bursts, so a machine
/// whose speed drifts (other processes, other virtual machines) slows both alike; each figure
/// is the best burst's.
enum ThreadScaling {
    static let batchSize = 64
    static let microbatch = 16
    static let rounds = 10
    static let stepsPerBurst = 4

    static func run(models: [String], threads: Int) throws {
        print("backprop-bench --threads \(threads): training steps (gradients, ordered sum, Adam) per second, batch \(batchSize), microbatch \(microbatch); best of \(rounds) bursts of \(stepsPerBurst) steps, taken in turns")
        print("model      threads  samples/s  speed-up")
        for name in models {
            let run = try TrainingRig.prepare(model: name, batchSize: batchSize, microbatch: microbatch, steps: 8)
            let rigs = [1, threads].map { TrainingRig(run: run, threads: $0) }
            var best = [Double](repeating: .infinity, count: rigs.count)
            for rig in rigs {
                for _ in 0..<2 { try rig.takeStep() }
            }
            for _ in 0..<rounds {
                for (index, rig) in rigs.enumerated() {
                    let start = ContinuousClock.now
                    for _ in 0..<stepsPerBurst { try rig.takeStep() }
                    let (seconds, attoseconds) = (ContinuousClock.now - start).components
                    best[index] = min(best[index], (Double(seconds) + Double(attoseconds) * 1e-18) / Double(stepsPerBurst))
                }
            }
            for (index, rig) in rigs.enumerated() {
                let samplesPerSecond = Double(batchSize) / best[index]
                print(name.padding(toLength: 11, withPad: " ", startingAt: 0)
                      + String(format: "%7d  %9.0f  %8.2f", rig.threads, samplesPerSecond, best[0] / best[index]))
            }
        }
    }
}
