#if canImport(Glibc)
import Glibc
#endif

/// A pool's background thread: runs `pass` every `period` nanoseconds until
/// `pass` returns false or `stop` is called. `pass` holds the pool weakly, so
/// the thread never keeps a pool alive.
final class MaintenanceThread: @unchecked Sendable {
    private let mutex = PThreadMutex()
    private let wakeUp = PThreadCondition()
    private var stopping = false
    private var thread = pthread_t()
    private let period: UInt64
    private let pass: () -> Bool

    init(every period: UInt64, pass: @escaping () -> Bool) {
        self.period = period
        self.pass = pass
        ForkWatch.watch(mutex)
        let context = Unmanaged.passRetained(self).toOpaque()
        let created = pthread_create(&thread, nil, { raw in
            let maintenance = Unmanaged<MaintenanceThread>.fromOpaque(raw!).takeRetainedValue()
            maintenance.run()
            return nil
        }, context)
        if created != 0 {
            // No thread: the pool still works, expiry then happens only at
            // checkout and release.
            Unmanaged<MaintenanceThread>.fromOpaque(context).release()
            stopping = true
        }
    }

    private func run() {
        while true {
            let stopNow: Bool = mutex.withLock {
                if !stopping { wakeUp.wait(on: mutex, until: MonotonicClock.now() &+ period) }
                return stopping
            }
            if stopNow || !pass() { return }
        }
    }

    /// Asks the thread to end and waits for it, unless called from the
    /// thread itself (a pool released by its last pass), which then ends.
    func stop() {
        let alreadyStopping: Bool = mutex.withLock {
            defer { stopping = true }
            return stopping
        }
        wakeUp.signal()
        guard !alreadyStopping else { return }
        if pthread_equal(pthread_self(), thread) != 0 {
            pthread_detach(thread)
        } else {
            pthread_join(thread, nil)
        }
    }
}
