import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Starting a program that outlives the command that started it, and collecting its exit status.
public enum DetachedProcess {
    /// Starts `path` with `arguments` in a session of its own (no terminal, so neither Ctrl-C nor a hang-up reaches it),
    /// standard input from /dev/null, standard output and error to `log` (truncated, or appended to when `append`),
    /// no other file descriptor, every signal at its default. Returns the pid, which is the program's: nothing sits between.
    public static func spawn(_ path: String, _ arguments: [String], log: String, append: Bool) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, log, O_WRONLY | O_CREAT | (append ? O_APPEND : O_TRUNC), 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        // Nothing else is inherited: a descriptor of ours left open (the pipe a parent watches to see us end, a log
        // being read) would stay open for as long as the detached program runs.
        for descriptor in openDescriptors() { posix_spawn_file_actions_addclose(&actions, descriptor) }

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t(), all = sigset_t()
        sigemptyset(&none)
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | startsSession))

        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, path, &actions, &attributes, argv, environ)
        guard result == 0 else {
            throw ClusterCommandError.failure("cannot start \(path): \(String(cString: strerror(result)))")
        }
        return pid
    }

    /// This process's open file descriptors above standard error (glibc ignores closing one that has closed since).
    private static func openDescriptors() -> [Int32] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        return names.compactMap { Int32($0) }.filter { $0 > 2 }
    }

    /// `POSIX_SPAWN_SETSID` (glibc 2.26 and later): the child calls setsid() before it runs the program.
    private static var startsSession: Int32 {
        #if os(Linux)
        return 0x80
        #else
        return 0x400
        #endif
    }

    /// The exit status of our child `pid` if it has ended (reaping it), 128 + the signal if a signal ended it;
    /// nil while it runs or when it is not our child.
    public static func reap(_ pid: pid_t) -> Int32? {
        var status: Int32 = 0
        var result: pid_t
        repeat { result = waitpid(pid, &status, WNOHANG) } while result < 0 && errno == EINTR
        guard result == pid else { return nil }
        let signal = status & 0x7f
        return signal == 0 ? (status >> 8) & 0xff : 128 + signal
    }
}
