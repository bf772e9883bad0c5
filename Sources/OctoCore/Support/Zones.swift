#if canImport(Glibc)
import Glibc
#endif

/// IANA time zone names, checked against the system's zoneinfo database.
public enum Zones {
    public static let directory = "/usr/share/zoneinfo"

    /// True if `name` is a zone in the zoneinfo database (`Europe/London`, `UTC`, …).
    public static func isKnown(_ name: String) -> Bool {
        guard !name.isEmpty, name.utf8.count <= 64, !name.hasPrefix("/"), !name.contains(".."),
              name.unicodeScalars.allSatisfy({ $0.isASCII && ($0.properties.isAlphabetic || "0123456789/_+-".unicodeScalars.contains($0)) })
        else { return false }
        guard let head = readPrefix(directory + "/" + name, count: 4) else { return false }
        return head == Array("TZif".utf8)
    }

    /// The zone this machine runs in: `$TZ` if it names a zone, else the
    /// target of `/etc/localtime`, else `/etc/timezone`, else `UTC`.
    public static func local(environment: [String: String]) -> String {
        if var tz = environment["TZ"], !tz.isEmpty {
            if tz.hasPrefix(":") { tz.removeFirst() }
            if let r = tz.firstRange(of: "zoneinfo/") { tz = String(tz[r.upperBound...]) }
            if isKnown(tz) { return tz }
        }
        if let target = readLink("/etc/localtime"), let r = target.firstRange(of: "zoneinfo/") {
            let name = String(target[r.upperBound...])
            if isKnown(name) { return name }
        }
        if let text = readTextFile("/etc/timezone") {
            let name = text.trimmingWhitespace()
            if isKnown(name) { return name }
        }
        return "UTC"
    }

    private static func readPrefix(_ path: String, count: Int) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var buf = [UInt8](repeating: 0, count: count)
        let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, count) }
        return n == count ? buf : nil
    }
}
