#if canImport(Glibc)
    import Glibc
#endif

/// IANA time zone names, checked against the system's zoneinfo database.
public enum Zones {
    public static let directory = "/usr/share/zoneinfo"

    /// True if `name` is a zone octo can read (`Europe/London`, `UTC`, …):
    /// the same test `Zone.named` makes, so settings and jobs agree.
    public static func isKnown(_ name: String) -> Bool { (try? Zone.named(name)) != nil }

    /// A name that can only point inside the zoneinfo directory.
    static func isSafeName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= 64 && !name.hasPrefix("/") && !name.contains("..")
            && name.unicodeScalars.allSatisfy {
                $0.isASCII && ($0.properties.isAlphabetic || "0123456789/_+-".unicodeScalars.contains($0))
            }
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
}
