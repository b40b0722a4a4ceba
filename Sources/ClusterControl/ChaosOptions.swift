/// How `backprop cluster chaos` disturbs a run.
public struct ChaosOptions: Sendable {
    /// Faults to inject.
    public var events = 6
    /// The least time between two faults, in seconds (0: the training steps alone decide).
    public var interval = 0.0
    /// Seed of the fault sequence.
    public var seed: UInt64
    /// `--checkpoint-every` given to the server unless the flags after `--` set it.
    public var checkpointEvery = 20
    /// An extra-worker fault becomes a kill once this many workers run.
    public var maximumWorkers = 6

    public init(events: Int = 6, interval: Double = 0, seed: UInt64) {
        self.events = events
        self.interval = interval
        self.seed = seed
    }
}
