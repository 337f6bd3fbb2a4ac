#if canImport(Glibc)
import Glibc
#endif

/// Bounds a blocking round trip that libmariadb would otherwise wait on
/// forever (no read_timeout): at the deadline the socket is shut down, which
/// wakes the blocked read with an error; the connection is then dead and
/// closed by its owner. One thread for the process, started on first use.
final class Watchdog: @unchecked Sendable {
    static let shared = Watchdog()

    private struct Armed {
        let ticket: UInt64
        let socket: Int32
        let deadline: UInt64
        let owner: UInt64
    }

    private let mutex = PThreadMutex()
    private let wakeUp = PThreadCondition()
    private var armed: [Armed] = []
    private var fired: Set<UInt64> = []
    private var nextTicket: UInt64 = 0
    private var thread: pthread_t?
    private var generation = ForkWatch.generation

    private init() {
        ForkWatch.watch(mutex)
    }

    /// Runs `body` (a round trip on `socket`); if it is still running at
    /// `deadline`, the socket is shut down. Returns body's result, and false
    /// when the watchdog fired (the round trip then failed, or its success
    /// came too late to trust the link).
    func guarding(socket: Int32, until deadline: UInt64, owner: UInt64, _ body: () -> Bool) -> Bool {
        guard socket >= 0 else { return false }
        let ticket: UInt64 = mutex.withLock {
            startThreadIfNeeded()
            nextTicket += 1
            armed.append(Armed(ticket: nextTicket, socket: socket, deadline: deadline, owner: owner))
            return nextTicket
        }
        wakeUp.signal()
        let succeeded = body()
        let didFire: Bool = mutex.withLock {
            armed.removeAll { $0.ticket == ticket }
            return fired.remove(ticket) != nil
        }
        return succeeded && !didFire
    }

    /// Fires every round trip `owner` is waiting on now (its pool is closing).
    func fireAll(owner: UInt64) {
        mutex.withLock {
            for entry in armed where entry.owner == owner { fire(entry) }
            armed.removeAll { $0.owner == owner }
        }
    }

    /// Under the lock.
    private func fire(_ entry: Armed) {
        shutdown(entry.socket, Int32(SHUT_RDWR))
        fired.insert(entry.ticket)
    }

    /// Under the lock. A forked child has no watchdog thread: start one.
    private func startThreadIfNeeded() {
        if generation != ForkWatch.generation {
            generation = ForkWatch.generation
            thread = nil
            armed = []
        }
        guard thread == nil else { return }
        var created = pthread_t()
        let context = Unmanaged.passUnretained(self).toOpaque()
        if pthread_create(&created, nil, { raw in
            Unmanaged<Watchdog>.fromOpaque(raw!).takeUnretainedValue().run()
            return nil
        }, context) == 0 {
            pthread_detach(created)
            thread = created
        }
    }

    private func run() {
        mutex.withLock {
            while generation == ForkWatch.generation {
                let now = MonotonicClock.now()
                for entry in armed where entry.deadline <= now { fire(entry) }
                armed.removeAll { $0.deadline <= now }
                let next = armed.map(\.deadline).min() ?? now &+ 1_000_000_000
                wakeUp.wait(on: mutex, until: next)
            }
        }
    }
}
