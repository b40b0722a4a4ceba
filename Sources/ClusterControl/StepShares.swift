import Foundation
import Training

/// How a step's microbatches spread over the workers: the server deals each step's batch ÷ microbatch
/// microbatches in nearly equal shares, and a worker beyond that count has none (a spare, which takes over from a
/// worker that leaves or dies).
public struct StepShares: Sendable, Equatable {
    public let batchSize: Int
    public let microbatch: Int
    public let workers: Int

    public init(batchSize: Int, microbatch: Int, workers: Int) {
        self.batchSize = batchSize
        self.microbatch = microbatch
        self.workers = workers
    }

    /// The shares of `run`, from the batch size and microbatch in its `config.json`.
    public init?(of run: ClusterRun, workers: Int) {
        guard let data = FileManager.default.contents(atPath: run.file("config.json")),
              let config = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any],
              let batch = (config["batch_size"] as? NSNumber)?.intValue, let micro = (config["microbatch"] as? NSNumber)?.intValue,
              batch > 0, micro > 0 else { return nil }
        self.init(batchSize: batch, microbatch: micro, workers: workers)
    }

    /// Microbatches in a full step.
    public var microbatches: Int { (batchSize + microbatch - 1) / microbatch }

    /// Each worker's microbatches in a full step, as the server cuts them (`SumTree.cuts`).
    public var shares: [Int] { Self.shares(microbatches, workers) }

    /// Workers with no microbatch to compute.
    public var spares: Int { shares.filter { $0 == 0 }.count }

    /// Whether every computing worker gets the same number of microbatches.
    public var isEven: Bool { Set(shares.filter { $0 > 0 }).count <= 1 }

    /// The worker counts up to `limit` that share a step evenly, with no spare.
    public func evenCounts(upTo limit: Int) -> [Int] {
        guard limit >= 1 else { return [] }
        return (1...min(limit, microbatches)).filter { count in Set(Self.shares(microbatches, count)).count == 1 }
    }

    /// The shares in words: `a step has 4 microbatches (batch 32 ÷ microbatch 8): 2 for each of the 2 workers`, or
    /// what is off: spares, or shares that differ (the step waits for the busiest worker).
    public var sentence: String {
        let step = "a step has \(microbatches) microbatch\(microbatches == 1 ? "" : "es") (batch \(batchSize) ÷ microbatch \(microbatch))"
        guard workers > 0 else { return step }
        if spares > 0 {
            return "\(step), so \(spares) of the \(workers) workers \(spares == 1 ? "is a spare" : "are spares"): "
                + "\(spares == 1 ? "it computes" : "they compute") nothing until a worker leaves or dies"
        }
        if workers == 1 { return "\(step), all for the one worker" }
        if isEven { return "\(step): \(shares[0]) for each of the \(workers) workers" }
        return "\(step): uneven shares of \(Self.list(shares.map(String.init), "and")) over \(workers) workers, and every step "
            + "waits for the busiest; \(Self.list(evenCounts(upTo: 2 * workers).map(String.init), "or")) workers share it evenly"
    }

    static func shares(_ microbatches: Int, _ workers: Int) -> [Int] {
        guard workers > 0, microbatches > 0 else { return [] }
        let cuts = SumTree.cuts(microbatches, parts: workers)
        return zip(cuts.dropFirst(), cuts).map { $0 - $1 }
    }

    /// `1, 2 or 4`.
    static func list(_ words: [String], _ conjunction: String) -> String {
        guard words.count > 1 else { return words.joined() }
        return words.dropLast().joined(separator: ", ") + " \(conjunction) " + words[words.count - 1]
    }
}
