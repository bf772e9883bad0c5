/// The version of this octo build, recorded in `machines.octo_version`.
public enum OctoVersion {
    public static let string = "0.1.0"
}
