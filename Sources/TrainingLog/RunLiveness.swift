import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Whether the process that writes a run's main log is still alive, found without a pid file.
///
/// The server and `backprop train` keep `server.jsonl` / `train.jsonl` open for writing from
/// start to end, so on Linux it is enough to look for a process holding that file open for
/// writing in `/proc/*/fd`. A server on another machine (a run directory on a shared disk) is
/// found through its `endpoint` file, which exists exactly while it listens: a TCP connection
/// to that address succeeds only while the server is up.
public enum RunLiveness {
    /// True if a process on this machine has `path` open for writing; nil where `/proc` cannot tell.
    public static func someProcessWrites(_ path: String) -> Bool? {
        #if os(Linux)
        var target = stat()
        guard stat(path, &target) == 0 else { return false }
        let name = (path as NSString).lastPathComponent
        guard let proc = opendir("/proc") else { return nil }
        defer { closedir(proc) }
        while let entry = readdir(proc) {
            let pid = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            guard let first = pid.utf8.first, (48...57).contains(first) else { continue }
            let fdDirectory = "/proc/\(pid)/fd"
            guard let fds = opendir(fdDirectory) else { continue }
            defer { closedir(fds) }
            while let fdEntry = readdir(fds) {
                let fd = withUnsafeBytes(of: fdEntry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
                guard fd != ".", fd != ".." else { continue }
                let link = "\(fdDirectory)/\(fd)"
                var buffer = [CChar](repeating: 0, count: 4096)
                let count = readlink(link, &buffer, buffer.count - 1)
                guard count > 0 else { continue }
                let opened = String(decoding: buffer.prefix(count).map { UInt8(bitPattern: $0) }, as: UTF8.self)
                guard opened.hasSuffix("/" + name) else { continue }
                var info = stat()
                guard stat(link, &info) == 0, info.st_dev == target.st_dev, info.st_ino == target.st_ino else { continue }
                if openedForWriting(pid: pid, fd: fd) { return true }
            }
        }
        return false
        #else
        return nil
        #endif
    }

    /// True if process `pid` is alive (not a zombie) and its command line runs a program named `program`
    /// with `argument` among its arguments: a recorded pid that was recycled by another process does not count.
    /// nil where `/proc` cannot tell.
    public static func process(_ pid: Int32, runs program: String, with argument: String) -> Bool? {
        #if os(Linux)
        guard pid > 0 else { return false }
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else { return false }
        // The state follows the command name, which is in parentheses and may itself hold ") ".
        guard let close = stat.range(of: ") ", options: .backwards),
              let state = stat[close.upperBound...].first, !"ZXx".contains(state) else { return false }
        guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return false }
        let arguments = data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
        return arguments.contains { ($0 as NSString).lastPathComponent == program } && arguments.contains(argument)
        #else
        return nil
        #endif
    }

    /// Reads the `flags:` line of `/proc/<pid>/fdinfo/<fd>`: the file's open mode, in octal.
    private static func openedForWriting(pid: String, fd: String) -> Bool {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/fdinfo/\(fd)", encoding: .utf8) else { return false }
        for line in text.split(separator: "\n") where line.hasPrefix("flags:") {
            let digits = line.dropFirst(6).trimmingCharacters(in: .whitespaces)
            guard let flags = Int(digits, radix: 8) else { return false }
            return flags & Int(O_ACCMODE) != Int(O_RDONLY)
        }
        return false
    }

    /// True if the `tcp://host:port` in `endpointFile` accepts a TCP connection within `timeout` seconds.
    public static func endpointAnswers(_ endpointFile: String, timeout: Double = 0.5) -> Bool {
        guard let text = try? String(contentsOfFile: endpointFile, encoding: .utf8) else { return false }
        let endpoint = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard endpoint.hasPrefix("tcp://"), let colon = endpoint.lastIndex(of: ":") else { return false }
        var host = String(endpoint[endpoint.index(endpoint.startIndex, offsetBy: 6)..<colon])
        let port = String(endpoint[endpoint.index(after: colon)...])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        if host == "*" || host == "0.0.0.0" || host.isEmpty { host = "127.0.0.1" }
        if host == "::" { host = "::1" }
        return connects(host: host, port: port, timeout: timeout)
    }

    private static func connects(host: String, port: String, timeout: Double) -> Bool {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        #if os(Linux)
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        #else
        hints.ai_socktype = SOCK_STREAM
        #endif
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, port, &hints, &list) == 0, let first = list else { return false }
        defer { freeaddrinfo(list) }
        var next: UnsafeMutablePointer<addrinfo>? = first
        while let info = next {
            next = info.pointee.ai_next
            let fd = socket(info.pointee.ai_family, info.pointee.ai_socktype, info.pointee.ai_protocol)
            guard fd >= 0 else { continue }
            defer { close(fd) }
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            if connect(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0 { return true }
            guard errno == EINPROGRESS else { continue }
            var poller = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
            guard poll(&poller, 1, Int32(timeout * 1000)) == 1 else { continue }
            var error: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            if getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) == 0 && error == 0 { return true }
        }
        return false
    }
}
