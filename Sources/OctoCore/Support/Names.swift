/// The rules for names people give to things.
public enum Names {
    /// Job and machine names: `[A-Za-z0-9._-]{1,64}`.
    public static func isValidName(_ s: String) -> Bool {
        let u = s.utf8
        // not only dots: `.` and `..` are path segments, which browsers and URL libraries remove from a link
        return (1...64).contains(u.count) && u.allSatisfy { isNameByte($0) } && !u.allSatisfy { $0 == 0x2e }
    }

    static func isNameByte(_ c: UInt8) -> Bool {
        (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c == 0x2e || c == 0x5f
            || c == 0x2d
    }

    public static let nameRule = "1 to 64 characters from A-Z a-z 0-9 . _ -, not only dots"

    /// Throws a usage error naming `value` unless it is a valid name.
    public static func check(_ what: String, _ value: String) throws(OctoError) {
        guard isValidName(value) else { throw OctoError.invalid(what, value, expected: nameRule) }
    }

    /// A database name octo will put (backquoted) into DDL: `[A-Za-z0-9_$-]{1,64}`.
    public static func checkDatabase(_ value: String) throws(OctoError) {
        let ok =
            (1...64).contains(value.utf8.count) && value.utf8.allSatisfy { isNameByte($0) && $0 != 0x2e || $0 == 0x24 }
        guard ok else {
            throw OctoError.invalid("database name", value, expected: "1 to 64 characters from A-Z a-z 0-9 _ $ -")
        }
    }
}
