/// The server's view of one worker.
struct WorkerRecord {
    enum State: String {
        /// Welcomed, loading its data.
        case loading
        /// Loaded; takes work from the next step on.
        case ready
        /// Computing steps.
        case active
        /// Left, timed out or unreachable; never given work again.
        case gone
    }

    let id: UInt32
    let routing: [UInt8]
    let name: String
    let pid: Int
    var state: State = .loading
    var lastSeen: Double
    /// Microbatch indices of the current step assigned to this worker and not yet returned.
    var outstanding: Set<Int> = []
}

/// Every worker the server has met, by id and by ZeroMQ routing id.
struct Membership {
    private(set) var workers: [UInt32: WorkerRecord] = [:]
    private var byRouting: [[UInt8]: UInt32] = [:]
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
        workers[id] = WorkerRecord(id: id, routing: routing, name: name, pid: pid, lastSeen: now)
        byRouting[routing] = id
        dropped[routing] = nil
        return id
    }

    /// The live worker with this routing id, if any.
    func live(routing: [UInt8]) -> WorkerRecord? {
        guard let id = byRouting[routing], let worker = workers[id], worker.state != .gone else { return nil }
        return worker
    }

    func droppedReason(routing: [UInt8]) -> String? { dropped[routing] }

    subscript(id: UInt32) -> WorkerRecord? {
        get { workers[id] }
        set { workers[id] = newValue }
    }

    /// Marks a worker gone and returns the microbatches it still owed.
    mutating func remove(_ id: UInt32, reason: String) -> Set<Int> {
        guard var worker = workers[id] else { return [] }
        let owed = worker.outstanding
        worker.outstanding = []
        worker.state = .gone
        workers[id] = worker
        dropped[worker.routing] = reason
        byRouting[worker.routing] = nil
        return owed
    }

    /// Live workers in a state, ordered by id.
    func ids(in state: WorkerRecord.State) -> [UInt32] {
        workers.values.filter { $0.state == state }.map(\.id).sorted()
    }

    var live: [WorkerRecord] { workers.values.filter { $0.state != .gone }.sorted { $0.id < $1.id } }
}
