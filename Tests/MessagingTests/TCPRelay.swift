import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A loopback TCP relay that forwards every connection to `127.0.0.1:targetPort` and records the bytes it forwards.
///
/// It stands between a client and a server like a wiretap: what it records is exactly what crossed the wire.
final class TCPRelay: @unchecked Sendable {
    /// The port clients connect to.
    let port: UInt16
    private let targetPort: UInt16
    private let listener: Int32
    private let lock = NSLock()
    private var upstream: [UInt8] = []
    private var downstream: [UInt8] = []
    private var stopping = false
    private let threads = DispatchGroup()

    init(targetPort: UInt16) throws {
        self.targetPort = targetPort
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard listener >= 0 else { throw RelayError("socket", errno) }
        var yes: Int32 = 1
        setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var address = Self.loopback(port: 0)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(listener, 16) == 0 else {
            let code = errno
            close(listener)
            throw RelayError("bind/listen", code)
        }
        var actual = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &actual) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &length) }
        }
        self.listener = listener
        port = UInt16(bigEndian: actual.sin_port)
        threads.enter()
        Thread.detachNewThread { [self] in
            acceptLoop()
            threads.leave()
        }
    }

    /// `tcp://127.0.0.1:<port>` for a ZeroMQ client.
    var endpoint: String { "tcp://127.0.0.1:\(port)" }

    /// Bytes forwarded from clients to the server, and from the server to clients.
    var captured: (upstream: [UInt8], downstream: [UInt8]) {
        lock.lock()
        defer { lock.unlock() }
        return (upstream, downstream)
    }

    /// Stops accepting and forwarding, closes every socket, and waits for the relay's threads.
    func stop() {
        lock.lock()
        stopping = true
        lock.unlock()
        threads.wait()
        close(listener)
    }

    private var isStopping: Bool {
        lock.lock()
        defer { lock.unlock() }
        return stopping
    }

    private func acceptLoop() {
        while !isStopping {
            var item = pollfd(fd: listener, events: Int16(POLLIN), revents: 0)
            guard poll(&item, 1, 50) > 0 else { continue }
            let client = accept(listener, nil, nil)
            guard client >= 0 else { continue }
            let server = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = Self.loopback(port: targetPort)
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(server, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard server >= 0, connected == 0 else {
                close(client)
                if server >= 0 { close(server) }
                continue
            }
            threads.enter()
            Thread.detachNewThread { [self] in
                pump(client: client, server: server)
                threads.leave()
            }
        }
    }

    /// Forwards both ways until either side closes or the relay stops.
    private func pump(client: Int32, server: Int32) {
        defer {
            close(client)
            close(server)
        }
        var buffer = [UInt8](repeating: 0, count: 65_536)
        var items = [pollfd(fd: client, events: Int16(POLLIN), revents: 0), pollfd(fd: server, events: Int16(POLLIN), revents: 0)]
        while !isStopping {
            guard poll(&items, 2, 50) > 0 else { continue }
            for (index, item) in items.enumerated() where item.revents != 0 {
                let from = item.fd, to = index == 0 ? server : client
                let count = read(from, &buffer, buffer.count)
                guard count > 0 else { return }
                let chunk = Array(buffer[0..<count])
                lock.lock()
                if index == 0 { upstream += chunk } else { downstream += chunk }
                lock.unlock()
                var offset = 0
                while offset < count {
                    let sent = chunk[offset...].withUnsafeBytes { write(to, $0.baseAddress, $0.count) }
                    guard sent > 0 else { return }
                    offset += sent
                }
            }
        }
    }

    private static func loopback(port: UInt16) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return address
    }
}

struct RelayError: Error, CustomStringConvertible {
    let description: String

    init(_ call: String, _ code: Int32) {
        description = "\(call) failed: \(String(cString: strerror(code)))"
    }
}

extension Array where Element == UInt8 {
    /// True when `needle` occurs in these bytes.
    func contains(bytes needle: [UInt8]) -> Bool {
        guard !needle.isEmpty, needle.count <= count else { return needle.isEmpty }
        return (0...(count - needle.count)).contains { start in
            self[start] == needle[0] && self[start..<start + needle.count].elementsEqual(needle)
        }
    }
}
