#if canImport(Glibc)
    import Glibc
#endif

/// A thread that stores one batch of log lines while its owner reads and
/// parses the next: on one thread, `octo logger` parsed while the server
/// waited and waited while the server loaded (docs/benchmarks.md "Ingest").
///
/// At most one batch is in flight: `hand(_:)` waits until the thread took the
/// previous one and stored it, so batches are stored in the order they were
/// handed, memory stays at two batches, and a slow database slows the reader
/// exactly as a store on the reader's thread did.
///
/// `@unchecked Sendable`, because `store` and `idle` close over a `LogWriter`
/// and its `Connection` (and the writer's `connect` closure), which are not
/// `Sendable`. What makes that sound: the owner gives the closures state of
/// their own (`LogPipeline.Sink`, never the pipeline) and does not touch it
/// from the first `hand` until `stop()` returned (the thread has ended); what
/// passes between the two threads — a batch, a failure — passes under `lock`,
/// which orders their memory accesses. The stop signals are blocked on the
/// thread, so a SIGTERM never interrupts a query (`octo_catch_stop_signals`
/// installs its handler without `SA_RESTART`); the owner's thread receives
/// them.
final class StoreThread: @unchecked Sendable {
    private let lock = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let changed = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var thread: pthread_t?
    /// The batch handed and not yet taken by the thread.
    private var handed: [LogLine]?
    /// The thread is storing a batch.
    private var busy = false
    private var stopping = false
    /// Why the last store failed, until `waitUntilIdle` or `stop` hands it to the owner.
    private var failure: (any Error)?
    /// Stores a batch (on the thread; it may empty the array to free it early); returns why it failed.
    private let store: (inout [LogLine]) -> (any Error)?
    /// Seconds until the idle thread should store an empty batch (a spool replay is due then), nil: never.
    private let idle: () -> Double?

    init(store: @escaping (inout [LogLine]) -> (any Error)?, idle: @escaping () -> Double?) {
        (self.store, self.idle) = (store, idle)
        pthread_mutex_init(lock, nil)
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        pthread_cond_init(changed, &attributes)
        pthread_condattr_destroy(&attributes)
    }

    deinit {
        _ = stop()
        pthread_cond_destroy(changed)
        pthread_mutex_destroy(lock)
        changed.deallocate()
        lock.deallocate()
    }

    /// Hands `lines` to the thread (starting it the first time) once it stored the previous batch.
    func hand(_ lines: [LogLine]) {
        if thread == nil && !start() {
            // no thread to be had (a process limit): store here, as before there was one
            var lines = lines
            let failed = store(&lines)
            pthread_mutex_lock(lock)
            failure = failed  // the latest store covers every line still pending
            pthread_mutex_unlock(lock)
            return
        }
        pthread_mutex_lock(lock)
        while busy || handed != nil { pthread_cond_wait(changed, lock) }
        handed = lines
        pthread_cond_broadcast(changed)
        pthread_mutex_unlock(lock)
    }

    /// The thread has a batch to store.
    var isBusy: Bool {
        guard thread != nil else { return false }
        pthread_mutex_lock(lock)
        defer { pthread_mutex_unlock(lock) }
        return busy || handed != nil
    }

    /// Waits until the thread stored every batch handed to it; returns (and forgets) why a store failed.
    func waitUntilIdle() -> (any Error)? {
        pthread_mutex_lock(lock)
        defer { pthread_mutex_unlock(lock) }
        while thread != nil && (busy || handed != nil) { pthread_cond_wait(changed, lock) }
        defer { failure = nil }
        return failure
    }

    /// Waits until every batch handed is stored and ends the thread; the owner may then use what the closures
    /// hold again. Returns (and forgets) why a store failed.
    func stop() -> (any Error)? {
        if let thread {
            precondition(pthread_equal(thread, pthread_self()) == 0, "the store thread cannot stop itself")
            pthread_mutex_lock(lock)
            stopping = true
            pthread_cond_broadcast(changed)
            pthread_mutex_unlock(lock)
            pthread_join(thread, nil)
            self.thread = nil
            stopping = false
        }
        return waitUntilIdle()
    }

    private func start() -> Bool {
        // the thread inherits the mask: block the stop signals for it alone, then restore ours
        var stops = sigset_t()
        var previous = sigset_t()
        sigemptyset(&stops)
        for s in [SIGTERM, SIGINT, SIGHUP, SIGPIPE] { sigaddset(&stops, s) }
        pthread_sigmask(SIG_BLOCK, &stops, &previous)
        defer { pthread_sigmask(SIG_SETMASK, &previous, nil) }
        var id = pthread_t()
        let context = Unmanaged.passRetained(self).toOpaque()
        let rc = pthread_create(
            &id, nil,
            { context in
                let me = Unmanaged<StoreThread>.fromOpaque(context!).takeRetainedValue()
                me.loop()
                return nil
            }, context)
        guard rc == 0 else {
            Unmanaged<StoreThread>.fromOpaque(context).release()
            return false
        }
        thread = id
        return true
    }

    private func loop() {
        pthread_mutex_lock(lock)
        while true {
            var lines: [LogLine] = []
            if let next = handed {
                lines = next
                handed = nil
            } else if stopping {
                break
            } else {
                switch idle() {
                case nil:
                    pthread_cond_wait(changed, lock)
                    continue
                case let wait? where wait > 0:
                    var deadline = timespec()
                    clock_gettime(CLOCK_MONOTONIC, &deadline)
                    let nanoseconds = Int(deadline.tv_nsec) + Int(wait.truncatingRemainder(dividingBy: 1) * 1e9)
                    deadline.tv_sec += Int(wait) + nanoseconds / 1_000_000_000
                    deadline.tv_nsec = nanoseconds % 1_000_000_000
                    pthread_cond_timedwait(changed, lock, &deadline)
                    continue
                default:
                    break  // a replay is due: storing nothing replays
                }
            }
            busy = true
            pthread_mutex_unlock(lock)
            let failed = store(&lines)
            pthread_mutex_lock(lock)
            failure = failed  // the latest store covers every line still pending
            busy = false
            pthread_cond_broadcast(changed)
        }
        pthread_mutex_unlock(lock)
    }
}
