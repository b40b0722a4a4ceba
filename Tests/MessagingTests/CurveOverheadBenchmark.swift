import Foundation
import Messaging
import XCTest

/// Round trips per second over loopback TCP, plain and CURVE: the figures for the README, not a pass/fail test.
///
/// Runs only when `BACKPROP_BENCH=1` is set: `BACKPROP_BENCH=1 swift test -c release --filter CurveOverheadBenchmark`.
final class CurveOverheadBenchmark: XCTestCase {
    func testRoundTripsPerSecondPlainAndCurve() throws {
        try XCTSkipUnless(ProcessInfo.processInfo.environment["BACKPROP_BENCH"] == "1", "set BACKPROP_BENCH=1 to measure")
        // seed-cnn's and large-cnn's weights: 5,729 and 1,199,882 Float32 values.
        for (name, bytes, seconds) in [("23 KB (seed-cnn)", 5_729 * 4, 3.0), ("4.8 MB (large-cnn)", 1_199_882 * 4, 6.0)] {
            let plain = try roundTripsPerSecond(bytes: bytes, curve: false, seconds: seconds)
            let curve = try roundTripsPerSecond(bytes: bytes, curve: true, seconds: seconds)
            print(String(format: "curve-overhead %@: plain %.1f round trips/s (%.3f ms), curve %.1f round trips/s (%.3f ms), plain/curve %.2fx",
                         name, plain, 1_000 / plain, curve, 1_000 / curve, plain / curve))
        }
    }

    /// A DEALER sends `bytes` to a ROUTER, which sends them back; repeated for about `seconds` after a warm-up.
    ///
    /// Two contexts, as in two processes: each side encrypts and decrypts on its own libzmq I/O thread.
    private func roundTripsPerSecond(bytes: Int, curve: Bool, seconds: Double) throws -> Double {
        let context = try ZMQContext(), workerContext = try ZMQContext()
        defer {
            context.close()
            workerContext.close()
        }
        let server = try CurveKeyPair.generate(), worker = try CurveKeyPair.generate()
        var zap: ZAPHandler?
        defer { zap?.stop() }
        let router = try ZMQSocket(context: context, kind: .router)
        defer { router.close() }
        if curve {
            zap = try ZAPHandler(context: context, authorizedKeys: [worker.publicKey])
            try router.makeCurveServer(secretKey: server.secretKey, authenticator: try XCTUnwrap(zap))
        }
        let endpoint = try router.bind("tcp://127.0.0.1:*")
        let dealer = try ZMQSocket(context: workerContext, kind: .dealer)
        defer { dealer.close() }
        try dealer.setRoutingID(Array("w".utf8))
        if curve { try dealer.makeCurveClient(keyPair: worker, serverPublicKey: server.publicKey) }
        try dealer.connect(endpoint)

        let payload = (0..<bytes).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        func roundTrip() throws {
            try dealer.send([payload])
            let request = try XCTUnwrap(router.receive(timeoutMilliseconds: 10_000))
            try router.send(request)
            _ = try XCTUnwrap(dealer.receive(timeoutMilliseconds: 10_000))
        }
        for _ in 0..<3 { try roundTrip() }
        let clock = ContinuousClock()
        let start = clock.now
        var count = 0
        while clock.now - start < .seconds(seconds) {
            try roundTrip()
            count += 1
        }
        let elapsed = clock.now - start
        let (whole, fraction) = elapsed.components
        return Double(count) / (Double(whole) + Double(fraction) / 1e18)
    }
}
