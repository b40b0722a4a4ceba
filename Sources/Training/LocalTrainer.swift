import Datasets
import Dispatch
import Foundation
import NeuralNet
import Synchronization
import TrainingLog

/// Trains a model in one process, Keras-style, with the cluster's exact step recipe.
///
/// Each microbatch's gradient is computed from zero in this process and the step sums them
/// in order — exactly what the parameter server does with gradients from its workers, so
/// the same seed and microbatch size give the same weights here and in a cluster, with any
/// number of threads.
public final class LocalTrainer {
    public let run: PreparedRun
    private let loop: TrainingLoop
    private let start: StartingState
    private let gradients: LocalGradients

    /// threads: how many microbatches to compute at once (at least 1; more than a step's
    /// microbatches would have nothing to do, so no more than that are started).
    public init(run: PreparedRun, directory: RunDirectory, start: StartingState, threads: Int = 1, sink: any EventSink) {
        precondition(threads >= 1, "a trainer needs at least one thread")
        self.run = run
        self.start = start
        loop = TrainingLoop(run: run, directory: directory, sink: sink)
        gradients = LocalGradients(model: run.model, data: run.train, microbatch: run.config.microbatch,
                                   roundsToBFloat16: run.config.bfloat16Gradients,
                                   threads: min(threads, run.plan.microbatchesPerStep),
                                   augmentation: run.augmentation, seed: run.config.seed)
    }

    /// Runs every remaining epoch, validates after each, checkpoints, tests at the end.
    public func train() throws -> RunResult {
        try loop.train(from: start, using: gradients)
    }
}

/// The gradient source of one process: computes a step's microbatches on `threads` threads and
/// adds them in the `SumTree`'s order.
///
/// Thread `t` computes microbatches `t`, `t + threads`, `t + 2·threads`, … of each step with its
/// own `GradientComputer`, the helpers (t ≥ 1) into their own buffers. The calling thread is
/// thread 0: it computes its microbatches into the step's `PairwiseSum` and, after each, pushes
/// the helpers' results of the same round in microbatch order, handing each helper's buffer back
/// for its next microbatch. A microbatch's gradient does not depend on the thread that computes
/// it and the tree is fixed by the microbatch count, so any number of threads gives the bits of
/// one. Threads, workspaces and buffers are made once, not per step.
public final class LocalGradients: StepGradientSource {
    public let threads: Int
    /// One per thread.
    private let computers: [GradientComputer]
    /// One gradient buffer (parameterCount) per helper thread (index 0 is thread 0's, which computes into `sum`).
    private let buffers: [UnsafeMutablePointer<Float>]
    private let sum: PairwiseSum
    /// Threads 1 and up; nil with one thread.
    private let helpers: Helpers?

    /// microbatch: the largest microbatch; threads: at least 1; roundsToBFloat16: the sum tree's nodes rounded to bfloat16;
    /// augmentation: drawn from (`seed`, epoch, sample).
    public init(model: Model, data: ImageSet, microbatch: Int, roundsToBFloat16: Bool = false, threads: Int,
                augmentation: Augmentation = Augmentation(), seed: UInt64 = 0) {
        precondition(threads >= 1, "at least one thread")
        self.threads = threads
        computers = (0..<threads).map { _ in
            GradientComputer(model: model, data: data, microbatch: microbatch, augmentation: augmentation, seed: seed)
        }
        buffers = (0..<threads).map { t in
            let buffer = UnsafeMutablePointer<Float>.allocate(capacity: t == 0 ? 1 : model.parameterCount)
            buffer.initialize(repeating: 0, count: t == 0 ? 1 : model.parameterCount)
            return buffer
        }
        sum = PairwiseSum(parameterCount: model.parameterCount, roundsToBFloat16: roundsToBFloat16)
        helpers = threads > 1 ? Helpers(computers: computers, buffers: buffers) : nil
    }

    deinit {
        helpers?.stop()
        buffers.forEach { $0.deallocate() }
    }

    public var workersInLastStep: Int { 1 }

    public func accumulate(
        microbatches: [Range<Int>], epoch: Int, order: [Int], version: Int,
        parameters: [Float], previousStep: [Float]?, into step: inout StepGradient
    ) throws {
        parameters.withUnsafeBufferPointer { parameters in
            guard let parameters = parameters.baseAddress else { return }
            helpers?.begin(microbatches: microbatches, epoch: epoch, order: order, parameters: parameters)
            var index = 0
            while index < microbatches.count {
                // Thread 0's microbatch, then the helpers' of the same round, in order.
                sum.pushComputed(block: index..<index + 1) { gradient in
                    computers[0].compute(order: order, positions: microbatches[index], epoch: epoch,
                                         parameters: parameters, gradient: gradient)
                }
                if let helpers {
                    for t in 1..<threads where index + t < microbatches.count {
                        let metrics = helpers.wait(t)
                        sum.pushTransient(buffers[t], metrics: metrics, block: index + t..<index + t + 1)
                        if index + t + threads < microbatches.count { helpers.release(t) }
                    }
                }
                index += threads
            }
            step.take(sum)
            // Every helper is past its last microbatch of the step.
            helpers?.end()
        }
    }
}

/// Threads 1 and up of a `LocalGradients`, and what they share with thread 0.
///
/// `@unchecked Sendable`: the step's inputs are written only while every helper waits on `start`,
/// and each helper's buffer and metrics slot pass between it and thread 0 through its `ready` and
/// `free` handoffs, so no two threads touch the same memory without a handoff in between.
private final class Helpers: @unchecked Sendable {
    let count: Int
    let computers: [GradientComputer]
    let buffers: [UnsafeMutablePointer<Float>]
    /// Thread t's last microbatch's loss and accuracy counts.
    let metrics: UnsafeMutablePointer<BatchMetrics>
    /// Signalled once per step for each helper with work in it, and once more to stop.
    let start: [Handoff]
    /// Thread t's buffer holds its next microbatch's gradient.
    let ready: [Handoff]
    /// Thread t's buffer has been added into the step and may be overwritten.
    let free: [Handoff]
    let exited = DispatchSemaphore(value: 0)

    // The step being computed.
    var microbatches: [Range<Int>] = []
    var epoch = 0
    var order: [Int] = []
    var parameters: UnsafePointer<Float>?
    var stopping = false

    /// Starts threads 1..<computers.count; thread 0 is the caller's.
    init(computers: [GradientComputer], buffers: [UnsafeMutablePointer<Float>]) {
        count = computers.count
        self.computers = computers
        self.buffers = buffers
        metrics = .allocate(capacity: count)
        metrics.initialize(repeating: BatchMetrics(), count: count)
        start = (0..<count).map { _ in Handoff() }
        ready = (0..<count).map { _ in Handoff() }
        free = (0..<count).map { _ in Handoff() }
        for t in 1..<count {
            let thread = Thread { [self] in run(t) }
            thread.name = "gradients-\(t)"
            thread.start()
        }
    }

    deinit {
        metrics.deallocate()
    }

    /// Hands the step to the helpers that have a microbatch in it.
    func begin(microbatches: [Range<Int>], epoch: Int, order: [Int], parameters: UnsafePointer<Float>) {
        self.microbatches = microbatches
        self.epoch = epoch
        self.order = order
        self.parameters = parameters
        for t in 1..<min(count, microbatches.count) { start[t].signal() }
    }

    /// Waits until helper t's buffer holds its next microbatch; returns that microbatch's metrics.
    func wait(_ t: Int) -> BatchMetrics {
        ready[t].wait()
        return metrics[t]
    }

    /// Gives helper t its buffer back for its next microbatch of the step.
    func release(_ t: Int) {
        free[t].signal()
    }

    /// Forgets the step, once every helper's last microbatch has been waited for.
    func end() {
        microbatches = []
        order = []
        parameters = nil
    }

    /// Helper t's loop: microbatches t, t + count, … of each step, one buffer-full at a time.
    private func run(_ t: Int) {
        let computer = computers[t], gradient = buffers[t]
        while true {
            start[t].wait()
            if stopping {
                exited.signal()
                return
            }
            // Read before the last `ready`: after it the step may end and change these.
            let total = microbatches.count
            var index = t
            while index < total {
                if index >= count { free[t].wait() }
                metrics[t] = computer.compute(order: order, positions: microbatches[index], epoch: epoch,
                                              parameters: parameters!, gradient: gradient)
                ready[t].signal()
                index += count
            }
        }
    }

    /// Ends the helpers and waits until they have.
    func stop() {
        stopping = true
        for t in 1..<count { start[t].signal() }
        for _ in 1..<count { exited.wait() }
    }
}

/// A one-way signal from one thread to another: each `signal` lets exactly one `wait` through, in
/// order, as a semaphore does, but the waiter watches for it for a moment before it sleeps.
///
/// A step hands work back and forth several times per millisecond, and waking a sleeping thread
/// takes tens of microseconds, more on a virtual machine whose idle CPU has halted. Spinning for
/// up to `spin` first keeps the threads awake between the handoffs of a step and between steps.
private final class Handoff: Sendable {
    static let spin = Duration.microseconds(500)
    private let posted = Atomic<Int>(0)
    private let taken = Atomic<Int>(0)
    private let semaphore = DispatchSemaphore(value: 0)

    func signal() {
        posted.add(1, ordering: .releasing)
        semaphore.signal()
    }

    /// Returns once the signal matching this wait has been sent. One thread waits on a handoff.
    func wait() {
        let ticket = taken.add(1, ordering: .relaxed).newValue
        let deadline = ContinuousClock.now + Self.spin
        while posted.load(ordering: .acquiring) < ticket && ContinuousClock.now < deadline {}
        semaphore.wait()
    }
}
