import MariaDB
import OctoTime

#if canImport(Glibc)
    import Glibc
#endif

/// The local log spool: where lines go while the database is unreachable,
/// until a later `octo logger`, `consume` or `monitor` replays them.
///
/// Layout: `$OCTO_STATE_DIR/spool/<µs since 1970>-<pid>-<stream>.spool`, one
/// file per spooling episode of one `LogWriter` stream. A file starts with a
/// header (magic, machine, stream id) followed by records
/// `[u32 length][u32 CRC-32][payload]`; the payload is one line with its
/// sequence number and time, exactly as it would have been inserted.
///
/// Exactly once: a spooled line keeps its `(stream_id, seq, logged_at)`, the
/// unique key of `logs`, and the insert ignores a line already stored. So a
/// replay can stop at any point (kill -9) and simply start again from the
/// top: lines already stored are skipped, the rest follow in order. A file is
/// removed only after every line in it is stored.
///
/// Concurrency: the writing process holds an exclusive `flock` on its file
/// for as long as it may append; a replayer takes each file with a
/// non-blocking `flock` and skips files someone else holds. A file becomes
/// visible (renamed from `.new`) only once it is locked, so no replayer can
/// take a file its writer has not locked yet.
///
/// Durability: records are written and `fdatasync`ed before a line counts as
/// spooled. A record torn by a crash mid-append (never acknowledged) fails
/// its length or CRC check and ends the file there.
public struct Spool: Sendable {
    public let directory: String

    /// The spool under a state directory (`OctoConfig.stateDirectory`).
    public init(stateDirectory: String) { directory = stateDirectory + "/spool" }

    static let magic: [UInt8] = Array("OCTOSPL1".utf8)

    /// Spool files waiting for replay, oldest first (names sort by creation time).
    public func files() -> [String] {
        listDirectory(directory).filter { $0.hasSuffix(".spool") && !$0.hasPrefix(".") }.sorted().map {
            directory + "/" + $0
        }
    }

    /// How many lines wait in the spool (for `doctor` and tests).
    public func pendingLineCount() -> Int {
        files().reduce(0) { n, f in n + ((try? SpoolFile.Reader(path: f))?.count() ?? 0) }
    }

    // MARK: - Replay

    /// What a replay did.
    /// A spool file set aside because the database refuses a line of it, and the error.
    public struct Refused: Sendable, Equatable {
        public var file: String
        public var error: String
    }

    public struct Replayed: Sendable, Equatable {
        public var files = 0
        public var lines = 0
        /// Files skipped because another process holds them (a logger still writing, another replay).
        public var busy = 0
        /// Files of another spool format version (an octo of another
        /// version wrote them): left for it.
        public var otherVersion = 0
        /// Files that are not octo spool files or have a damaged header,
        /// renamed to `NAME.unreadable` so that they no longer stop the
        /// replay of the others; kept for a person to look at.
        public var setAside: [String] = []
        /// Files holding a line the database refuses for good (a value out of range: only an older octo could
        /// spool one), renamed to `NAME.refused` with the error, so that they no longer stop the replay of the
        /// others (the lines before it are stored; the file stays for a person).
        public var refused: [Refused] = []
        /// Files with a damaged record and more after it, renamed to `NAME.damaged` once the lines before it
        /// are stored (the rest is kept for a person, not removed with the file).
        public var damaged: [String] = []
    }

    /// Replays every spool file no other process holds, oldest first, into
    /// `logs`; each file is removed once all its lines are stored. Stops at
    /// the first database error (the rest waits for the next replay) and
    /// throws it. A file without a readable header is set aside (`setAside`),
    /// and so is one with a line the database refuses for good (`refused`).
    /// Only a private spool (this user's, in a private state directory) is
    /// replayed, and only regular files of this user's in it: lines from a
    /// directory others can write would be stored as this user's, and a
    /// FIFO would hang every octo that replays.
    @discardableResult
    public func replay(_ db: Connection) throws -> Replayed {
        var done = Replayed()
        let paths = files()
        guard !paths.isEmpty else { return done }  // (nothing to say every minute about an empty spool)
        let parent = String(directory.dropLast("/spool".count))
        if let problem = privateDirectoryProblem(directory) ?? privateDirectoryProblem(parent) {
            throw OctoError.failure(problem + " (the log spool is not replayed from it)")
        }
        for path in paths {
            // not following a link, not waiting for a FIFO's writer
            let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOFOLLOW)
            if fd < 0 && errno == ELOOP {
                let aside = path + ".unreadable"
                if rename(path, aside) == 0 { done.setAside.append(aside) }
                continue
            }
            guard fd >= 0 else { continue }  // another replay just finished it
            defer { close(fd) }
            var own = stat()
            guard fstat(fd, &own) == 0 else { continue }
            if (own.st_mode & S_IFMT) != S_IFREG || own.st_uid != geteuid() {
                let aside = path + ".unreadable"
                if rename(path, aside) == 0 { done.setAside.append(aside) }
                continue
            }
            guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
                done.busy += 1
                continue
            }
            var st = stat()
            guard fstat(fd, &st) == 0, st.st_nlink > 0 else { continue }  // removed after our open
            guard let reader = try? SpoolFile.Reader(fd: fd) else {
                var head = [UInt8](repeating: 0, count: Spool.magic.count)
                if pread(fd, &head, head.count, 0) == head.count, head.prefix(7) == Spool.magic.prefix(7),
                    head[7] != Spool.magic[7]
                {
                    done.otherVersion += 1  // "OCTOSPL" and another version digit
                    continue
                }
                let aside = path + ".unreadable"
                if rename(path, aside) == 0 { done.setAside.append(aside) }
                continue
            }
            do {
                done.lines += try SpoolFile.replay(reader, into: db)
            } catch let e as MariaDBError where e.isRefusedValue {
                let aside = path + ".refused"
                if rename(path, aside) == 0 { done.refused.append(Refused(file: aside, error: "\(e)")) }
                continue
            }
            if reader.damaged {
                let aside = path + ".damaged"
                if rename(path, aside) == 0 { done.damaged.append(aside) }
                continue
            }
            unlink(path)
            done.files += 1
        }
        return done
    }
}

/// One spool file: writing, reading and replaying it.
enum SpoolFile {
    /// A spooled line as stored in a record.
    struct Record: Equatable {
        var seq: Int64
        var line: LogLine
    }

    // MARK: Writing

    /// An open spool file of one stream, locked for as long as it is open.
    final class Writer {
        let path: String
        private var fd: Int32

        /// Creates a new, locked spool file in `directory` (created if missing).
        init(directory: String, machine: String, streamID: Int64) throws(OctoError) {
            try makeStateSubdirectory(directory)
            let stamp = String(Instant.now().microseconds)
            let name =
                String(repeating: "0", count: max(0, 17 - stamp.count)) + stamp + "-" + String(getpid()) + "-"
                + String(UInt64(bitPattern: streamID), radix: 16)
            path = directory + "/" + name + ".spool"
            let temporary = directory + "/." + name + ".new"
            fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
            guard fd >= 0 else {
                throw OctoError.failure(
                    "cannot create a log spool file in \(directory): \(String(cString: strerror(errno)))")
            }
            var header = Spool.magic
            appendString(&header, machine, width: 2)
            appendInt(&header, streamID)
            guard flock(fd, LOCK_EX) == 0, writeAll(fd, header), fdatasync(fd) == 0, rename(temporary, path) == 0 else {
                let e = errno
                Glibc.close(fd)
                unlink(temporary)
                fd = -1
                throw OctoError.failure("cannot write the log spool file \(path): \(String(cString: strerror(e)))")
            }
            fsyncDirectory(directory)
        }

        /// Appends the lines and waits until they are on disk. A failed append
        /// (a full disk) leaves the file as it was before it — a torn record
        /// would end the file for its reader and hide every later append.
        func append(_ records: some Sequence<(LogLine, Int64)>) throws(OctoError) {
            let before = lseek(fd, 0, SEEK_END)
            // written a piece at a time: a batch is never held twice in memory (once more as records)
            var bytes: [UInt8] = []
            var written = true
            for (line, seq) in records {
                guard written else { break }
                SpoolFile.encode(Record(seq: seq, line: line), into: &bytes)
                if bytes.count >= 256 << 10 {
                    written = writeAll(fd, bytes)
                    bytes.removeAll(keepingCapacity: true)
                }
            }
            guard written, writeAll(fd, bytes), fdatasync(fd) == 0 else {
                let e = errno
                if before >= 0 {
                    _ = ftruncate(fd, before)
                    _ = lseek(fd, before, SEEK_SET)
                }
                throw OctoError.failure("cannot write the log spool file \(path): \(String(cString: strerror(e)))")
            }
        }

        /// Replays this file's lines (we hold its lock) and removes it.
        /// Returns the number of lines stored.
        func replayAndRemove(into db: Connection) throws -> Int {
            let r = open(path, O_RDONLY | O_CLOEXEC)
            guard r >= 0 else {
                throw OctoError.failure("cannot read the log spool file \(path): \(String(cString: strerror(errno)))")
            }
            defer { Glibc.close(r) }
            let reader = try Reader(fd: r)
            let n = try SpoolFile.replay(reader, into: db)
            if !reader.damaged || rename(path, path + ".damaged") != 0 { unlink(path) }
            close()
            return n
        }

        /// Closes the file (and so releases its lock); it stays for a later replay.
        func close() {
            if fd >= 0 { Glibc.close(fd) }
            fd = -1
        }

        deinit { close() }
    }

    // MARK: Reading

    /// Reads a spool file record by record, with a bounded buffer.
    final class Reader {
        private(set) var machine: String
        private(set) var streamID: Int64
        private let fd: Int32
        private let ownsFD: Bool
        private var buffer: [UInt8] = []
        private var position = 0
        private var eof = false
        /// The reading stopped at a bad record with more of the file after it: damage (a disk's, a person's),
        /// not the torn tail a crash mid-append leaves, so the rest is not thrown away with the file.
        private(set) var damaged = false

        convenience init(path: String) throws(OctoError) {
            let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOFOLLOW)  // a FIFO must not hang `doctor`
            guard fd >= 0 else {
                throw OctoError.failure("cannot read the log spool file \(path): \(String(cString: strerror(errno)))")
            }
            try self.init(fd: fd, owns: true)
        }

        init(fd: Int32, owns: Bool = false) throws(OctoError) {
            self.fd = fd
            ownsFD = owns
            lseek(fd, 0, SEEK_SET)
            // placeholders until the header is read
            machine = ""
            streamID = 0
            let bad = OctoError.failure("not an octo log spool file (bad header)")
            guard let magic = take(8), Array(magic) == Spool.magic, let ml = take(2).map(SpoolFile.uint),
                let m = take(Int(ml)), let s = take(8).map(SpoolFile.uint)
            else {
                throw bad  // fully initialised: deinit closes an owned fd
            }
            (machine, streamID) = (String(decoding: m, as: UTF8.self), Int64(bitPattern: s))
        }

        deinit { if ownsFD { close(fd) } }

        /// The next intact record, or nil at the end (or at a torn record).
        func next() -> Record? {
            guard let head = take(8) else { return nil }
            let length = Int(SpoolFile.uint(head.prefix(4)))
            let crc = UInt32(SpoolFile.uint(head.suffix(4)))
            guard length <= 1 << 24 else {
                damaged = take(1) != nil
                return nil
            }
            guard let payload = take(length) else { return nil }  // the file ends inside it: a torn tail
            guard CRC32.checksum(payload) == crc, let record = SpoolFile.decode(payload) else {
                damaged = take(1) != nil
                return nil
            }
            return record
        }

        func count() -> Int {
            var n = 0
            while next() != nil { n += 1 }
            return n
        }

        private func take(_ n: Int) -> ArraySlice<UInt8>? {
            while buffer.count - position < n && !eof {
                if position > 0 {
                    buffer.removeFirst(position)
                    position = 0
                }
                var chunk = [UInt8](repeating: 0, count: max(65_536, n))
                let got = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                if got < 0 && errno == EINTR { continue }
                if got <= 0 {
                    eof = true
                    break
                }
                buffer.append(contentsOf: chunk[0..<got])
            }
            guard buffer.count - position >= n else { return nil }
            defer { position += n }
            return buffer[position..<(position + n)]
        }
    }

    /// Inserts every line of the file open at `fd`, in order, in batches.
    static func replay(_ reader: Reader, into db: Connection) throws -> Int {
        var batch: [(LogLine, Int64)] = []
        var total = 0
        func send() throws {
            try db.retrying { db in
                try LogStore.insert(db, batch[...], machine: reader.machine, streamID: reader.streamID)
            }
            total += batch.count
            batch.removeAll(keepingCapacity: true)
        }
        while let r = reader.next() {
            batch.append((r.line, r.seq))
            if batch.count == LogStore.largestBatch { try send() }
        }
        if !batch.isEmpty { try send() }
        return total
    }

    // MARK: Encoding

    static func encode(_ r: Record, into out: inout [UInt8]) {
        var p: [UInt8] = []
        appendInt(&p, r.seq)
        appendInt(&p, r.line.loggedAt.microseconds)
        appendInt(&p, r.line.runID ?? 0)
        let level = UInt8(LogLevel.allCases.firstIndex(of: r.line.level)!)
        p += [level, UInt8(r.line.code.map { $0.rawValue - 99 } ?? 0), r.line.truncated ? 1 : 0]
        appendString(&p, r.line.jobName, width: 2)
        appendString(&p, r.line.content, width: 4)
        appendUInt(&out, UInt64(p.count), width: 4)
        appendUInt(&out, UInt64(CRC32.checksum(p[...])), width: 4)
        out += p
    }

    static func decode(_ p: ArraySlice<UInt8>) -> Record? {
        var i = p.startIndex
        func take(_ n: Int) -> ArraySlice<UInt8>? {
            guard p.endIndex - i >= n else { return nil }
            defer { i += n }
            return p[i..<(i + n)]
        }
        guard let seq = take(8).map(uint), let at = take(8).map(uint), let run = take(8).map(uint),
            let flags = take(3), Int(flags[flags.startIndex]) < LogLevel.allCases.count,
            let nl = take(2).map(uint), let name = take(Int(nl)), let cl = take(4).map(uint),
            let content = take(Int(cl))
        else { return nil }
        let codeByte = Int(flags[flags.startIndex + 1])
        let line = LogLine(
            loggedAt: Instant(microsecondsSinceEpoch: Int64(bitPattern: at)),
            jobName: String(decoding: name, as: UTF8.self),
            runID: run == 0 ? nil : Int64(bitPattern: run), level: LogLevel.allCases[Int(flags[flags.startIndex])],
            code: codeByte == 0 ? nil : LogCode(rawValue: codeByte + 99),
            content: String(decoding: content, as: UTF8.self), truncated: flags[flags.startIndex + 2] != 0)
        return Record(seq: Int64(bitPattern: seq), line: line)
    }

    static func uint(_ b: ArraySlice<UInt8>) -> UInt64 {
        b.reversed().reduce(0) { $0 << 8 | UInt64($1) }  // little-endian
    }

    static func appendUInt(_ out: inout [UInt8], _ v: UInt64, width: Int) {
        for k in 0..<width { out.append(UInt8(truncatingIfNeeded: v >> (8 * k))) }
    }

    static func appendInt(_ out: inout [UInt8], _ v: Int64) { appendUInt(&out, UInt64(bitPattern: v), width: 8) }

    static func appendString(_ out: inout [UInt8], _ s: String, width: Int) {
        let u = Array(s.utf8)
        appendUInt(&out, UInt64(u.count), width: width)
        out += u
    }
}

/// CRC-32 (IEEE 802.3), for spool records.
enum CRC32 {
    static let table: [UInt32] = (0..<256).map { i in
        var c = UInt32(i)
        for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    static func checksum(_ bytes: some Collection<UInt8>) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        for b in bytes { c = table[Int((c ^ UInt32(b)) & 0xff)] ^ (c >> 8) }
        return c ^ 0xFFFF_FFFF
    }
}
