import Foundation
import Messaging
import XCTest

/// How long it takes to get one step's weights to N workers over loopback TCP: a ROUTER sending
/// to each DEALER in turn (copying the payload per worker, as before, or sending one shared
/// `PayloadBuffer` without copies, as now) against a single PUB send to N SUBs; and the shared
/// buffer through a Unix socket (`ipc://`, the server's local endpoint). Not a pass/fail test.
///
/// Runs only when `BACKPROP_BENCH=1` is set: `BACKPROP_BENCH=1 swift test -c release --filter BroadcastBenchmark`.
/// Each receiver is a thread with its own libzmq context (its own I/O thread, as a worker process
/// has); it acknowledges every message with one byte, and a broadcast ends when every receiver
/// has acknowledged it, so the time covers the whole delivery, not only the queueing.
final class BroadcastBenchmark: XCTestCase {
    enum Mode: String, CaseIterable {
        case copying = "router, one by one, copied"
        case shared = "router, one by one, shared buffer"
        case publish = "pub/sub, one send"
        case sharedUnixSocket = "router, shared buffer, ipc://"
    }

    func testWeightsToOneTwoAndFourReceivers() throws {
        try XCTSkipUnless(ProcessInfo.processInfo.environment["BACKPROP_BENCH"] == "1", "set BACKPROP_BENCH=1 to measure")
        let repeats = 5
        print("broadcast: median of \(repeats) interleaved runs; send = the sender's time in send calls per broadcast")
        print("broadcast " + ["payload", "receivers", "mode", "ms/broadcast", "broadcasts/s", "send ms"].enumerated()
            .map { pad($1, [8, 9, 34, 12, 12, 8][$0], right: $0 > 2) }.joined(separator: "  "))
        // seed-cnn's and large-cnn's weights: 5,729 and 1,199,882 Float32 values.
        for (name, elements, seconds) in [("23 KB", 5_729, 1.0), ("4.8 MB", 1_199_882, 2.0)] {
            for receivers in [1, 2, 4] {
                var results: [Mode: [Measurement]] = [:]
                for _ in 0..<repeats {
                    for mode in Mode.allCases {
                        results[mode, default: []].append(
                            try measure(mode: mode, elements: elements, receivers: receivers, seconds: seconds))
                    }
                }
                for mode in Mode.allCases {
                    let runs = results[mode, default: []]
                    let perBroadcast = median(runs.map(\.secondsPerBroadcast)), sending = median(runs.map(\.sendSecondsPerBroadcast))
                    let cells = [name, String(receivers), mode.rawValue, String(format: "%.3f", perBroadcast * 1_000),
                                 String(format: "%.1f", 1 / perBroadcast), String(format: "%.3f", sending * 1_000)]
                    print("broadcast " + cells.enumerated().map { pad($1, [8, 9, 34, 12, 12, 8][$0], right: $0 > 2) }.joined(separator: "  "))
                }
            }
        }
    }

    struct Measurement {
        /// Wall-clock seconds from the first send to the last acknowledgement, per broadcast.
        var secondsPerBroadcast: Double
        /// Seconds the sender spent in its send calls (encoding and queueing), per broadcast.
        var sendSecondsPerBroadcast: Double
    }

    private func pad(_ text: String, _ width: Int, right: Bool) -> String {
        let fill = String(repeating: " ", count: max(width - text.count, 0))
        return right ? fill + text : text + fill
    }

    private func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        return sorted.isEmpty ? .nan : sorted[sorted.count / 2]
    }

    private func measure(mode: Mode, elements: Int, receivers: Int, seconds: Double) throws -> Measurement {
        let context = try ZMQContext()
        defer { context.close() }
        // Data goes out on `out`; acknowledgements come back on `acks` (the same ROUTER unless publishing).
        let out = try ZMQSocket(context: context, kind: mode == .publish ? .publisher : .router)
        defer { out.close() }
        let acks = mode == .publish ? try ZMQSocket(context: context, kind: .router) : out
        defer { acks.close() }
        if mode != .publish { try out.setRouterMandatory(true) }
        let socketFile = NSTemporaryDirectory() + "backprop-broadcast-\(getpid()).ipc"
        defer { try? FileManager.default.removeItem(atPath: socketFile) }
        let endpoint = try out.bind(mode == .sharedUnixSocket ? "ipc://" + socketFile : "tcp://127.0.0.1:*")
        let ackEndpoint = mode == .publish ? try acks.bind("tcp://127.0.0.1:*") : endpoint

        let finished = DispatchGroup()
        for index in 0..<receivers {
            finished.enter()
            let thread = Thread {
                defer { finished.leave() }
                do {
                    try Self.receive(mode: mode, endpoint: endpoint, ackEndpoint: ackEndpoint, id: [UInt8(index + 1)])
                } catch {
                    XCTFail("receiver \(index + 1): \(error)")
                }
            }
            thread.start()
        }

        // Wait until every receiver is connected (and, for SUBs, subscribed: PUB drops what it sends before that).
        var routing: [[UInt8]] = []
        let inbox = ReceivedFrames()
        let deadline = Date().addingTimeInterval(10)
        while routing.count < receivers, Date() < deadline {
            if mode == .publish { try out.send(routing: nil, header: [UInt8(ascii: "p")], body: [], payload: nil) }
            while try acks.receive(into: inbox, timeoutMilliseconds: 50) {
                let id = inbox.copy(0)
                if !routing.contains(id) { routing.append(id) }
            }
        }
        XCTAssertEqual(routing.count, receivers, "not every receiver connected")
        while try acks.receive(into: inbox, timeoutMilliseconds: 100) {}

        let weights = (0..<elements).map { Float($0 % 1_000) * 0.001 }
        let buffer = PayloadBuffer(capacity: elements)
        weights.withUnsafeBufferPointer { buffer.values.update(from: $0.baseAddress!, count: elements) }
        var writer = FrameWriter()
        let refs = [MicrobatchRef(index: 0, positions: 0..<16)]

        let clock = ContinuousClock()
        var sending = Duration.zero
        func broadcast(step: UInt64) throws {
            let sendStart = clock.now
            writer.assignment(runID: 1, step: step, epoch: 0, count: refs.count, elementCount: elements) { refs[$0] }
            switch mode {
            case .copying:
                for id in routing {
                    let message = Message(runID: 1, sender: 0, step: step, body: .assignment(epoch: 0, microbatches: refs, weights: weights))
                    XCTAssertTrue(try out.send([id] + message.encoded()))
                }
            case .shared, .sharedUnixSocket:
                for id in routing {
                    XCTAssertTrue(try out.send(routing: id, header: writer.header, body: writer.body, payload: buffer))
                }
            case .publish:
                XCTAssertTrue(try out.send(routing: nil, header: writer.header, body: writer.body, payload: buffer))
            }
            sending += clock.now - sendStart
            var acknowledged = 0
            while acknowledged < receivers {
                guard try acks.receive(into: inbox, timeoutMilliseconds: 10_000) else {
                    throw XCTSkip("a receiver did not acknowledge step \(step) within 10 s")
                }
                acknowledged += 1
            }
        }

        for step in 0..<3 { try broadcast(step: UInt64(step)) }
        sending = .zero
        let start = clock.now
        var count = 0
        while clock.now - start < .seconds(seconds) {
            try broadcast(step: UInt64(count + 3))
            count += 1
        }
        let elapsed = clock.now - start

        for id in routing where mode != .publish {
            try out.send(routing: id, header: [UInt8(ascii: "q")], body: [], payload: nil)
        }
        if mode == .publish { try out.send(routing: nil, header: [UInt8(ascii: "q")], body: [], payload: nil) }
        XCTAssertEqual(finished.wait(timeout: .now() + 10), .success, "receivers did not stop")
        func inSeconds(_ duration: Duration) -> Double {
            let (whole, fraction) = duration.components
            return Double(whole) + Double(fraction) / 1e18
        }
        return Measurement(secondsPerBroadcast: inSeconds(elapsed) / Double(count), sendSecondsPerBroadcast: inSeconds(sending) / Double(count))
    }

    /// One receiver: acknowledges every message until told to quit. The copying mode receives into arrays, as before.
    private static func receive(mode: Mode, endpoint: String, ackEndpoint: String, id: [UInt8]) throws {
        let context = try ZMQContext()
        defer { context.close() }
        let socket = try ZMQSocket(context: context, kind: mode == .publish ? .subscriber : .dealer)
        defer { socket.close() }
        let ack = mode == .publish ? try ZMQSocket(context: context, kind: .dealer) : socket
        defer { ack.close() }
        try ack.setRoutingID(id)
        if mode == .publish {
            try socket.subscribe()
            try socket.connect(endpoint)
            try ack.connect(ackEndpoint)
        } else {
            try socket.connect(endpoint)
            try socket.send([[UInt8(ascii: "h")]])
        }
        let frames = ReceivedFrames()
        var greeted = mode != .publish
        while true {
            let first: UInt8?
            if mode == .copying {
                guard let message = try socket.receive(timeoutMilliseconds: 20_000) else { return }
                first = message.first?.first
            } else {
                guard try socket.receive(into: frames, timeoutMilliseconds: 20_000) else { return }
                first = frames[0].first
            }
            switch first {
            case UInt8(ascii: "q"):
                return
            case UInt8(ascii: "p"):
                if !greeted { try ack.send([[UInt8(ascii: "h")]]) }
                greeted = true
            default:
                try ack.send([[UInt8(ascii: "a")]])
            }
        }
    }
}
