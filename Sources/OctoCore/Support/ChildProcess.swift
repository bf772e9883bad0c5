#if canImport(Glibc)
    import Glibc
#endif

/// Runs a short helper program (e.g. `crontab`) to completion with
/// `posix_spawn`, feeding it `input` and collecting its output. For small
/// tools only; jobs are run by the supervisor, not by this.
public enum ChildProcess {
    public struct Result: Sendable {
        public let status: Int32
        public let stdout: [UInt8]
        public let stderr: [UInt8]
    }

    /// `argv[0]` is looked up on PATH.
    ///
    /// With a `timeout` (seconds) the program runs in a process group of its
    /// own, and the timeout bounds the whole run: at the deadline the group
    /// gets SIGTERM, 5 s later SIGKILL, and the result has status 124 (as
    /// `timeout(1)` says). When the program exits, whatever it left in its
    /// group (`sleep 200 &`, holding its output open) is killed, and output
    /// still open a second later (a process that left the group holds it) is
    /// given up, so nothing it started can hold the caller.
    public static func run(_ argv: [String], input: [UInt8] = [], timeout: Double? = nil) throws(OctoError) -> Result {
        let child = try spawn(argv, ownGroup: timeout != nil)
        var watch = Watch(pid: child.pid, deadline: timeout.map { Monotonic.seconds() + $0 })
        let (out, err) = exchange(child, input: input, watch: &watch)
        if watch.deadline != nil {
            // the leader may have closed its output and still run, or exited while others of its group live on:
            // wait for its exit (bounded by the deadline's SIGKILL), then kill the rest before reaping it
            while !watch.exited && watch.check() { usleep(20_000) }
            kill(-child.pid, SIGKILL)
        }
        var status: Int32 = 0
        while waitpid(child.pid, &status, 0) < 0 && errno == EINTR {}
        let code = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        return Result(status: watch.timedOut ? 124 : code, stdout: out, stderr: err)
    }

    /// A started program and our ends of its standard input and outputs.
    private struct Spawned {
        var pid: pid_t
        var stdin: Int32
        var stdout: Int32
        var stderr: Int32
    }

    /// Starts `argv` with pipes for its standard input and outputs, no signal
    /// blocked and default handlers; with `ownGroup`, in a process group of its own.
    private static func spawn(_ argv: [String], ownGroup: Bool) throws(OctoError) -> Spawned {
        var inPipe: [Int32] = [0, 0]
        var outPipe: [Int32] = [0, 0]
        var errPipe: [Int32] = [0, 0]
        guard pipe(&inPipe) == 0, pipe(&outPipe) == 0, pipe(&errPipe) == 0 else {
            throw OctoError.failure("cannot create pipes to run \(argv[0])")
        }
        // our ends must not leak into the child (dup2 onto 0/1/2 clears the flag there)
        for fd in inPipe + outPipe + errPipe { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, inPipe[0], 0)
        posix_spawn_file_actions_adddup2(&actions, outPipe[1], 1)
        posix_spawn_file_actions_adddup2(&actions, errPipe[1], 2)
        var cargs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
        defer { for p in cargs { free(p) } }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // the program starts with no signal blocked and default handlers, whatever this process's thread had
        var none = sigset_t()
        var all = sigset_t()
        sigemptyset(&none)
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setsigdefault(&attributes, &all)
        var flags = Int32(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF)
        if ownGroup {
            flags |= Int32(POSIX_SPAWN_SETPGROUP)
            posix_spawnattr_setpgroup(&attributes, 0)
        }
        posix_spawnattr_setflags(&attributes, Int16(flags))
        var pid: pid_t = 0
        let rc = posix_spawnp(&pid, argv[0], &actions, &attributes, &cargs, environ)
        close(inPipe[0])
        close(outPipe[1])
        close(errPipe[1])
        guard rc == 0 else {
            close(inPipe[1])
            close(outPipe[0])
            close(errPipe[0])
            throw OctoError.failure("cannot run \(argv[0]): \(String(cString: strerror(rc)))")
        }
        return Spawned(pid: pid, stdin: inPipe[1], stdout: outPipe[0], stderr: errPipe[0])
    }

    /// With a deadline: kills what the program left once it exited, or the
    /// group at the deadline (SIGTERM, SIGKILL 5 s later).
    private struct Watch {
        let pid: pid_t
        let deadline: Double?
        var termSentAt: Double?
        var timedOut = false
        var exited = false
        var exitedAt = 0.0

        /// False once waiting longer is pointless (SIGKILL sent 2 s ago; or the program exited a second ago and
        /// its outputs are still open — held by a process that left its group, `setsid …&`: not its output).
        mutating func check() -> Bool {
            guard let deadline else { return true }
            // the group's leader is signalled only while it is not reaped (a zombie keeps its id)
            if !exited, isZombie(pid) {
                exited = true
                exitedAt = Monotonic.seconds()
            }
            if exited {
                kill(-pid, SIGKILL)
                return Monotonic.seconds() < exitedAt + 1
            }
            let now = Monotonic.seconds()
            if termSentAt == nil, now >= deadline {
                kill(-pid, SIGTERM)
                termSentAt = now
                timedOut = true
            }
            if let t = termSentAt, now >= t + 5 {
                kill(-pid, SIGKILL)
                return now < t + 7
            }
            return true
        }
    }

    /// Feeds stdin and drains both outputs together, so no pipe fills up, until both outputs close (or the
    /// watch gives up); closes our ends. Our end of stdin does not block: a program that never reads its
    /// input cannot hold us past the timeout.
    private static func exchange(_ child: Spawned, input: [UInt8], watch: inout Watch) -> ([UInt8], [UInt8]) {
        _ = fcntl(child.stdin, F_SETFL, fcntl(child.stdin, F_GETFL) | O_NONBLOCK)
        var out: [UInt8] = []
        var err: [UInt8] = []
        var written = 0
        var fds = [
            pollfd(fd: child.stdin, events: Int16(POLLOUT), revents: 0),
            pollfd(fd: child.stdout, events: Int16(POLLIN), revents: 0),
            pollfd(fd: child.stderr, events: Int16(POLLIN), revents: 0)
        ]
        if input.isEmpty {
            close(child.stdin)
            fds[0].fd = -1
        }
        var buf = [UInt8](repeating: 0, count: 65_536)
        signal(SIGPIPE, SIG_IGN)
        while fds[1].fd >= 0 || fds[2].fd >= 0 {
            if !watch.check() { break }
            if poll(&fds, 3, watch.deadline == nil ? -1 : 100) < 0 {
                if errno == EINTR { continue }
                break
            }
            if fds[0].fd >= 0, fds[0].revents != 0 {
                let n = input[written...].withUnsafeBytes { write(child.stdin, $0.baseAddress, $0.count) }
                if n > 0 { written += n }
                if (n < 0 && errno != EAGAIN && errno != EINTR) || written == input.count {
                    close(child.stdin)
                    fds[0].fd = -1
                }
            }
            for i in 1...2 where fds[i].fd >= 0 && fds[i].revents != 0 {
                let n = buf.withUnsafeMutableBytes { read(fds[i].fd, $0.baseAddress, $0.count) }
                if n > 0 {
                    if i == 1 { out += buf[0..<n] } else { err += buf[0..<n] }
                } else if n == 0 || errno != EINTR {
                    close(fds[i].fd)
                    fds[i].fd = -1
                }
            }
        }
        if fds[0].fd >= 0 { close(child.stdin) }
        for i in 1...2 where fds[i].fd >= 0 { close(fds[i].fd) }
        return (out, err)
    }

    /// True while `pid` (our child) has exited but is not reaped yet.
    static func isZombie(_ pid: pid_t) -> Bool {
        guard let stat = readFileBytes("/proc/\(pid)/stat"), let close = stat.lastIndex(of: UInt8(ascii: ")")),
            close + 2 < stat.count
        else { return false }
        return stat[close + 2] == UInt8(ascii: "Z")
    }
}
