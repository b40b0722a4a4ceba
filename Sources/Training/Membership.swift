/// The server's view of one worker.
struct WorkerRecord {
    enum State: String {
        /// Welcomed, loading its data.
        case loading
        /// Loaded; takes work from the next step on.
        case ready
        /// Computing steps.
        case active
    }

    let id: UInt32
    let routing: [UInt8]
    let name: String
    let pid: Int
    var state: State = .loading
    var lastSeen: Double
    /// The last step at which its queue was full when it was dealt work (-1: never), so that is logged once a step.
    var blockedStep = -1
}

/// The workers the server has met: the live ones in the order they joined (which is id order),
/// and the routing ids of those it dropped.
///
/// A handful of workers, looked up on every message: a linear scan of one small array, which
/// allocates nothing, beats hashing a routing id copied out of the message.
struct Membership {
    /// Live workers (loading, ready or active), by increasing id.
    private(set) var workers: [WorkerRecord] = []
    /// Routing ids of workers that were dropped, with the reason to give them if they speak again.
    private var dropped: [[UInt8]: String] = [:]
    private var nextID: UInt32

    /// Ids are handed out from `firstID` up.
    init(firstID: UInt32 = 1) {
        nextID = firstID
    }

    /// Adds a worker and returns its new id.
    mutating func add(routing: [UInt8], name: String, pid: Int, now: Double) -> UInt32 {
        let id = nextID
        nextID += 1
        workers.append(WorkerRecord(id: id, routing: routing, name: name, pid: pid, lastSeen: now))
        dropped[routing] = nil
        return id
    }

    /// The position in `workers` of the live worker with this routing id.
    func index(routing: UnsafeRawBufferPointer) -> Int? {
        workers.firstIndex { $0.routing.elementsEqual(routing) }
    }

    /// The position in `workers` of the live worker `id`.
    func index(of id: UInt32) -> Int? {
        workers.firstIndex { $0.id == id }
    }

    /// The live worker with this routing id, if any.
    func live(routing: [UInt8]) -> WorkerRecord? {
        workers.first { $0.routing == routing }
    }

    func droppedReason(routing: [UInt8]) -> String? { dropped[routing] }

    /// The live worker `id`.
    subscript(id: UInt32) -> WorkerRecord? {
        index(of: id).map { workers[$0] }
    }

    /// Notes that worker `index` was heard from at `now`.
    mutating func touch(_ index: Int, now: Double) {
        workers[index].lastSeen = now
    }

    mutating func setState(_ index: Int, _ state: WorkerRecord.State) {
        workers[index].state = state
    }

    mutating func setBlockedStep(_ index: Int, _ step: Int) {
        workers[index].blockedStep = step
    }

    /// Forgets a live worker, remembering why for when it speaks again.
    mutating func remove(_ id: UInt32, reason: String) {
        guard let index = index(of: id) else { return }
        dropped[workers[index].routing] = reason
        workers.remove(at: index)
    }

    /// Live workers in `state`.
    func count(in state: WorkerRecord.State) -> Int {
        workers.reduce(0) { $0 + ($1.state == state ? 1 : 0) }
    }
}
