import MariaDB
import OctoTime

/// The audit trail: every change a person makes is one `audit` row, written
/// in the same transaction as the change (`AuditStore.record`), so a change
/// that did not happen has no row and one that happened always has one.
public enum Audit {
    /// What was done, in the words of the command that did it.
    public enum Action: String, SQLTextEnum, Codable {
        case add, edit, rm, pause, resume, run, kill, apply, settings, pass, backfill
        case cursorSet = "cursor set"
        case drain = "register --drain"
        case remove = "register --remove"
        case activate = "register --active"
        case ack = "alerts ack"
        case userAdd = "user add"
        case userRemove = "user rm"
        case userPassword = "user passwd"
    }

    /// One attribute's value before and after (`null` where there was none:
    /// before an add, after a removal).
    public struct Change: Sendable, Equatable {
        public var attribute: String
        public var old: JSON
        public var new: JSON
        public init(_ attribute: String, _ old: JSON, _ new: JSON) {
            (self.attribute, self.old, self.new) = (attribute, old, new)
        }
    }

    /// A change about to be recorded. `job` and `run` say what it touched;
    /// `subject` names anything else (`machine w1`, `alert 7`, `settings`).
    public struct Record: Sendable {
        public var actor: String
        public var action: Action
        public var job: String?
        public var run: Int64?
        public var subject: String
        public var changes: [Change]
        public init(
            _ action: Action, by actor: String, job: String? = nil, run: Int64? = nil, subject: String = "",
            changes: [Change]
        ) {
            (self.action, self.actor, self.job, self.run, self.subject, self.changes) =
                (action, actor, job, run, subject, changes)
        }
    }

    /// A recorded change, as `octo sh audit` lists it.
    public struct Entry: Sendable {
        public var id: Int64
        /// Server time of the transaction that made the change.
        public var at: Instant
        public var record: Record
    }

    /// `{attribute: [old, new]}`: the `changes` column and the `--json` field.
    public static func json(_ changes: [Change]) -> JSON {
        .object(
            Dictionary(changes.map { ($0.attribute, JSON.array([$0.old, $0.new])) }, uniquingKeysWith: { a, _ in a }))
    }

    /// The changes of a stored `{attribute: [old, new]}` object, by attribute name.
    public static func changes(from json: JSON) -> [Change] {
        guard case .object(let o) = json else { return [] }
        return o.keys.sorted().compactMap { k in
            guard case .array(let pair) = o[k]!, pair.count == 2 else { return nil }
            return Change(k, pair[0], pair[1])
        }
    }

    /// The attributes whose text differs between two versions of a job
    /// (`nil` for a job that does not exist on that side), in `Job.attributes` order.
    public static func changes(from old: Job?, to new: Job?) -> [Change] {
        Job.attributes.compactMap { a in
            let before = old.map { a.get($0) }
            let after = new.map { a.get($0) }
            return before == after
                ? nil : Change(a.name, before.map(JSON.string) ?? .null, after.map(JSON.string) ?? .null)
        }
    }
}
