import Dispatch
import MariaDB
import OctoCore
import Synchronization

/// Bridges the synchronous MariaDB layer to the server's async handlers: a few connections, each confined to
/// a serial queue of its own (a connection is never shared between threads). A handler borrows a free one for
/// one unit of work, which runs with the usual retry rules; with all busy, it waits its turn.
public final class DatabasePool: Sendable {
    final class Worker: @unchecked Sendable {
        // touched only on `queue`
        let queue: DispatchQueue
        var connection: Connection?
        init(_ i: Int) { queue = DispatchQueue(label: "octo-web.db.\(i)") }
    }

    actor FreeList {
        var free: [Int]
        var waiting: [CheckedContinuation<Int, Never>] = []
        init(_ n: Int) { free = Array(0..<n) }
        func take() async -> Int {
            if let i = free.popLast() { return i }
            return await withCheckedContinuation { waiting.append($0) }
        }
        func give(_ i: Int) {
            if waiting.isEmpty { free.append(i) } else { waiting.removeFirst().resume(returning: i) }
        }
    }

    let workers: [Worker]
    let freeList: FreeList
    let open: @Sendable () throws -> Connection
    private let units = Atomic<Int>(0)
    /// Units of work run so far (for tests: what fifty live followers cost the database).
    public var unitsOfWork: Int { units.load(ordering: .relaxed) }

    /// `size` connections, opened on first use by `open`.
    public init(size: Int, open: @escaping @Sendable () throws -> Connection) {
        workers = (0..<max(1, size)).map(Worker.init)
        freeList = FreeList(max(1, size))
        self.open = open
    }

    /// Runs `body` on a connection of the pool (retried as one unit of work on a lost connection or a deadlock).
    public func run<T: Sendable>(_ body: @escaping @Sendable (Connection) throws -> T) async throws -> T {
        units.add(1, ordering: .relaxed)
        let i = await freeList.take()
        let w = workers[i]
        let open = self.open
        let result: Result<T, any Error> = await withCheckedContinuation { done in
            w.queue.async {
                do {
                    let db = try w.connection ?? open()
                    w.connection = db
                    done.resume(returning: .success(try db.retrying { try body($0) }))
                } catch {
                    // a refusal (bad input, not found) leaves the connection as it was; anything else may have
                    // left it broken or inside a transaction: the next unit of work opens a new one
                    if !(error is OctoError) {
                        w.connection?.close()
                        w.connection = nil
                    }
                    done.resume(returning: .failure(error))
                }
            }
        }
        await freeList.give(i)
        return try result.get()
    }

    /// Closes every connection (waits for the work in progress).
    public func close() {
        for w in workers {
            w.queue.sync {
                w.connection?.close()
                w.connection = nil
            }
        }
    }
}
