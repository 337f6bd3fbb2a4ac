#if canImport(Glibc)
import Glibc
#endif
import Synchronization

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
    /// Each connection's lifetime is shortened by a random part of up to this
    /// fraction, so that connections opened together do not expire together.
    public var lifetimeJitter = 0.0
    /// Idle connections unused this long are closed while more than `minIdle`
    /// are open; 0 = never.
    public var idleTimeoutNanos: UInt64 = 0
    /// Connections the maintenance keeps open, opening new ones when fewer.
    public var minIdle = 0
    /// Idle connections not proven alive for this long are pinged by the
    /// maintenance; 0 = never.
    public var keepaliveNanos: UInt64 = 0
    /// A connection not proven alive for this long is pinged before it is
    /// handed out; 0 = only when asked (pre_ping).
    public var validationIntervalNanos: UInt64 = 0
    /// Every checkout of an idle connection first peeks at its socket...
    public var validateSocket = false
    /// ...when it was last heard from at least this long ago: a peek is a
    /// system call (about 1 µs), and a connection given back a moment ago is
    /// as alive as a peek can tell.
    public var socketCheckAfterNanos: UInt64 = 0
    /// Every checkout of an idle connection pings it first.
    public var prePing = false
    /// A connection borrowed for longer is reported once as a possible leak;
    /// 0 = never.
    public var leakThresholdNanos: UInt64 = 0

    public init(size: Int, maxsize: Int, lifetimeNanos: UInt64, closeOverflow: Bool = true) {
        self.size = size
        self.maxsize = maxsize
        self.lifetimeNanos = lifetimeNanos
        self.closeOverflow = closeOverflow
    }

    /// Whether a maintenance thread has anything to do for these limits.
    var needsMaintenance: Bool {
        lifetimeNanos > 0 || idleTimeoutNanos > 0 || minIdle > 0 || keepaliveNanos > 0 || leakThresholdNanos > 0
    }

    /// How often the maintenance looks: a fraction of the shortest period it
    /// enforces, between 10 ms and 1 s.
    var maintenancePeriodNanos: UInt64 {
        let periods = [idleTimeoutNanos, keepaliveNanos, leakThresholdNanos].filter { $0 > 0 }.map { $0 / 4 }
        return Swift.min(Swift.max(periods.min() ?? 1_000_000_000, 10_000_000), 1_000_000_000)
    }
}

/// A connection as the pool holds it, with the facts its decisions need.
public final class PooledSlot<Connection>: @unchecked Sendable {
    public let connection: Connection
    public let createdAt: UInt64
    /// The pool it belongs to, so a release into another pool is caught.
    let poolID: UInt64
    /// Written under the owning pool's lock; read without it by the
    /// double-release check, which must not cost a lock of its own.
    private let leased = Atomic<Bool>(false)
    var isLeased: Bool {
        get { leased.load(ordering: .relaxed) }
        set { leased.store(newValue, ordering: .relaxed) }
    }
    // Guarded by the owning pool's lock:
    /// When its lifetime ends (createdAt + lifetime - jitter), or .max.
    var expiresAt = UInt64.max
    /// When it was last given back (or opened): idle since then.
    var idleSince: UInt64
    /// When it was last known alive: opened, the server's last answer to a
    /// borrower, a reset's round trip, a ping, or a socket peek that passed.
    var provenAliveAt: UInt64
    var leasedAt: UInt64 = 0
    var leakReported = false
    /// The ForkWatch generation of the process that opened it.
    let forkGeneration = ForkWatch.generation
    /// The embedding layer's token for the connection (the C handle of its
    /// current lease), read by leak reports and handed to `onRetire`; 0 for
    /// none. Written by whoever holds the connection; no lock needed.
    public let leaseTag = Atomic<UInt>(0)
    /// The host it is connected to, for pools that spread borrows over
    /// hosts (see `acquire(spreadingOver:)`); -1 for the others.
    let hostKey: Int

    init(connection: Connection, createdAt: UInt64, poolID: UInt64, hostKey: Int = -1) {
        self.connection = connection
        self.createdAt = createdAt
        self.poolID = poolID
        self.hostKey = hostKey
        idleSince = createdAt
        provenAliveAt = createdAt
    }
}

/// What must be checked before an idle connection is handed out.
public enum LeaseCheck: Sendable {
    case none
    /// A non-blocking peek at the socket: EOF or unexpected bytes mean dead.
    case peek
    /// A round trip (COM_PING).
    case ping
}

/// How a borrowed connection comes back.
public enum ReturnCondition: Sendable {
    /// Reset and fit for the next borrower.
    case reusable(neededRoundTrip: Bool)
    /// The link failed or the reset failed.
    case broken
    /// The caller asked for it to be closed (pool_discard).
    case discarded
    /// A check before checkout or a keepalive ping found it dead.
    case failedValidation
    /// It works, but must not be used again: its host's role changed. Found
    /// at checkout (its borrower never saw it) or at release.
    case retired(atCheckout: Bool)
}

public enum CloseReason: Sendable {
    case lifetime, broken, overflow, discarded, shutdown, idle, validation
}

/// What a waiting caller ends up with.
enum WaitOutcome<Connection> {
    /// Handed over by a release (or opened for the idle list), with the
    /// check any idle take would need: the waiter runs it on its own thread
    /// after it wakes. A connection killed while its last borrower held it
    /// looks just used, and is not.
    case lease(PooledSlot<Connection>, LeaseCheck)
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
    /// An event loop's waiter (see AsyncBorrow) is woken through this
    /// eventfd instead of the condition; -1 for a thread. Closed with the
    /// waiter, so a wake that races a cancel never writes to a reused fd.
    let eventFD: Int32

    init(enqueuedAt: UInt64, deadline: UInt64, overflowAt: UInt64, eventFD: Int32 = -1) {
        self.enqueuedAt = enqueuedAt
        self.deadline = deadline
        self.overflowAt = overflowAt
        self.eventFD = eventFD
    }

    func wake() {
        guard eventFD >= 0 else { return condition.signal() }
        var one: UInt64 = 1
        _ = write(eventFD, &one, 8)
    }

    deinit {
        if eventFD >= 0 { close(eventFD) }
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
    public var closedIdle: UInt64 = 0, closedValidation: UInt64 = 0
    public var pings: UInt64 = 0, leaks: UInt64 = 0

    /// Two pools' stats as one (the halves of a replication pool).
    public static func + (left: PoolStats, right: PoolStats) -> PoolStats {
        var sum = PoolStats()
        sum.total = left.total + right.total
        sum.idle = left.idle + right.idle
        sum.inUse = left.inUse + right.inUse
        sum.opening = left.opening + right.opening
        sum.waiting = left.waiting + right.waiting
        sum.size = left.size + right.size
        sum.maxsize = left.maxsize + right.maxsize
        sum.created = left.created + right.created
        sum.connectFailures = left.connectFailures + right.connectFailures
        sum.closedLifetime = left.closedLifetime + right.closedLifetime
        sum.closedBroken = left.closedBroken + right.closedBroken
        sum.closedOverflow = left.closedOverflow + right.closedOverflow
        sum.closedDiscarded = left.closedDiscarded + right.closedDiscarded
        sum.closedShutdown = left.closedShutdown + right.closedShutdown
        sum.gets = left.gets + right.gets
        sum.releases = left.releases + right.releases
        sum.waitCount = left.waitCount + right.waitCount
        sum.waitTimeNanos = left.waitTimeNanos + right.waitTimeNanos
        sum.maxWaitNanos = Swift.max(left.maxWaitNanos, right.maxWaitNanos)
        sum.timeouts = left.timeouts + right.timeouts
        sum.resets = left.resets + right.resets
        sum.closedIdle = left.closedIdle + right.closedIdle
        sum.closedValidation = left.closedValidation + right.closedValidation
        sum.pings = left.pings + right.pings
        sum.leaks = left.leaks + right.leaks
        return sum
    }

    mutating func count(_ reason: CloseReason) {
        switch reason {
        case .lifetime: closedLifetime += 1
        case .broken: closedBroken += 1
        case .overflow: closedOverflow += 1
        case .discarded: closedDiscarded += 1
        case .shutdown: closedShutdown += 1
        case .idle: closedIdle += 1
        case .validation: closedValidation += 1
        }
    }
}

/// Every decision of the pool, as a value type with no I/O and no clock of its
/// own: callers pass the time in, run the returned actions (connect, check,
/// close, wake) after releasing the lock.
/// Invariant: open == idle.count + leased + validating.
struct PoolStateMachine<Connection> {
    typealias Slot = PooledSlot<Connection>

    let limits: PoolLimits
    let name: String
    private(set) var idle: RingBuffer<Slot>
    private(set) var waiters: RingBuffer<Waiter<Connection>>
    /// Established connections: idle, borrowed or being pinged by the maintenance.
    private(set) var open = 0
    /// Capacity reserved by callers (or the maintenance) opening a connection.
    private(set) var opening = 0
    private(set) var leased = 0
    /// Taken out of idle by the maintenance for a keepalive ping.
    private(set) var validating = 0
    private(set) var isClosed = false
    /// Connections not proven alive since this instant are pinged before use:
    /// set when one is found dead (the server may have restarted).
    private(set) var validateOlderThan: UInt64 = 0
    /// Borrowed connections, tracked only for leak detection.
    private var leasedSlots: [ObjectIdentifier: Slot] = [:]
    /// Borrowed connections per host, for slots with a host key.
    private(set) var leasedPerHost: [Int: Int] = [:]
    /// Turns of the round robin between equally loaded hosts.
    private var spreadTurn = 0
    private var counters = PoolStats()
    private var random = SystemRandomNumberGenerator()

    init(limits: PoolLimits, name: String) {
        self.limits = limits
        self.name = name
        idle = RingBuffer(capacity: limits.maxsize)
        waiters = RingBuffer(capacity: 16)
    }

    var total: Int { open + opening }

    enum Acquire {
        /// Run the check outside the lock; a failed one goes back through
        /// `release(_:.failedValidation:)` and the caller acquires again.
        case lease(Slot, LeaseCheck)
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
            if now >= slot.expiresAt {
                open -= 1
                counters.count(.lifetime)
                expired.append(slot)
                continue
            }
            lease(slot, now: now)
            return .lease(slot, check(slot, now: now))
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

    /// `acquire` for a pool that spreads borrows over `hosts` (read-only
    /// borrows over the healthy replicas): the host with the fewest borrowed
    /// connections, round robin between equals, gives its most recently
    /// used idle connection; without one, a connection to it is opened when
    /// there is room, else any idle one is taken as `acquire` would. Returns
    /// the host to open the connection to for `.create`.
    mutating func acquire(now: UInt64, mayOverflow: Bool, mayWait: Bool, expired: inout [Slot],
                          spreadingOver hosts: [Int]) -> (Acquire, host: Int?) {
        guard !isClosed, let host = leastBorrowed(of: hosts) else {
            return (acquire(now: now, mayOverflow: mayOverflow, mayWait: mayWait, expired: &expired), nil)
        }
        var chosen: Slot?
        var others: [Slot] = []  // most recently used first
        while let slot = idle.popLast() {
            if now >= slot.expiresAt {
                open -= 1
                counters.count(.lifetime)
                expired.append(slot)
            } else if chosen == nil && slot.hostKey == host {
                chosen = slot
            } else {
                others.append(slot)
            }
        }
        others.reversed().forEach { idle.append($0) }
        if let chosen {
            lease(chosen, now: now)
            return (.lease(chosen, check(chosen, now: now)), host)
        }
        if total < limits.size || (mayOverflow && total < limits.maxsize) {
            opening += 1
            return (.create, host)
        }
        return (acquire(now: now, mayOverflow: mayOverflow, mayWait: mayWait, expired: &expired), nil)
    }

    private mutating func leastBorrowed(of hosts: [Int]) -> Int? {
        guard let fewest = hosts.map({ leasedPerHost[$0] ?? 0 }).min() else { return nil }
        let tied = hosts.filter { (leasedPerHost[$0] ?? 0) == fewest }
        spreadTurn &+= 1
        return tied[spreadTurn % tied.count]
    }

    /// What an idle connection needs before a borrower may have it.
    private mutating func check(_ slot: Slot, now: UInt64) -> LeaseCheck {
        let stale = limits.validationIntervalNanos > 0 && now &- slot.provenAliveAt >= limits.validationIntervalNanos
        if limits.prePing || stale || slot.provenAliveAt < validateOlderThan {
            counters.pings += 1
            return .ping
        }
        guard limits.validateSocket && now &- slot.provenAliveAt >= limits.socketCheckAfterNanos else { return .none }
        // The peek runs right after this; if it fails the connection is
        // closed, so from here on its socket is known alive as of `now`. A
        // quiet borrower (no statement) then costs one peek per
        // socket_check_after, not one per checkout.
        slot.provenAliveAt = now
        return .peek
    }

    /// A connection passed its check (or a ping the borrower asked for).
    mutating func provedAlive(_ slot: Slot, now: UInt64) {
        slot.provenAliveAt = now
    }

    /// A ping the borrower asked for (POOL_GET_PING) that `check` did not plan.
    mutating func countPing() {
        counters.pings += 1
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
        setLifetime(slot)
        idle.append(slot)
    }

    /// The reserving caller opened its connection and now holds it. False
    /// when the pool was closed meanwhile: the caller closes it instead.
    mutating func connectSucceeded(_ slot: Slot, now: UInt64) -> Bool {
        opening -= 1
        counters.created += 1
        if isClosed {
            counters.closedShutdown += 1
            return false
        }
        open += 1
        setLifetime(slot)
        lease(slot, now: now)
        return true
    }

    /// The maintenance opened a connection to keep `minIdle`: it goes to the
    /// first waiter or the idle list. Returns the waiter to wake, or the slot
    /// to close when the pool was closed meanwhile.
    mutating func connectSucceededIdle(_ slot: Slot, now: UInt64) -> (wake: Waiter<Connection>?, close: Slot?) {
        opening -= 1
        counters.created += 1
        if isClosed {
            counters.closedShutdown += 1
            return (nil, slot)
        }
        open += 1
        setLifetime(slot)
        return (handOver(slot, now: now), nil)
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
    /// idle, or close it (broken, discarded, failed validation, expired,
    /// above size, pool closed). `heardAt`: when the server last answered
    /// through it, if the factory knows (nil: at the release).
    mutating func release(_ slot: Slot, _ condition: ReturnCondition, now: UInt64, heardAt: UInt64? = nil)
        -> Release
    {
        slot.isLeased = false
        leased -= 1
        if slot.hostKey >= 0 { leasedPerHost[slot.hostKey, default: 1] -= 1 }
        if limits.leakThresholdNanos > 0 { leasedSlots[ObjectIdentifier(slot)] = nil }
        switch condition {
        case .reusable(let neededRoundTrip):
            counters.releases += 1
            if neededRoundTrip { counters.resets += 1 }
            // The latest evidence of life: the reset's round trip, the
            // borrower's last answer, or the check at its checkout.
            slot.provenAliveAt = neededRoundTrip ? now : Swift.max(slot.provenAliveAt, Swift.min(heardAt ?? now, now))
        case .broken:
            counters.releases += 1
            // The server may have gone away and come back: the connections
            // that have not talked to it since are checked before use.
            validateOlderThan = now
        case .failedValidation:
            counters.gets -= 1  // counted when it was taken; its borrower never saw it
            validateOlderThan = now
        case .retired(let atCheckout):
            if atCheckout { counters.gets -= 1 } else { counters.releases += 1 }
        case .discarded:
            counters.releases += 1
        }

        if let reason = closeReason(slot, condition, now: now) {
            open -= 1
            counters.count(reason)
            return Release(close: slot, reason: reason, wake: passCapacityToWaiter(now: now))
        }
        slot.idleSince = now
        if total > limits.size && limits.closeOverflow && waiters.isEmpty {
            open -= 1
            counters.count(.overflow)
            return Release(close: slot, reason: .overflow)
        }
        return Release(wake: handOver(slot, now: now))
    }

    /// A live connection to the first waiter, else to the idle list.
    private mutating func handOver(_ slot: Slot, now: UInt64) -> Waiter<Connection>? {
        guard let waiter = waiters.popFirst() else {
            idle.append(slot)
            return nil
        }
        finishWait(waiter, now: now)
        lease(slot, now: now)
        waiter.outcome = .lease(slot, check(slot, now: now))
        return waiter
    }

    /// Takes the idle connections `matching` says out of the books, to be
    /// closed outside the lock (counted as closed by validation).
    mutating func removeIdle(_ matching: (Slot) -> Bool) -> [Slot] {
        var removed: [Slot] = []
        var kept: [Slot] = []
        while let slot = idle.popFirst() {
            if matching(slot) { removed.append(slot) } else { kept.append(slot) }
        }
        kept.forEach { idle.append($0) }
        open -= removed.count
        counters.closedValidation += UInt64(removed.count)
        return removed
    }

    /// What one maintenance pass does outside the lock.
    struct Maintenance {
        /// Already taken out of the books; close them.
        var close: [(Slot, CloseReason)] = []
        /// Taken out of idle; ping each, then `keepaliveFinished`.
        var ping: [Slot] = []
        /// Capacity reserved: open this many, then `connectSucceededIdle` or
        /// `connectFailed` for each.
        var open = 0
        /// Borrowed longer than the leak threshold (reported once each), with
        /// how long they have been out.
        var leaks: [(Slot, UInt64)] = []
    }

    /// Retires expired and long-idle connections, picks idle ones to ping,
    /// reserves capacity to get back to `minIdle`, finds leaks.
    mutating func maintain(now: UInt64) -> Maintenance {
        var work = Maintenance()
        guard !isClosed else { return work }
        // Least recently used first: the front of the idle list.
        var kept: [Slot] = []
        while let slot = idle.popFirst() {
            if now >= slot.expiresAt {
                retire(slot, .lifetime, into: &work)
            } else if limits.idleTimeoutNanos > 0 && now &- slot.idleSince >= limits.idleTimeoutNanos
                        && open > limits.minIdle {
                retire(slot, .idle, into: &work)
            } else if limits.keepaliveNanos > 0 && now &- slot.provenAliveAt >= limits.keepaliveNanos {
                validating += 1
                counters.pings += 1
                work.ping.append(slot)
            } else {
                kept.append(slot)
            }
        }
        kept.forEach { idle.append($0) }
        while total < Swift.min(limits.minIdle, limits.maxsize) {
            opening += 1
            work.open += 1
        }
        if limits.leakThresholdNanos > 0 {
            for slot in leasedSlots.values where !slot.leakReported && now &- slot.leasedAt >= limits.leakThresholdNanos {
                slot.leakReported = true
                counters.leaks += 1
                work.leaks.append((slot, now &- slot.leasedAt))
            }
        }
        return work
    }

    private mutating func retire(_ slot: Slot, _ reason: CloseReason, into work: inout Maintenance) {
        open -= 1
        counters.count(reason)
        work.close.append((slot, reason))
    }

    /// A keepalive ping finished. Returns the waiter to wake, or whether to
    /// close the slot (dead, or the pool closed meanwhile).
    mutating func keepaliveFinished(_ slot: Slot, alive: Bool, now: UInt64) -> (wake: Waiter<Connection>?, close: Bool) {
        validating -= 1
        if isClosed || !alive {
            open -= 1
            counters.count(isClosed ? .shutdown : .validation)
            if !alive { validateOlderThan = now }
            return (isClosed ? nil : passCapacityToWaiter(now: now), true)
        }
        slot.provenAliveAt = now
        return (handOver(slot, now: now), false)
    }

    /// After fork(), in the child: the idle connections, which the books then
    /// forget with everything else (the caller replaces the whole state).
    mutating func takeIdleForFork() -> [Slot] {
        idle.removeAll()
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

    /// Fixes when the slot's lifetime ends, shortened by up to
    /// `lifetimeJitter` of it at random.
    private mutating func setLifetime(_ slot: Slot) {
        guard limits.lifetimeNanos > 0 else { return }
        let jitterLimit = UInt64(Double(limits.lifetimeNanos) * Swift.min(Swift.max(limits.lifetimeJitter, 0), 0.5))
        let jitter = jitterLimit == 0 ? 0 : UInt64.random(in: 0...jitterLimit, using: &random)
        slot.expiresAt = slot.createdAt &+ (limits.lifetimeNanos - jitter)
    }

    private func closeReason(_ slot: Slot, _ condition: ReturnCondition, now: UInt64) -> CloseReason? {
        if isClosed { return .shutdown }
        switch condition {
        case .broken: return .broken
        case .discarded: return .discarded
        case .failedValidation, .retired: return .validation
        case .reusable: return now >= slot.expiresAt ? .lifetime : nil
        }
    }

    private mutating func lease(_ slot: Slot, now: UInt64) {
        slot.isLeased = true
        leased += 1
        if slot.hostKey >= 0 { leasedPerHost[slot.hostKey, default: 0] += 1 }
        counters.gets += 1
        if limits.leakThresholdNanos > 0 {
            slot.leasedAt = now
            slot.leakReported = false
            leasedSlots[ObjectIdentifier(slot)] = slot
        }
    }

    private mutating func passCapacityToWaiter(now: UInt64) -> Waiter<Connection>? {
        guard !isClosed, total < limits.maxsize, let waiter = waiters.popFirst() else { return nil }
        finishWait(waiter, now: now)
        opening += 1
        waiter.outcome = .create
        return waiter
    }

    /// A waiter gives up (an event loop's task was cancelled): out of the
    /// queue, or what it was given goes back: a connection to release
    /// (`giveBack`), or reserved capacity to the next waiter (`wake`).
    mutating func cancelWait(_ waiter: Waiter<Connection>, now: UInt64) -> (giveBack: Slot?, wake: Waiter<Connection>?) {
        switch waiter.outcome {
        case nil:
            dequeue(waiter, now: now)
            return (nil, nil)
        case .lease(let slot, _)?:
            return (slot, nil)
        case .create?:
            opening -= 1
            return (nil, passCapacityToWaiter(now: now))
        case .fail?:
            return (nil, nil)
        }
    }

    private mutating func dequeue(_ waiter: Waiter<Connection>, now: UInt64) {
        waiters.removeFirst(where: { $0 === waiter })
        finishWait(waiter, now: now)
    }

    private mutating func finishWait(_ waiter: Waiter<Connection>, now: UInt64) {
        // A release may pass its coarse instant, which can trail the precise
        // one the waiter was enqueued at.
        let waited = now > waiter.enqueuedAt ? now - waiter.enqueuedAt : 0
        counters.waitTimeNanos += waited
        counters.maxWaitNanos = Swift.max(counters.maxWaitNanos, waited)
    }
}
