#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#else
#error("mysqlpool's core supports Linux only")
#endif

/// A pthread mutex. The pool needs a mutex that condition variables can wait
/// on, which `Synchronization.Mutex` does not offer; state guarded by it is
/// only reached through `withLock`.
public final class PThreadMutex: @unchecked Sendable {
    let raw: UnsafeMutablePointer<pthread_mutex_t>
    /// Set by ForkWatch.watch (under its lock).
    var isWatched = false

    public init() {
        raw = .allocate(capacity: 1)
        var attributes = pthread_mutexattr_t()
        pthread_mutexattr_init(&attributes)
        #if DEBUG
        pthread_mutexattr_settype(&attributes, Int32(PTHREAD_MUTEX_ERRORCHECK))
        #endif
        let error = pthread_mutex_init(raw, &attributes)
        pthread_mutexattr_destroy(&attributes)
        precondition(error == 0, "pthread_mutex_init failed with \(error)")
    }

    deinit {
        if isWatched { ForkWatch.forget(raw) }
        pthread_mutex_destroy(raw)
        raw.deallocate()
    }

    @inline(__always)
    public func withLock<Result, Failure: Error>(_ body: () throws(Failure) -> Result) throws(Failure) -> Result {
        pthread_mutex_lock(raw)
        defer { pthread_mutex_unlock(raw) }
        return try body()
    }

    /// For ForkWatch, which holds locks from one handler to another.
    func lock() { pthread_mutex_lock(raw) }
    func unlock() { pthread_mutex_unlock(raw) }
}

/// A condition variable on the monotonic clock, used with a `PThreadMutex`.
final class PThreadCondition: @unchecked Sendable {
    private let raw: UnsafeMutablePointer<pthread_cond_t>

    init() {
        raw = .allocate(capacity: 1)
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        let error = pthread_cond_init(raw, &attributes)
        pthread_condattr_destroy(&attributes)
        precondition(error == 0, "pthread_cond_init failed with \(error)")
    }

    deinit {
        pthread_cond_destroy(raw)
        raw.deallocate()
    }

    /// Waits until signalled or until the monotonic clock reads `deadline`
    /// nanoseconds. The caller holds `mutex` (inside its `withLock`).
    func wait(on mutex: PThreadMutex, until deadline: UInt64) {
        var time = timespec(
            tv_sec: Int(deadline / 1_000_000_000),
            tv_nsec: Int(deadline % 1_000_000_000))
        _ = pthread_cond_timedwait(raw, mutex.raw, &time)
    }

    func signal() {
        pthread_cond_signal(raw)
    }
}
