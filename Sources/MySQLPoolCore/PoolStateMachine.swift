/// Sizing and timing rules a pool is created with.
public struct PoolLimits: Sendable, Equatable {
    /// Connections kept open when idle; more are opened on demand.
    public var size: Int
    /// Hard cap on open connections (idle + borrowed + being opened).
    public var maxsize: Int
    /// A connection this old (nanoseconds) is closed at take or release; 0 = never.
    public var lifetimeNanos: UInt64
    /// Close connections above `size` when they are released (else they stay
    /// idle until their lifetime ends, as pymysql-pool 0.5.0 keeps them).
    public var closeOverflow: Bool

    public init(size: Int, maxsize: Int, lifetimeNanos: UInt64, closeOverflow: Bool = true) {
        self.size = size
        self.maxsize = maxsize
        self.lifetimeNanos = lifetimeNanos
        self.closeOverflow = closeOverflow
    }
}

/// A connection as the pool holds it, with the facts its decisions need.
public final class PooledSlot<Connection>: @unchecked Sendable {
    public let connection: Connection
    public let createdAt: UInt64
    /// The pool it belongs to, so a release into another pool is caught.
    let poolID: UInt64
    /// Guarded by the owning pool's lock.
    var isLeased = false

    init(connection: Connection, createdAt: UInt64, poolID: UInt64) {
        self.connection = connection
        self.createdAt = createdAt
        self.poolID = poolID
    }
}

/// How a borrowed connection comes back.
public enum ReturnCondition: Sendable {
    /// Reset and fit for the next borrower.
    case reusable(neededRoundTrip: Bool)
    /// The link failed or the reset failed.
    case broken
    /// The caller asked for it to be closed (pool_discard, failed ping).
    case discarded
}

public enum CloseReason: Sendable {
    case lifetime, broken, overflow, discarded, shutdown
}

/// What a waiting caller ends up with.
enum WaitOutcome<Connection> {
    case lease(PooledSlot<Connection>)
    /// Capacity was reserved for the waiter: it opens a connection itself.
    case create
    case fail(PoolError)
}

/// A caller queued for a connection. Its fields other than `outcome` are
/// fixed at creation; `outcome` is guarded by the pool's lock.
final class Waiter<Connection>: @unchecked Sendable {
    let enqueuedAt: UInt64
    let deadline: UInt64
    /// From this instant the waiter may open a connection above `size`.
    let overflowAt: UInt64
    var outcome: WaitOutcome<Connection>?
    let condition = PThreadCondition()

    init(enqueuedAt: UInt64, deadline: UInt64, overflowAt: UInt64) {
        self.enqueuedAt = enqueuedAt
        self.deadline = deadline
        self.overflowAt = overflowAt
    }
}

/// A snapshot of the pool's gauges and counters (mirrors pool_stats_t).
public struct PoolStats: Sendable, Equatable {
    public var total = 0, idle = 0, inUse = 0, opening = 0, waiting = 0
    public var size = 0, maxsize = 0
    public var created: UInt64 = 0, connectFailures: UInt64 = 0
    public var closedLifetime: UInt64 = 0, closedBroken: UInt64 = 0, closedOverflow: UInt64 = 0
    public var closedDiscarded: UInt64 = 0, closedShutdown: UInt64 = 0
    public var gets: UInt64 = 0, releases: UInt64 = 0
    public var waitCount: UInt64 = 0, waitTimeNanos: UInt64 = 0, maxWaitNanos: UInt64 = 0
    public var timeouts: UInt64 = 0, resets: UInt64 = 0

    mutating func count(_ reason: CloseReason) {
        switch reason {
        case .lifetime: closedLifetime += 1
        case .broken: closedBroken += 1
        case .overflow: closedOverflow += 1
        case .discarded: closedDiscarded += 1
        case .shutdown: closedShutdown += 1
        }
    }
}

/// Every decision of the pool, as a value type with no I/O and no clock of its
/// own: callers pass the time in, run the returned actions (connect, close,
/// wake) after releasing the lock. Invariant: open == idle.count + leased.
struct PoolStateMachine<Connection> {
    typealias Slot = PooledSlot<Connection>

    let limits: PoolLimits
    let name: String
    private(set) var idle: RingBuffer<Slot>
    private(set) var waiters: RingBuffer<Waiter<Connection>>
    /// Established connections: idle or borrowed.
    private(set) var open = 0
    /// Capacity reserved by callers that are opening a connection.
    private(set) var opening = 0
    private(set) var leased = 0
    private(set) var isClosed = false
    private var counters = PoolStats()

    init(limits: PoolLimits, name: String) {
        self.limits = limits
        self.name = name
        idle = RingBuffer(capacity: limits.maxsize)
        waiters = RingBuffer(capacity: 16)
    }

    var total: Int { open + opening }

    enum Acquire {
        case lease(Slot)
        /// Capacity is reserved: open a connection, then `connectSucceeded`.
        case create
        /// Queue a waiter with `enqueue` and wait.
        case wait
        case fail(PoolError)
    }

    /// Takes an idle connection or decides how to get one. Idle connections
    /// past their lifetime are appended to `expired`, for closing outside the
    /// lock.
    mutating func acquire(now: UInt64, mayOverflow: Bool, mayWait: Bool, expired: inout [Slot]) -> Acquire {
        if isClosed { return .fail(.closed(name)) }
        // Most recently used first: its server thread and buffers are warm
        // (each switch to another connection costs a cold wake-up), and
        // surplus connections age out instead of being kept busy.
        while let slot = idle.popLast() {
            if isExpired(slot, now: now) {
                open -= 1
                counters.count(.lifetime)
                expired.append(slot)
                continue
            }
            lease(slot)
            return .lease(slot)
        }
        if total < limits.size || (mayOverflow && total < limits.maxsize) {
            opening += 1
            return .create
        }
        if !mayWait {
            counters.timeouts += 1
            return .fail(.exhausted(name, waitedMilliseconds: 0))
        }
        return .wait
    }

    mutating func enqueue(_ waiter: Waiter<Connection>) {
        counters.waitCount += 1
        waiters.append(waiter)
    }

    enum WaiterCheck {
        case done(WaitOutcome<Connection>)
        case waitUntil(UInt64)
    }

    /// Called by a waiter whenever it wakes: served, time to overflow, timed
    /// out, or sleep on.
    mutating func check(_ waiter: Waiter<Connection>, now: UInt64) -> WaiterCheck {
        if let outcome = waiter.outcome { return .done(outcome) }
        // Overflow first: pymysql-pool's callers wait out their retries and
        // only then open one above size, so both instants may coincide.
        if now >= waiter.overflowAt && total < limits.maxsize {
            dequeue(waiter, now: now)
            opening += 1
            return .done(.create)
        }
        if now >= waiter.deadline {
            dequeue(waiter, now: now)
            counters.timeouts += 1
            let waited = (now - waiter.enqueuedAt) / 1_000_000
            return .done(.fail(.exhausted(name, waitedMilliseconds: waited)))
        }
        let overflowPending = waiter.overflowAt > now && waiter.overflowAt < waiter.deadline
        return .waitUntil(overflowPending ? waiter.overflowAt : waiter.deadline)
    }

    /// A new pre-created connection goes straight to the idle list.
    mutating func addIdle(_ slot: Slot) {
        open += 1
        counters.created += 1
        idle.append(slot)
    }

    /// The reserving caller opened its connection and now holds it. False
    /// when the pool was closed meanwhile: the caller closes it instead.
    mutating func connectSucceeded(_ slot: Slot) -> Bool {
        opening -= 1
        counters.created += 1
        if isClosed {
            counters.closedShutdown += 1
            return false
        }
        open += 1
        lease(slot)
        return true
    }

    /// The reserving caller could not connect. The freed capacity goes to the
    /// first waiter, if any, which then tries itself.
    mutating func connectFailed(now: UInt64) -> Waiter<Connection>? {
        opening -= 1
        counters.connectFailures += 1
        return passCapacityToWaiter(now: now)
    }

    struct Release {
        var close: Slot?
        var reason: CloseReason?
        var wake: Waiter<Connection>?
    }

    /// A borrowed connection comes back: hand it to the first waiter, keep it
    /// idle, or close it (broken, discarded, expired, above size, pool closed).
    mutating func release(_ slot: Slot, _ condition: ReturnCondition, now: UInt64) -> Release {
        slot.isLeased = false
        leased -= 1
        counters.releases += 1
        if case .reusable(true) = condition { counters.resets += 1 }

        if let reason = closeReason(slot, condition, now: now) {
            open -= 1
            counters.count(reason)
            return Release(close: slot, reason: reason, wake: passCapacityToWaiter(now: now))
        }
        if let waiter = waiters.popFirst() {
            finishWait(waiter, now: now)
            lease(slot)
            waiter.outcome = .lease(slot)
            return Release(wake: waiter)
        }
        if total > limits.size && limits.closeOverflow {
            open -= 1
            counters.count(.overflow)
            return Release(close: slot, reason: .overflow)
        }
        idle.append(slot)
        return Release()
    }

    /// Stops the pool: returns the idle connections to close and the waiters
    /// to wake (each already told the pool is closed).
    mutating func close(now: UInt64) -> (idle: [Slot], waiters: [Waiter<Connection>]) {
        if isClosed { return ([], []) }
        isClosed = true
        let slots = idle.removeAll()
        open -= slots.count
        counters.closedShutdown += UInt64(slots.count)
        let woken = waiters.removeAll()
        for waiter in woken {
            finishWait(waiter, now: now)
            waiter.outcome = .fail(.closed(name))
        }
        return (slots, woken)
    }

    func stats() -> PoolStats {
        var snapshot = counters
        snapshot.total = total
        snapshot.idle = idle.count
        snapshot.inUse = leased
        snapshot.opening = opening
        snapshot.waiting = waiters.count
        snapshot.size = limits.size
        snapshot.maxsize = limits.maxsize
        return snapshot
    }

    func isExpired(_ slot: Slot, now: UInt64) -> Bool {
        limits.lifetimeNanos > 0 && now &- slot.createdAt >= limits.lifetimeNanos
    }

    private func closeReason(_ slot: Slot, _ condition: ReturnCondition, now: UInt64) -> CloseReason? {
        if isClosed { return .shutdown }
        switch condition {
        case .broken: return .broken
        case .discarded: return .discarded
        case .reusable: return isExpired(slot, now: now) ? .lifetime : nil
        }
    }

    private mutating func lease(_ slot: Slot) {
        slot.isLeased = true
        leased += 1
        counters.gets += 1
    }

    private mutating func passCapacityToWaiter(now: UInt64) -> Waiter<Connection>? {
        guard !isClosed, total < limits.maxsize, let waiter = waiters.popFirst() else { return nil }
        finishWait(waiter, now: now)
        opening += 1
        waiter.outcome = .create
        return waiter
    }

    private mutating func dequeue(_ waiter: Waiter<Connection>, now: UInt64) {
        waiters.removeFirst(where: { $0 === waiter })
        finishWait(waiter, now: now)
    }

    private mutating func finishWait(_ waiter: Waiter<Connection>, now: UInt64) {
        let waited = now &- waiter.enqueuedAt
        counters.waitTimeNanos += waited
        counters.maxWaitNanos = Swift.max(counters.maxWaitNanos, waited)
    }
}
