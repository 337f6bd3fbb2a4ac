import Synchronization

/// What the pool needs from a database driver. Every method may block on
/// network I/O; the pool never calls them while holding its lock.
public protocol ConnectionFactory: Sendable {
    associatedtype Connection

    func connect() throws(PoolError) -> Connection
    /// Makes a returned connection fit for the next borrower (rollback,
    /// autocommit, ...), or says it is not.
    func prepareForReuse(_ connection: Connection) -> ReturnCondition
    /// A round trip proving the connection works (COM_PING), given up at
    /// `deadline` (monotonic nanoseconds) or when the pool `owner` closes.
    func ping(_ connection: Connection, deadline: UInt64, owner: UInt64) -> Bool
    /// A check without a round trip that the link is still there (a peek at
    /// the socket); false means dead for sure.
    func isSocketAlive(_ connection: Connection) -> Bool
    /// When the server last answered through the connection (coarse clock),
    /// read at release: a connection killed while borrowed is checked by the
    /// next borrower once that is `socketCheckAfter` ago. nil: not tracked
    /// (the release counts as an answer).
    func lastHeardFrom(_ connection: Connection) -> UInt64?
    /// The connection must not be used again although it works (its host's
    /// role changed): closed instead of handed out or kept.
    func isRetired(_ connection: Connection) -> Bool
    /// For a pool that spreads each borrow over several hosts: the hosts to
    /// spread over now (nil: the pool does not spread, the common case).
    func spreadHosts() -> [Int]?
    /// The host a connection is to (a key of `spreadHosts`), -1 for none.
    func hostKey(_ connection: Connection) -> Int
    /// Opens a connection, to `host` (a key of `spreadHosts`) if it can.
    func connect(preferring host: Int?) throws(PoolError) -> Connection
    /// A borrower got the connection (per-host borrow counts).
    func lent(_ connection: Connection)
    func close(_ connection: Connection)
    /// Lets go of a connection inherited across fork() without a word to the
    /// server: the session belongs to the parent process.
    func abandon(_ connection: Connection)
}

extension ConnectionFactory {
    public func isSocketAlive(_ connection: Connection) -> Bool { true }
    public func lastHeardFrom(_ connection: Connection) -> UInt64? { nil }
    public func isRetired(_ connection: Connection) -> Bool { false }
    public func spreadHosts() -> [Int]? { nil }
    public func hostKey(_ connection: Connection) -> Int { -1 }
    public func connect(preferring host: Int?) throws(PoolError) -> Connection { try connect() }
    public func lent(_ connection: Connection) {}
    public func abandon(_ connection: Connection) {}
}

/// Where the pool reports what its borrowers cannot see (leaks, connections
/// found dead, failed background connects). Levels are Python's logging
/// levels. Set once by the embedding layer; nil means silence.
public enum PoolLog {
    public enum Level: Int32, Sendable {
        case debug = 10, info = 20, warning = 30, error = 40
    }

    public typealias Sink = @Sendable (_ level: Level, _ pool: String, _ leaseTag: UInt, _ message: String) -> Void

    private static let lock: PThreadMutex = {
        let mutex = PThreadMutex()
        ForkWatch.watch(mutex)
        return mutex
    }()
    nonisolated(unsafe) private static var sink: Sink?

    public static func setSink(_ newSink: Sink?) {
        lock.withLock { sink = newSink }
    }

    static func emit(_ level: Level, pool: String, leaseTag: UInt = 0, _ message: @autoclosure () -> String) {
        guard let current = lock.withLock({ sink }) else { return }
        current(level, pool, leaseTag, message())
    }
}

/// Settings a pool is created with, beyond its limits.
public struct PoolSettings: Sendable {
    public var limits: PoolLimits
    public var name: String
    /// Connections opened by the initializer.
    public var preCreate: Int
    /// Wait used when a caller passes no timeout.
    public var defaultTimeoutNanos: UInt64
    /// Overflow delay used when a caller passes none.
    public var defaultOverflowAfterNanos: UInt64
    /// Called (outside the lock) with the `leaseTag` of every connection the
    /// pool closes or abandons whose tag the embedder set, so that it can
    /// forget what it keeps per connection (the C layer's handle).
    public var onRetire: (@Sendable (_ leaseTag: UInt) -> Void)?

    public init(limits: PoolLimits, name: String, preCreate: Int = 0, defaultTimeoutNanos: UInt64 = 30_000_000_000,
                defaultOverflowAfterNanos: UInt64 = 0) {
        self.limits = limits
        self.name = name
        self.preCreate = preCreate
        self.defaultTimeoutNanos = defaultTimeoutNanos
        self.defaultOverflowAfterNanos = defaultOverflowAfterNanos
    }
}

/// A thread-safe connection pool. Decisions are made by `PoolStateMachine`
/// under one mutex; connecting, resetting, pinging and closing happen after
/// the mutex is released. A connection's instants (opened, idle since,
/// proven alive, borrowed) come from the coarse clock, so that a checkout
/// and a release read nothing else; waits, deadlines and wait times from the
/// precise one.
public final class ConnectionPool<Factory: ConnectionFactory>: @unchecked Sendable {
    public typealias Slot = PooledSlot<Factory.Connection>

    public let settings: PoolSettings
    public var name: String { settings.name }
    public let factory: Factory
    let id: UInt64
    let mutex = PThreadMutex()
    var state: PoolStateMachine<Factory.Connection>
    /// Set in init (and again in a forked child); stopped by close.
    private var maintenance: MaintenanceThread?
    /// The ForkWatch generation the books are for: changed under `mutex`, and
    /// only in a forked child (one thread); read without the lock on every
    /// call, where a stale value only takes the slow path. (An Atomic here
    /// crashes the Swift 6.3 compiler in this generic class.)
    private var forkGeneration = ForkWatch.generation

    /// Checks the limits and opens `preCreate` connections; if one cannot be
    /// opened, the others are closed and the error is thrown.
    public init(settings: PoolSettings, factory: Factory) throws(PoolError) {
        try Self.validate(settings)
        self.settings = settings
        self.factory = factory
        id = nextPoolID.add()
        state = PoolStateMachine(limits: settings.limits, name: settings.name)
        var opened: [Slot] = []
        do {
            for _ in 0..<settings.preCreate {
                let connection = try factory.connect()
                opened.append(Slot(connection: connection, createdAt: MonotonicClock.coarse(), poolID: id,
                                   hostKey: factory.hostKey(connection)))
            }
        } catch {
            opened.forEach { factory.close($0.connection) }
            throw error
        }
        mutex.withLock { opened.forEach { state.addIdle($0) } }
        ForkWatch.watch(mutex)
        maintenance = startMaintenance()
    }

    /// The thread gets an unretained reference: it must not keep the pool
    /// alive, and a weak one would put every retain of the pool on the slow
    /// path of the reference count. It is safe because the pool's deinit
    /// (through close) stops and joins the thread before the pool is freed.
    private func startMaintenance() -> MaintenanceThread? {
        guard settings.limits.needsMaintenance else { return nil }
        let unretained = Unmanaged.passUnretained(self)
        return MaintenanceThread(every: settings.limits.maintenancePeriodNanos) {
            let pool = unretained.takeUnretainedValue()
            pool.maintain()
            return !pool.isClosed
        }
    }

    /// In a child process after fork(): the books describe the parent's
    /// connections. Start over with none; the parent's idle connections are
    /// abandoned (descriptor closed, no COM_QUIT), borrowed ones when they
    /// come back. The maintenance thread did not survive the fork.
    @inline(__always)
    func startOverIfForked() {
        if forkGeneration != ForkWatch.generation { startOverAfterFork() }
    }

    private func startOverAfterFork() {
        let inherited: [Slot] = mutex.withLock {
            guard forkGeneration != ForkWatch.generation else { return [] }
            forkGeneration = ForkWatch.generation
            let idle = state.takeIdleForFork()
            let wasClosed = state.isClosed
            state = PoolStateMachine(limits: settings.limits, name: settings.name)
            if wasClosed { _ = state.close(now: MonotonicClock.now()) }
            maintenance = wasClosed ? nil : startMaintenance()
            return idle
        }
        inherited.forEach { retire($0, abandon: true) }
    }

    /// A pool dropped without close() still closes its idle connections.
    deinit {
        close()
    }

    static func validate(_ settings: PoolSettings) throws(PoolError) {
        let limits = settings.limits
        guard limits.maxsize >= 1 else {
            throw PoolError(.badArgument, "maxsize must be at least 1, got \(limits.maxsize)")
        }
        guard limits.size >= 0 && limits.size <= limits.maxsize else {
            throw PoolError(.badArgument, "size must be between 0 and maxsize (\(limits.maxsize)), got \(limits.size)")
        }
        guard settings.preCreate >= 0 && settings.preCreate <= limits.maxsize else {
            throw PoolError(.badArgument,
                            "pre_create_num must be between 0 and maxsize (\(limits.maxsize)), got \(settings.preCreate)")
        }
    }

    /// Borrows a connection. An idle one is checked first as the limits say
    /// (socket peek, ping); a dead one is closed and the next tried, so the
    /// caller never receives it.
    /// - Parameters:
    ///   - timeoutNanos: how long to wait; nil uses the pool's default, 0 never waits.
    ///   - overflowAfterNanos: with `size` connections open, how long to wait
    ///     for an idle one before opening one above size; nil uses the pool's default.
    ///   - ping: validate with a round trip whatever the limits say.
    public func get(timeoutNanos: UInt64? = nil, overflowAfterNanos: UInt64? = 0, ping: Bool = false) throws(PoolError) -> Slot {
        startOverIfForked()
        var deadlines = CallDeadlines(timeout: timeoutNanos ?? settings.defaultTimeoutNanos,
                                      overflowAfter: overflowAfterNanos ?? settings.defaultOverflowAfterNanos)
        while true {
            // Each failed check uses up an idle connection, so this loop ends.
            let (slot, planned) = try acquire(&deadlines)
            // A connection opened just now (planned == nil) needs no proof of life.
            guard let planned else { return lend(slot) }
            if factory.isRetired(slot.connection) {
                finishRelease(slot, .retired(atCheckout: true))
                continue
            }
            if passes(slot, ping ? .ping : planned, countPing: planned != .ping, deadlines: &deadlines) {
                return lend(slot)
            }
            finishRelease(slot, .failedValidation)
            PoolLog.emit(.info, pool: name, "a pooled connection was found dead before checkout and replaced")
        }
    }

    @inline(__always)
    func lend(_ slot: Slot) -> Slot {
        factory.lent(slot.connection)
        return slot
    }

    /// A pool's ping waits at least this long, and at most `maxPingNanos`.
    static var minPingNanos: UInt64 { 100_000_000 }
    static var maxPingNanos: UInt64 { 5_000_000_000 }

    /// When a ping started now must be given up: the caller's deadline, but
    /// never less than a short round trip needs nor more than a few seconds.
    private func pingDeadline(callerDeadline: UInt64 = .max) -> UInt64 {
        let now = MonotonicClock.now()
        return Swift.min(Swift.max(callerDeadline, now &+ Self.minPingNanos), now &+ Self.maxPingNanos)
    }

    func passes(_ slot: Slot, _ check: LeaseCheck, countPing: Bool, deadlines: inout CallDeadlines) -> Bool {
        switch check {
        case .none:
            return true
        case .peek:
            return factory.isSocketAlive(slot.connection)
        case .ping:
            if countPing { mutex.withLock { state.countPing() } }
            guard factory.isSocketAlive(slot.connection),
                  factory.ping(slot.connection, deadline: pingDeadline(callerDeadline: deadlines.anchor().deadline),
                               owner: id)
            else { return false }
            let now = MonotonicClock.coarse()
            mutex.withLock { state.provedAlive(slot, now: now) }
            return true
        }
    }

    /// Gives a borrowed connection back; it is reset first (outside the lock)
    /// unless `discard` asks for it to be closed.
    public func release(_ slot: Slot, discard: Bool = false) throws(PoolError) {
        startOverIfForked()
        if slot.forkGeneration != ForkWatch.generation {
            // Borrowed in the parent: not in this process's books.
            retire(slot, abandon: true)
            return
        }
        try checkLeased(slot)
        var condition = discard ? ReturnCondition.discarded : factory.prepareForReuse(slot.connection)
        if case .reusable = condition, factory.isRetired(slot.connection) { condition = .retired(atCheckout: false) }
        finishRelease(slot, condition, heardAt: factory.lastHeardFrom(slot.connection))
    }

    /// Closes the idle connections the factory has retired (their host's
    /// role changed); borrowed ones go at their release.
    public func closeRetiredIdle() {
        let retired = mutex.withLock { state.removeIdle { factory.isRetired($0.connection) } }
        retired.forEach { retire($0) }
    }

    /// Wakes waiters with `.closed`, closes idle connections, stops the
    /// maintenance; borrowed ones are closed as they come back.
    public func close() {
        startOverIfForked()
        let (slots, waiters) = mutex.withLock { state.close(now: MonotonicClock.now()) }
        waiters.forEach { $0.wake() }
        slots.forEach { retire($0) }
        Watchdog.shared.fireAll(owner: id)  // a keepalive ping on a stalled link must not hold up close
        maintenance?.stop()
    }

    public func stats() -> PoolStats {
        startOverIfForked()
        return mutex.withLock { state.stats() }
    }

    public var isClosed: Bool { mutex.withLock { state.isClosed } }

    /// Whether the slot was opened by this pool.
    public func owns(_ slot: Slot) -> Bool { slot.poolID == id }

    private func checkLeased(_ slot: Slot) throws(PoolError) {
        guard owns(slot) else {
            throw PoolError(.wrongHandle, "the connection belongs to another pool, not to '\(name)'")
        }
        guard slot.isLeased else {
            throw PoolError(.wrongHandle, "the connection was already released to pool '\(name)'")
        }
    }

    /// Every connection that was in the books leaves through here (those
    /// that never were are closed where they fail).
    func retire(_ slot: Slot, abandon: Bool = false) {
        if abandon { factory.abandon(slot.connection) } else { factory.close(slot.connection) }
        if let onRetire = settings.onRetire {
            let tag = slot.leaseTag.exchange(0, ordering: .relaxed)
            if tag != 0 { onRetire(tag) }
        }
    }

    func finishRelease(_ slot: Slot, _ condition: ReturnCondition, heardAt: UInt64? = nil) {
        let now = MonotonicClock.coarse()
        let outcome = mutex.withLock { state.release(slot, condition, now: now, heardAt: heardAt) }
        outcome.wake?.wake()
        if let closing = outcome.close { retire(closing) }
    }

    /// A connection and the check it needs before use (taken idle or handed
    /// over to this caller while it waited): nil for one opened just now.
    private func acquire(_ deadlines: inout CallDeadlines) throws(PoolError) -> (Slot, LeaseCheck?) {
        var expired: [Slot] = []
        let now = MonotonicClock.coarse()
        let mayOverflow = deadlines.mayOverflow()
        let spread = factory.spreadHosts()
        var host: Int?
        let decision: WaitOutcome<Factory.Connection> = mutex.withLock {
            let next: PoolStateMachine<Factory.Connection>.Acquire
            if let spread {
                (next, host) = state.acquire(now: now, mayOverflow: mayOverflow, mayWait: deadlines.timeout > 0,
                                             expired: &expired, spreadingOver: spread)
            } else {
                next = state.acquire(now: now, mayOverflow: mayOverflow, mayWait: deadlines.timeout > 0,
                                     expired: &expired)
            }
            switch next {
            case .lease(let slot, let check): return .lease(slot, check)
            case .create: return .create
            case .fail(let error): return .fail(error)
            case .wait:
                let (deadline, overflowAt) = deadlines.anchor()
                return waitForTurn(enqueuedAt: MonotonicClock.now(), deadline: deadline, overflowAt: overflowAt)
            }
        }
        expired.forEach { retire($0) }
        switch decision {
        case .lease(let slot, let check): return (slot, check)
        case .create: return (try openForCaller(preferring: host), nil)
        case .fail(let error): throw error
        }
    }

    /// Runs with the mutex held; the condition wait releases it while asleep.
    private func waitForTurn(enqueuedAt: UInt64, deadline: UInt64, overflowAt: UInt64) -> WaitOutcome<Factory.Connection> {
        let waiter = Waiter<Factory.Connection>(enqueuedAt: enqueuedAt, deadline: deadline, overflowAt: overflowAt)
        state.enqueue(waiter)
        while true {
            switch state.check(waiter, now: MonotonicClock.now()) {
            case .done(let outcome): return outcome
            case .waitUntil(let instant): waiter.condition.wait(on: mutex, until: instant)
            }
        }
    }

    /// Opens a connection in capacity the state machine reserved; on failure
    /// the capacity goes to the first waiter.
    private func connectInReservedCapacity(preferring host: Int? = nil) throws(PoolError) -> Factory.Connection {
        do {
            return try factory.connect(preferring: host)
        } catch {
            let waiter = mutex.withLock { state.connectFailed(now: MonotonicClock.now()) }
            waiter?.wake()
            throw error
        }
    }

    /// Opens a connection in capacity the state machine reserved for us.
    func openForCaller(preferring host: Int?) throws(PoolError) -> Slot {
        let connection = try connectInReservedCapacity(preferring: host)
        let now = MonotonicClock.coarse()
        let slot = Slot(connection: connection, createdAt: now, poolID: id, hostKey: factory.hostKey(connection))
        guard mutex.withLock({ state.connectSucceeded(slot, now: now) }) else {
            factory.close(connection)
            throw PoolError.closed(name)
        }
        return slot
    }
}

extension ConnectionPool {
    /// One maintenance pass: the decisions under the lock, the closing,
    /// pinging and opening after it.
    func maintain() {
        let now = MonotonicClock.coarse()
        let work = mutex.withLock { state.maintain(now: now) }
        for (slot, reason) in work.close {
            retire(slot)
            PoolLog.emit(.debug, pool: name, "closed an idle connection (\(reason))")
        }
        for (slot, borrowedFor) in work.leaks {
            PoolLog.emit(.warning, pool: name, leaseTag: slot.leaseTag.load(ordering: .relaxed),
                         "possible connection leak: a connection has been borrowed for \(borrowedFor / 1_000_000) ms "
                             + "and not returned")
        }
        for slot in work.ping {
            let alive = factory.isSocketAlive(slot.connection)
                && factory.ping(slot.connection, deadline: pingDeadline(), owner: id)
            let (wake, close) = mutex.withLock { state.keepaliveFinished(slot, alive: alive, now: MonotonicClock.coarse()) }
            wake?.wake()
            if close {
                retire(slot)
                if !alive { PoolLog.emit(.info, pool: name, "keepalive found an idle connection dead; closed it") }
            }
        }
        for _ in 0..<work.open { openIdle() }
    }

    /// Opens one connection for `minIdle` in capacity `maintain` reserved.
    private func openIdle() {
        let connection: Factory.Connection
        do {
            connection = try connectInReservedCapacity()
        } catch {
            PoolLog.emit(.warning, pool: name, "could not open a connection to keep min_idle: \(error.message)")
            return
        }
        let now = MonotonicClock.coarse()
        let slot = Slot(connection: connection, createdAt: now, poolID: id, hostKey: factory.hostKey(connection))
        let (wake, close) = mutex.withLock { state.connectSucceededIdle(slot, now: now) }
        wake?.wake()
        if let close { retire(close) }
    }
}

/// A get's deadlines, anchored to the precise clock only when the call first
/// needs them (to wait or to ping): a checkout served at once from the idle
/// list reads the coarse clock alone.
struct CallDeadlines {
    let timeout: UInt64
    let overflowAfter: UInt64
    private var start: UInt64?

    init(timeout: UInt64, overflowAfter: UInt64) {
        self.timeout = timeout
        self.overflowAfter = overflowAfter
    }

    /// The deadline and the instant from which the call may open a
    /// connection above size, counted from the first time this is asked.
    mutating func anchor() -> (deadline: UInt64, overflowAt: UInt64) {
        let start = self.start ?? MonotonicClock.now()
        self.start = start
        let deadline = start.addingReportingOverflow(timeout).overflow ? UInt64.max : start + timeout
        return (deadline, start &+ Swift.min(overflowAfter, timeout))
    }

    /// Whether the call may open a connection above size now.
    @inline(__always)
    func mayOverflow() -> Bool {
        guard let start else { return timeout == 0 || overflowAfter == 0 }
        return start &+ Swift.min(overflowAfter, timeout) <= MonotonicClock.now()
    }
}

/// Pool ids, also the Watchdog owner ids of other background work.
let nextPoolID = AtomicCounter()
