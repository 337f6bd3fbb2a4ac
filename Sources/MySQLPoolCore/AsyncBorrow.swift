import CMariaDB
#if canImport(Glibc)
import Glibc
#endif

/// A borrow by an event loop: it never blocks the loop's thread. It waits in
/// the pool's one FIFO queue like a thread does, but is woken through an
/// eventfd the loop watches; the work that needs a round trip (opening a
/// connection, a ping before checkout) runs on a helper thread, which
/// signals the same eventfd when done.
public final class AsyncBorrow<Connection>: @unchecked Sendable {
    public typealias Slot = PooledSlot<Connection>

    enum Phase {
        /// Not in the queue yet, or between steps.
        case starting
        /// In the pool's queue (or handed something, not yet looked at).
        case queued
        /// A helper thread opens or checks a connection.
        case working
        case ready(Slot)
        case failed(PoolError)
        /// Given back by the loop: a helper finishing later releases what it got.
        case cancelled
    }

    /// Owns the eventfd (see Waiter.eventFD).
    let waiter: Waiter<Connection>
    var deadlines: CallDeadlines
    let ping: Bool
    private let lock = PThreadMutex()
    private var phase = Phase.starting

    /// The descriptor that becomes readable when the borrow can go on.
    public var eventFD: Int32 { waiter.eventFD }

    init(eventFD: Int32, deadlines: CallDeadlines, ping: Bool) {
        var deadlines = deadlines
        let (deadline, overflowAt) = deadlines.anchor()
        waiter = Waiter(enqueuedAt: MonotonicClock.now(), deadline: deadline, overflowAt: overflowAt, eventFD: eventFD)
        self.deadlines = deadlines
        self.ping = ping
    }

    /// The phase, and a new one from `update` (nil: unchanged), atomically.
    func transition(_ update: (Phase) -> Phase?) -> Phase {
        lock.withLock {
            let current = phase
            if let next = update(current) { phase = next }
            return current
        }
    }

    func set(_ next: Phase) {
        lock.withLock { phase = next }
    }

    /// Empties the eventfd's counter (it is non-blocking).
    func drain() {
        var count: UInt64 = 0
        _ = read(waiter.eventFD, &count, 8)
    }
}

/// What a start or continue of an AsyncBorrow came to.
public enum AsyncBorrowStep<Connection> {
    case ready(PooledSlot<Connection>)
    /// Wait for the borrow's eventFD to become readable, or for this many
    /// nanoseconds (nil: no timeout; a helper thread is at work).
    case wait(timeoutNanos: UInt64?)
}

extension ConnectionPool {
    public typealias Borrow = AsyncBorrow<Factory.Connection>

    /// Starts a borrow that never blocks: a connection now, or an
    /// AsyncBorrow to wait on (its eventFD) and go on with `continueBorrow`.
    public func startBorrow(timeoutNanos: UInt64? = nil, overflowAfterNanos: UInt64? = 0, ping: Bool = false)
        throws(PoolError) -> (step: AsyncBorrowStep<Factory.Connection>, borrow: Borrow?)
    {
        startOverIfForked()
        let eventFD = mysqlpool_eventfd()
        guard eventFD >= 0 else {
            throw PoolError(.noMemory, "eventfd failed: \(String(cString: strerror(errno)))")
        }
        let deadlines = CallDeadlines(timeout: timeoutNanos ?? settings.defaultTimeoutNanos,
                                      overflowAfter: overflowAfterNanos ?? settings.defaultOverflowAfterNanos)
        let borrow = Borrow(eventFD: eventFD, deadlines: deadlines, ping: ping)
        let step = try advance(borrow)
        if case .ready = step { return (step, nil) }
        return (step, borrow)
    }

    /// Goes on with a borrow after its eventFD became readable or its
    /// timeout passed (a spurious call is harmless).
    public func continueBorrow(_ borrow: Borrow) throws(PoolError) -> AsyncBorrowStep<Factory.Connection> {
        borrow.drain()
        return try advance(borrow)
    }

    /// The loop gives up: the borrow leaves the queue, or what it was given
    /// goes back to the pool.
    public func cancelBorrow(_ borrow: Borrow) {
        borrow.drain()
        let previous = borrow.transition { _ in .cancelled }
        switch previous {
        case .queued:
            let (giveBack, wake) = mutex.withLock { state.cancelWait(borrow.waiter, now: MonotonicClock.now()) }
            wake?.wake()
            if let giveBack { finishRelease(giveBack, .reusable(neededRoundTrip: false)) }
        case .ready(let slot):
            finishRelease(slot, .reusable(neededRoundTrip: false))
        case .starting, .working, .failed, .cancelled:
            break  // a helper still at work gives back what it gets
        }
    }

    /// Takes the borrow as far as it goes without blocking.
    private func advance(_ borrow: Borrow) throws(PoolError) -> AsyncBorrowStep<Factory.Connection> {
        while true {
            switch borrow.transition({ _ in nil }) {
            case .ready(let slot):
                borrow.set(.cancelled)  // handed out: nothing more to give back
                return .ready(lend(slot))
            case .failed(let error):
                throw error
            case .cancelled:
                throw PoolError(.misuse, "the borrow was cancelled")
            case .working:
                return .wait(timeoutNanos: nil)
            case .queued:
                let now = MonotonicClock.now()
                let decision: PoolStateMachine<Factory.Connection>.WaiterCheck =
                    mutex.withLock { state.check(borrow.waiter, now: now) }
                switch decision {
                case .waitUntil(let instant): return .wait(timeoutNanos: instant > now ? instant - now : 0)
                case .done(let outcome):
                    borrow.set(.starting)
                    if let step = try take(outcome, for: borrow) { return step }
                }
            case .starting:
                if let step = try take(acquireWithoutWaiting(borrow), for: borrow) { return step }
            }
        }
    }

    /// What the state machine gives a borrow that must not wait on a
    /// condition: nil when it was queued.
    private func acquireWithoutWaiting(_ borrow: Borrow) -> WaitOutcome<Factory.Connection>? {
        var expired: [Slot] = []
        let now = MonotonicClock.coarse()
        let mayOverflow = borrow.deadlines.mayOverflow()
        let outcome: WaitOutcome<Factory.Connection>? = mutex.withLock {
            switch state.acquire(now: now, mayOverflow: mayOverflow, mayWait: borrow.deadlines.timeout > 0,
                                 expired: &expired) {
            case .lease(let slot, let check): return .lease(slot, check)
            case .create: return .create
            case .fail(let error): return .fail(error)
            case .wait:
                borrow.set(.queued)
                state.enqueue(borrow.waiter)
                return nil
            }
        }
        expired.forEach { retire($0) }
        return outcome
    }

    /// Acts on what the borrow was given; nil to look again (a connection
    /// failed its check, and the borrow asks anew).
    private func take(_ outcome: WaitOutcome<Factory.Connection>?, for borrow: Borrow) throws(PoolError)
        -> AsyncBorrowStep<Factory.Connection>?
    {
        guard let outcome else { return nil }  // queued: the loop asks the queue how long to wait
        switch outcome {
        case .fail(let error):
            borrow.set(.failed(error))
            throw error
        case .create:
            borrow.set(.working)
            startHelper(borrow) { () throws(PoolError) in try self.openForCaller(preferring: nil) }
            return .wait(timeoutNanos: nil)
        case .lease(let slot, let planned):
            if factory.isRetired(slot.connection) {
                finishRelease(slot, .retired(atCheckout: true))
                return nil
            }
            let check = borrow.ping ? LeaseCheck.ping : planned
            if check == .ping {
                // A round trip: on a helper, which tries the next connection
                // the blocking way if this one is dead.
                borrow.set(.working)
                startHelper(borrow) { () throws(PoolError) in
                    var deadlines = borrow.deadlines
                    if self.passes(slot, .ping, countPing: planned != .ping, deadlines: &deadlines) { return slot }
                    self.finishRelease(slot, .failedValidation)
                    let now = MonotonicClock.now(), deadline = borrow.waiter.deadline
                    return try self.get(timeoutNanos: deadline > now ? deadline - now : 0, overflowAfterNanos: 0,
                                        ping: borrow.ping)
                }
                return .wait(timeoutNanos: nil)
            }
            if check == .none || factory.isSocketAlive(slot.connection) {
                borrow.set(.ready(slot))
                return nil
            }
            finishRelease(slot, .failedValidation)
            PoolLog.emit(.info, pool: name, "a pooled connection was found dead before checkout and replaced")
            return nil
        }
    }

    /// Runs `work` on a thread of its own and signals the borrow's eventFD
    /// with the outcome; what it gets after a cancel goes back to the pool.
    private func startHelper(_ borrow: Borrow, _ work: @escaping () throws(PoolError) -> Slot) {
        let job = HelperJob { [self] in
            let outcome: AsyncBorrow<Factory.Connection>.Phase
            do throws(PoolError) {
                outcome = .ready(try work())
            } catch {
                outcome = .failed(error)
            }
            let previous = borrow.transition { current in
                if case .cancelled = current { return nil }
                return outcome
            }
            if case .cancelled = previous, case .ready(let slot) = outcome {
                finishRelease(slot, .reusable(neededRoundTrip: false))
            }
            borrow.waiter.wake()
        }
        if !job.start() {
            borrow.set(.failed(PoolError(.noMemory, "cannot start a thread for the borrow")))
            borrow.waiter.wake()
        }
    }
}

/// A detached thread running one closure.
final class HelperJob {
    private let body: () -> Void

    init(_ body: @escaping () -> Void) {
        self.body = body
    }

    func start() -> Bool {
        var thread = pthread_t()
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        defer { pthread_attr_destroy(&attributes) }
        pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))
        let context = Unmanaged.passRetained(self).toOpaque()
        let created = pthread_create(&thread, &attributes, { raw in
            Unmanaged<HelperJob>.fromOpaque(raw!).takeRetainedValue().body()
            return nil
        }, context)
        if created != 0 { Unmanaged<HelperJob>.fromOpaque(context).release() }
        return created == 0
    }
}
