import Randomness

/// Which fault comes next and at which training step: the seeded, pure part of `chaos`.
///
/// Faults are spread evenly over the run's optimiser steps: fault i (from 0) of n is due once the server has
/// logged global step `total × (i + 1) / (n + 1)`, so every fault falls inside training however fast the machine.
/// The server restarts exactly once, at a fault drawn from the first half (or later, while no checkpoint exists
/// yet); at least one worker is killed; the other faults are drawn at random: 45% kill, 30% freeze, 25% extra worker.
public struct FaultPlan: Sendable {
    public let events: Int
    /// The fault (counted from 1) at which the server restarts, if a checkpoint exists by then.
    public let restartSlot: Int
    /// Draws the kinds of faults: the sequence of kinds depends on the seed alone, not on how many workers there were to pick from.
    private var kinds: SeededGenerator
    /// Draws which worker, and how long a freeze lasts.
    private var choices: SeededGenerator
    /// What happened so far, by kind.
    public private(set) var tally: [FaultKind: Int] = [:]

    public init(events: Int, seed: UInt64) {
        self.events = events
        kinds = SeededGenerator(seed: seed, stream: "chaos-faults")
        choices = SeededGenerator(seed: seed, stream: "chaos-choices")
        restartSlot = 1 + kinds.nextInt(below: max((events + 1) / 2, 1))
    }

    /// Faults injected so far.
    public var injected: Int { tally.values.reduce(0, +) }

    /// The global step at which fault `index` (from 0) is due, in a run of `totalSteps` steps.
    public func dueStep(_ index: Int, totalSteps: Int) -> Int {
        max(1, totalSteps * (index + 1) / (events + 1))
    }

    /// The kind of the next fault, or nil when the last fault must wait for a checkpoint to restart the server from.
    public mutating func next(checkpointExists: Bool) -> FaultKind? {
        let remaining = events - injected
        let needRestart = tally[.restartServer, default: 0] == 0 ? 1 : 0
        let needKill = tally[.killWorker, default: 0] == 0 ? 1 : 0
        if needRestart == 1 {
            if checkpointExists && (injected + 1 >= restartSlot || remaining <= needRestart + needKill) { return .restartServer }
            if remaining <= needRestart { return nil }
        }
        if needKill == 1 && remaining <= needRestart + needKill { return .killWorker }
        let draw = kinds.nextInt(below: 100)
        return draw < 45 ? .killWorker : draw < 75 ? .freezeWorker : .extraWorker
    }

    /// A random index below `count` (which worker).
    public mutating func pick(below count: Int) -> Int { choices.nextInt(below: max(count, 1)) }

    /// Seconds a freeze lasts: 2 to 6.
    public mutating func freezeSeconds() -> Int { 2 + choices.nextInt(below: 5) }

    /// Counts a fault that was injected (which may differ from the one drawn: a kill when no worker can be frozen).
    public mutating func record(_ kind: FaultKind) { tally[kind, default: 0] += 1 }

    /// `1 worker kill, 1 worker freeze, 1 extra worker, 1 server restart`.
    public var summary: String {
        FaultKind.allCases.compactMap { kind in tally[kind].map { kind.counted($0) } }.joined(separator: ", ")
    }
}
