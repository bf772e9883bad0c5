#if canImport(Glibc)
    import Glibc
#endif

/// The whole content of a small text file, or nil if it cannot be read.
/// Invalid UTF-8 is replaced, never fatal.
func readTextFile(_ path: String) -> String? {
    guard let bytes = readFileBytes(path) else { return nil }
    return String(decoding: bytes, as: UTF8.self)
}

extension StringProtocol {
    /// The lines of a text file: split at `\n` and at `\r\n` (which Swift reads as one character, so a plain
    /// split at "\n" would not see it and a file written on Windows would be one line), a last `\r` dropped.
    public var fileLines: [Substring] {
        String(self).split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" }).map {
            $0.hasSuffix("\r") ? $0.dropLast() : $0
        }
    }
}

/// The whole content of a file, or nil if it cannot be opened.
public func readFileBytes(_ path: String) -> [UInt8]? {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var out: [UInt8] = []
    var buf = [UInt8](repeating: 0, count: 16_384)
    while true {
        let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n < 0 {
            if errno == EINTR { continue }
            return nil
        }
        if n == 0 { break }
        out.append(contentsOf: buf[0..<n])
    }
    return out
}

/// Names in a directory (not `.` and `..`); empty if it cannot be listed.
func listDirectory(_ path: String) -> [String] {
    guard let d = opendir(path) else { return [] }
    defer { closedir(d) }
    var names: [String] = []
    while let e = readdir(d) {
        let name = withUnsafeBytes(of: e.pointee.d_name) { raw in
            String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
        }
        if name != "." && name != ".." { names.append(name) }
    }
    return names
}

/// The target of a symbolic link, or nil.
func readLink(_ path: String) -> String? {
    var buf = [CChar](repeating: 0, count: 4096)
    let n = readlink(path, &buf, buf.count - 1)
    guard n > 0 else { return nil }
    return String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

/// This process's environment as a dictionary.
public func processEnvironment() -> [String: String] {
    var env: [String: String] = [:]
    var p = environ
    while let entry = p.pointee {
        let s = String(cString: entry)
        if let eq = s.firstIndex(of: "=") { env[String(s[..<eq])] = String(s[s.index(after: eq)...]) }
        p += 1
    }
    return env
}

/// The host name (`gethostname`).
public func hostName() -> String {
    var buf = [CChar](repeating: 0, count: 256)
    guard gethostname(&buf, buf.count - 1) == 0 else { return "localhost" }
    return String(decoding: buf.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

/// The Unix account running this process (found once: every claim names it, and `getpwuid` reads
/// `/etc/passwd` each time; a failed lookup — a directory service away — is tried again next time).
public func currentUserName() -> String { processUserName ?? userName() ?? String(geteuid()) }

private let processUserName: String? = userName()

private func userName() -> String? {
    guard let pw = getpwuid(geteuid()), let name = pw.pointee.pw_name else { return nil }
    return String(cString: name)
}

/// True if `path` is a directory this process can write into, or could be created.
func isWritableDirectory(_ path: String) -> Bool {
    var p = path
    while !p.isEmpty {
        var st = stat()
        if stat(p, &st) == 0 { return (st.st_mode & S_IFMT) == S_IFDIR && access(p, W_OK | X_OK) == 0 }
        guard let slash = p.lastIndex(of: "/") else { return false }
        p = slash == p.startIndex ? "/" : String(p[..<slash])
        if p == "/" { return access("/", W_OK) == 0 }
    }
    return false
}

// MARK: - Writing (the log spool, local cursors)

/// Writes all of `bytes` (retrying short writes and EINTR).
func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
    bytes.withUnsafeBytes { raw in
        var off = 0
        while off < raw.count {
            let n = write(fd, raw.baseAddress! + off, raw.count - off)
            if n < 0 {
                if errno == EINTR { continue }
                return false
            }
            off += n
        }
        return true
    }
}

/// `mkdir -p` with mode 0700 for what it creates, for a directory of octo's
/// state: the directory itself must then be a real directory (not a
/// symbolic link) owned by this user and writable by nobody else
/// (`privateDirectoryProblem`), else nothing is written there — another
/// user's planted links could make octo overwrite a file elsewhere.
func makeDirectories(_ path: String) throws(OctoError) {
    var prefix = path.hasPrefix("/") ? "" : "."
    for part in path.split(separator: "/", omittingEmptySubsequences: true) {
        prefix += "/" + part
        if mkdir(prefix, 0o700) != 0 && errno != EEXIST {
            throw OctoError.failure("cannot create \(prefix): \(String(cString: strerror(errno)))")
        }
    }
    if let problem = privateDirectoryProblem(path) { throw OctoError.failure(problem) }
}

/// `makeDirectories` for a directory inside the state directory: the state
/// directory (its parent) must be private too, or another user could swap it.
func makeStateSubdirectory(_ path: String) throws(OctoError) {
    try makeDirectories(path)
    if let slash = path.lastIndex(of: "/"), slash != path.startIndex,
        let problem = privateDirectoryProblem(String(path[..<slash]))
    {
        throw OctoError.failure(problem)
    }
}

/// Why `path` is not a safe directory for octo's state (one line with the
/// fix), or nil when it is one: a real directory, owned by this process's
/// user, not writable by group or others. nil too when it does not exist yet.
public func privateDirectoryProblem(_ path: String) -> String? {
    var path = path
    while path.count > 1 && path.hasSuffix("/") { path.removeLast() }  // `link/` would follow the link
    var st = stat()
    guard lstat(path, &st) == 0 else { return nil }
    if (st.st_mode & S_IFMT) == S_IFLNK {
        // a link of this user's own (a state directory on another disk) to a private directory is fine
        guard st.st_uid == geteuid() else {
            return
                "\(path) is a symbolic link of uid \(st.st_uid), not of this user: octo keeps its state only in a directory of its own (set OCTO_STATE_DIR)"
        }
        guard stat(path, &st) == 0 else { return "\(path) is a symbolic link to nothing" }
    }
    if (st.st_mode & S_IFMT) != S_IFDIR { return "\(path) is not a directory" }
    if st.st_uid != geteuid() {
        return
            "\(path) belongs to uid \(st.st_uid), not to this user (uid \(geteuid())): octo keeps its state only in a directory of its own (fix: set OCTO_STATE_DIR, or chown it)"
    }
    if st.st_mode & 0o022 != 0 {
        return "\(path) is writable by others (mode \(String(st.st_mode & 0o777, radix: 8))): fix: chmod go-w \(path)"
    }
    return nil
}

/// Makes a new directory entry durable.
func fsyncDirectory(_ path: String) {
    let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    guard fd >= 0 else { return }
    fsync(fd)
    close(fd)
}

/// An exclusive `flock` on a file, held for as long as this object lives or the
/// process runs. The descriptor is close-on-exec, so no child keeps it.
public final class FileLock {
    private let fd: Int32

    private init(_ fd: Int32) { self.fd = fd }

    /// Takes the lock without waiting: nil when another process holds it.
    /// Creates the file (mode 0600) and its directory if needed.
    public static func tryExclusive(_ path: String) throws(OctoError) -> FileLock? {
        if let slash = path.lastIndex(of: "/"), slash != path.startIndex { try makeDirectories(String(path[..<slash])) }
        let fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw OctoError.failure("cannot open \(path): \(String(cString: strerror(errno)))") }
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let e = errno
            if e == EINTR { continue }
            close(fd)
            if e == EWOULDBLOCK { return nil }
            throw OctoError.failure("cannot lock \(path): \(String(cString: strerror(e)))")
        }
        return FileLock(fd)
    }

    deinit { close(fd) }
}
