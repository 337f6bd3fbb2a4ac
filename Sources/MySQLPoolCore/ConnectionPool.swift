/// What the pool needs from a database driver. Every method may block on
/// network I/O; the pool never calls them while holding its lock.
public protocol ConnectionFactory: Sendable {
    associatedtype Connection

    func connect() throws(PoolError) -> Connection
    /// Makes a returned connection fit for the next borrower (rollback,
    /// autocommit, ...), or says it is not.
    func prepareForReuse(_ connection: Connection) -> ReturnCondition
    /// A round trip proving the connection works (COM_PING).
    func ping(_ connection: Connection) -> Bool
    func close(_ connection: Connection)
}

/// Settings a pool is created with, beyond its limits.
public struct PoolSettings: Sendable {
    public var limits: PoolLimits
    public var name: String
    /// Connections opened by the initializer.
    public var preCreate: Int
    /// Wait used when a caller passes no timeout.
    public var defaultTimeoutNanos: UInt64

    public init(limits: PoolLimits, name: String, preCreate: Int = 0, defaultTimeoutNanos: UInt64 = 30_000_000_000) {
        self.limits = limits
        self.name = name
        self.preCreate = preCreate
        self.defaultTimeoutNanos = defaultTimeoutNanos
    }
}

/// A thread-safe connection pool. Decisions are made by `PoolStateMachine`
/// under one mutex; connecting, resetting, pinging and closing happen after
/// the mutex is released.
public final class ConnectionPool<Factory: ConnectionFactory>: @unchecked Sendable {
    public typealias Slot = PooledSlot<Factory.Connection>

    public let settings: PoolSettings
    public var name: String { settings.name }
    public let factory: Factory
    let id: UInt64
    private let mutex = PThreadMutex()
    private var state: PoolStateMachine<Factory.Connection>

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
                opened.append(Slot(connection: try factory.connect(), createdAt: MonotonicClock.now(), poolID: id))
            }
        } catch {
            opened.forEach { factory.close($0.connection) }
            throw error
        }
        mutex.withLock { opened.forEach { state.addIdle($0) } }
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

    /// Borrows a connection.
    /// - Parameters:
    ///   - timeoutNanos: how long to wait; nil uses the pool's default, 0 never waits.
    ///   - overflowAfterNanos: with `size` connections open, how long to wait
    ///     for an idle one before opening one above size.
    ///   - ping: validate with a round trip; a dead connection is replaced.
    public func get(timeoutNanos: UInt64? = nil, overflowAfterNanos: UInt64 = 0, ping: Bool = false) throws(PoolError) -> Slot {
        let start = MonotonicClock.now()
        let timeout = timeoutNanos ?? settings.defaultTimeoutNanos
        let deadline = start.addingReportingOverflow(timeout).overflow ? UInt64.max : start + timeout
        let overflowAt = timeout == 0 ? start : start &+ Swift.min(overflowAfterNanos, timeout)
        while true {
            let (slot, isFresh) = try acquire(deadline: deadline, overflowAt: overflowAt, mayWait: timeout > 0)
            // A connection opened just now needs no proof of life; each failed
            // ping uses up an idle one, so this loop ends.
            if !ping || isFresh || factory.ping(slot.connection) { return slot }
            finishRelease(slot, .discarded)
        }
    }

    /// Gives a borrowed connection back; it is reset first (outside the lock)
    /// unless `discard` asks for it to be closed.
    public func release(_ slot: Slot, discard: Bool = false) throws(PoolError) {
        try checkLeased(slot)
        finishRelease(slot, discard ? .discarded : factory.prepareForReuse(slot.connection))
    }

    /// Wakes waiters with `.closed`, closes idle connections; borrowed ones are
    /// closed as they come back.
    public func close() {
        let (slots, waiters) = mutex.withLock { state.close(now: MonotonicClock.now()) }
        waiters.forEach { $0.condition.signal() }
        slots.forEach { factory.close($0.connection) }
    }

    public func stats() -> PoolStats {
        mutex.withLock { state.stats() }
    }

    public var isClosed: Bool { mutex.withLock { state.isClosed } }

    /// Whether the slot was opened by this pool.
    public func owns(_ slot: Slot) -> Bool { slot.poolID == id }

    private func checkLeased(_ slot: Slot) throws(PoolError) {
        guard owns(slot) else {
            throw PoolError(.wrongHandle, "the connection belongs to another pool, not to '\(name)'")
        }
        let leased = mutex.withLock { slot.isLeased }
        guard leased else {
            throw PoolError(.wrongHandle, "the connection was already released to pool '\(name)'")
        }
    }

    private func finishRelease(_ slot: Slot, _ condition: ReturnCondition) {
        let outcome = mutex.withLock { state.release(slot, condition, now: MonotonicClock.now()) }
        outcome.wake?.condition.signal()
        if let closing = outcome.close { factory.close(closing.connection) }
    }

    /// A connection and whether it was opened for this call.
    private func acquire(deadline: UInt64, overflowAt: UInt64, mayWait: Bool) throws(PoolError) -> (Slot, Bool) {
        var expired: [Slot] = []
        let now = MonotonicClock.now()
        let decision: WaitOutcome<Factory.Connection> = mutex.withLock {
            switch state.acquire(now: now, mayOverflow: overflowAt <= now, mayWait: mayWait, expired: &expired) {
            case .lease(let slot): return .lease(slot)
            case .create: return .create
            case .fail(let error): return .fail(error)
            case .wait: return waitForTurn(enqueuedAt: now, deadline: deadline, overflowAt: overflowAt)
            }
        }
        expired.forEach { factory.close($0.connection) }
        switch decision {
        case .lease(let slot): return (slot, false)
        case .create: return (try openForCaller(), true)
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

    /// Opens a connection in capacity the state machine reserved for us.
    private func openForCaller() throws(PoolError) -> Slot {
        let connection: Factory.Connection
        do {
            connection = try factory.connect()
        } catch {
            let waiter = mutex.withLock { state.connectFailed(now: MonotonicClock.now()) }
            waiter?.condition.signal()
            throw error
        }
        let slot = Slot(connection: connection, createdAt: MonotonicClock.now(), poolID: id)
        guard mutex.withLock({ state.connectSucceeded(slot) }) else {
            factory.close(connection)
            throw PoolError.closed(name)
        }
        return slot
    }
}

private let nextPoolID = AtomicCounter()
