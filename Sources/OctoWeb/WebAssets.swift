import OctoCore

#if canImport(Glibc)
    import Glibc
#endif

/// Where the dashboard's templates and static files are: `OCTO_WEB_ASSETS`, else `../share/octo/web` beside
/// the executable (the Debian package: /usr/share/octo/web), else the source tree this binary was built from.
public struct WebAssets: Sendable {
    public let root: String

    public init(root: String) { self.root = root }

    public static func locate(environment: [String: String]) throws -> WebAssets {
        var candidates: [String] = []
        if let e = environment["OCTO_WEB_ASSETS"], !e.isEmpty { candidates.append(e) }
        if let exe = executablePath() {
            let dir = exe.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
            candidates.append(dir + "/../share/octo/web")
        }
        let source = #filePath.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
        candidates.append(source + "/Assets")
        for c in candidates where access(c + "/templates/head.mustache", R_OK) == 0 { return WebAssets(root: c) }
        throw OctoError.failure(
            "the dashboard's templates are not in any of: \(candidates.joined(separator: ", ")) (set OCTO_WEB_ASSETS)")
    }

    static func executablePath() -> String? {
        var buffer = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard n > 0 else { return nil }
        return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    func read(_ relative: String) throws -> [UInt8] {
        let path = root + "/" + relative
        guard let f = fopen(path, "rb") else { throw OctoError.failure("cannot read \(path)") }
        defer { fclose(f) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = fread(&chunk, 1, chunk.count, f)
            if n <= 0 { break }
            out += chunk[0..<n]
        }
        return out
    }
}
