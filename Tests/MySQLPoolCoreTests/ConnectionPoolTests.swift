import Synchronization
import Testing

@testable import MySQLPoolCore

#if canImport(Glibc)
import Glibc
#endif

/// A connection factory with no database: counts what the pool asks of it and
/// fails or breaks on demand.
final class FakeFactory: ConnectionFactory, @unchecked Sendable {
    struct Script {
        var failConnectAfter = Int.max
        var returnCondition: ReturnCondition = .reusable(neededRoundTrip: false)
        var pingSucceeds = true
    }

    private let script: Mutex<Script>
    let connects = Atomic<Int>(0)
    let closes = Atomic<Int>(0)
    let pings = Atomic<Int>(0)

    init(_ script: Script = Script()) {
        self.script = Mutex(script)
    }

    func update(_ change: (inout Script) -> Void) {
        script.withLock { change(&$0) }
    }

    func connect() throws(PoolError) -> FakeConnection {
        let number = connects.add(1, ordering: .relaxed).newValue
        if number > script.withLock({ $0.failConnectAfter }) {
            throw PoolError(.server, "Can't connect to server", serverErrno: 2003)
        }
        return FakeConnection(number)
    }

    func prepareForReuse(_ connection: FakeConnection) -> ReturnCondition {
        script.withLock { $0.returnCondition }
    }

    func ping(_ connection: FakeConnection, deadline: UInt64, owner: UInt64) -> Bool {
        pings.add(1, ordering: .relaxed)
        return script.withLock { $0.pingSucceeds }
    }

    func close(_ connection: FakeConnection) {
        closes.add(1, ordering: .relaxed)
    }
}

private func pool(size: Int = 2, maxsize: Int = 4, preCreate: Int = 0, factory: FakeFactory = FakeFactory())
    throws(PoolError) -> ConnectionPool<FakeFactory>
{
    try ConnectionPool(
        settings: PoolSettings(limits: PoolLimits(size: size, maxsize: maxsize, lifetimeNanos: 0), name: "fake",
                               preCreate: preCreate, defaultTimeoutNanos: 5_000_000_000),
        factory: factory)
}

private let millisecond: UInt64 = 1_000_000

/// Runs `body` on `count` threads at once and waits for all of them.
private func onThreads(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) {
    final class Job {
        let index: Int
        let body: @Sendable (Int) -> Void
        init(_ index: Int, _ body: @escaping @Sendable (Int) -> Void) { self.index = index; self.body = body }
    }
    var threads: [pthread_t] = []
    for index in 0..<count {
        var thread = pthread_t()
        let job = Unmanaged.passRetained(Job(index, body)).toOpaque()
        let created = pthread_create(&thread, nil, { raw in
            let job = Unmanaged<Job>.fromOpaque(raw!).takeRetainedValue()
            job.body(job.index)
            return nil
        }, job)
        precondition(created == 0)
        threads.append(thread)
    }
    for thread in threads { pthread_join(thread, nil) }
}

@Suite struct ConnectionPoolTests {
    @Test func impossibleLimitsAreRejectedWithTheValuesNamed() {
        #expect(throws: PoolError.self) { try pool(size: 5, maxsize: 2) }
        do {
            _ = try pool(size: 5, maxsize: 2)
        } catch {
            #expect(error.kind == .badArgument)
            #expect(error.message.contains("size") && error.message.contains("5") && error.message.contains("2"))
        }
        #expect(throws: PoolError.self) { try pool(size: 0, maxsize: 0) }
        #expect(throws: PoolError.self) { try pool(maxsize: 2, preCreate: 3) }
    }

    @Test func preCreateOpensConnectionsAndAFailureClosesThemAll() throws {
        let factory = FakeFactory()
        let filled = try pool(preCreate: 2, factory: factory)
        #expect(filled.stats().idle == 2)
        #expect(filled.stats().created == 2)

        let failing = FakeFactory(.init(failConnectAfter: 2))
        #expect(throws: PoolError.self) { try pool(maxsize: 4, preCreate: 3, factory: failing) }
        let closes = failing.closes.load(ordering: .relaxed)
        #expect(closes == 2)
    }

    @Test func releaseTwiceOrIntoAnotherPoolIsRefused() throws {
        let first = try pool(), second = try pool()
        let slot = try first.get()
        #expect(throws: PoolError.self) { try second.release(slot) }
        try first.release(slot)
        do {
            try first.release(slot)
            Issue.record("a double release must fail")
        } catch {
            #expect(error.kind == .wrongHandle)
            #expect(error.message.contains("already released"))
        }
        #expect(first.stats().releases == 1)
    }

    @Test func aTimeoutReturnsExhaustedNotAServerError() throws {
        let limited = try pool(size: 1, maxsize: 1)
        let held = try limited.get()
        let start = MonotonicClock.now()
        do {
            _ = try limited.get(timeoutNanos: 50 * millisecond)
            Issue.record("the pool is exhausted")
        } catch {
            #expect(error.kind == .exhausted)
        }
        #expect(MonotonicClock.now() - start >= 50 * millisecond)
        #expect(throws: PoolError.self) { try limited.get(timeoutNanos: 0) }
        try limited.release(held)
        let stats = limited.stats()
        #expect(stats.timeouts == 2 && stats.waitCount == 1 && stats.waiting == 0)
    }

    @Test func aReleaseWakesAWaitingThread() throws {
        let limited = try pool(size: 1, maxsize: 1)
        let held = try limited.get()
        let served = Atomic<Bool>(false)
        onThreads(2) { index in
            if index == 0 {
                if let slot = try? limited.get(timeoutNanos: 5_000 * millisecond) {
                    served.store(slot === held, ordering: .relaxed)
                    try? limited.release(slot)
                }
            } else {
                while limited.stats().waiting == 0 { usleep(100) }
                try? limited.release(held)
            }
        }
        let waiterGotTheReleasedConnection = served.load(ordering: .relaxed)
        #expect(waiterGotTheReleasedConnection)
    }

    @Test func brokenConnectionsAreClosedAndReplacedOnDemand() throws {
        let factory = FakeFactory()
        let pool = try pool(factory: factory)
        let slot = try pool.get()
        factory.update { $0.returnCondition = .broken }
        try pool.release(slot)
        #expect(pool.stats().closedBroken == 1)
        #expect(pool.stats().total == 0)
        factory.update { $0.returnCondition = .reusable(neededRoundTrip: true) }
        let replacement = try pool.get()
        #expect(replacement !== slot)
        try pool.release(replacement)
        #expect(pool.stats().resets == 1)
    }

    @Test func aFailedPingReplacesTheConnectionTransparently() throws {
        let factory = FakeFactory()
        let pool = try pool(preCreate: 2, factory: factory)
        factory.update { $0.pingSucceeds = false }
        // Both idle connections fail their ping; the caller gets a new one,
        // which is not pinged because it was opened just now.
        let slot = try pool.get(timeoutNanos: 0, ping: true)
        #expect(slot.connection.number == 3)
        let pings = factory.pings.load(ordering: .relaxed)
        #expect(pings == 2)
        #expect(pool.stats().closedValidation == 2)
        #expect(pool.stats().pings == 2)
        #expect(pool.stats().gets == 1)
        try pool.release(slot)
        factory.update { $0.pingSucceeds = true }
        let reused = try pool.get(ping: true)
        #expect(reused === slot)
        try pool.release(reused)
    }

    @Test func aConnectFailureReachesTheCaller() throws {
        let pool = try pool(factory: FakeFactory(.init(failConnectAfter: 0)))
        do {
            _ = try pool.get()
            Issue.record("connect should fail")
        } catch {
            #expect(error.kind == .server && error.serverErrno == 2003)
        }
        let stats = pool.stats()
        #expect(stats.connectFailures == 1 && stats.total == 0)
    }

    @Test func closeWakesWaitersAndClosesIdleAndReturnedConnections() throws {
        let factory = FakeFactory()
        let pool = try pool(size: 2, maxsize: 2, preCreate: 2, factory: factory)
        let a = try pool.get(), b = try pool.get()
        try pool.release(a)
        _ = try pool.get()  // a again
        let failure = Mutex<PoolError?>(nil)
        onThreads(2) { index in
            if index == 0 {
                do throws(PoolError) {
                    _ = try pool.get(timeoutNanos: 5_000 * millisecond)
                } catch {
                    failure.withLock { $0 = error }
                }
            } else {
                while pool.stats().waiting == 0 { usleep(100) }
                pool.close()
            }
        }
        let failureKind = failure.withLock { $0?.kind }
        #expect(failureKind == .closed)
        try pool.release(b)
        try pool.release(a)
        #expect(pool.stats().total == 0)
        let closes = factory.closes.load(ordering: .relaxed)
        #expect(closes == 2)
        #expect(throws: PoolError.self) { try pool.get() }
    }

    @Test func manyThreadsNeverExceedMaxsizeAndTheBooksBalance() throws {
        let factory = FakeFactory()
        let pool = try pool(size: 2, maxsize: 4, factory: factory)
        let maxInUse = Atomic<Int>(0)
        let errors = Atomic<Int>(0)
        onThreads(16) { index in
            for round in 0..<500 {
                do {
                    let slot = try pool.get(timeoutNanos: 5_000 * millisecond, overflowAfterNanos: UInt64(round % 3))
                    let stats = pool.stats()
                    maxInUse.max(stats.inUse, ordering: .relaxed)
                    if stats.inUse + stats.idle + stats.opening != stats.total || stats.total > 4 {
                        errors.add(1, ordering: .relaxed)
                    }
                    try pool.release(slot, discard: (index + round) % 97 == 0)
                } catch {
                    errors.add(1, ordering: .relaxed)
                }
            }
        }
        let stats = pool.stats()
        let errorCount = errors.load(ordering: .relaxed), peak = maxInUse.load(ordering: .relaxed)
        #expect(errorCount == 0)
        #expect(peak <= 4)
        #expect(stats.gets == 16 * 500 && stats.releases == 16 * 500)
        #expect(stats.inUse == 0 && stats.waiting == 0 && stats.total <= 4)
        let connects = UInt64(factory.connects.load(ordering: .relaxed))
        #expect(connects == stats.created)
        let closed = stats.closedOverflow + stats.closedDiscarded
        #expect(stats.created - closed == UInt64(stats.total))
    }
}

/// The maintenance thread with a fake factory and real (short) times.
@Suite struct MaintenanceThreadTests {
    private static func pool(_ configure: (inout PoolLimits) -> Void, preCreate: Int = 0, factory: FakeFactory)
        throws(PoolError) -> ConnectionPool<FakeFactory>
    {
        var limits = PoolLimits(size: 2, maxsize: 4, lifetimeNanos: 0)
        configure(&limits)
        return try ConnectionPool(
            settings: PoolSettings(limits: limits, name: "maintained", preCreate: preCreate,
                                   defaultTimeoutNanos: 1_000_000_000),
            factory: factory)
    }

    /// Polls `condition` for up to two seconds.
    private static func eventually(_ condition: () -> Bool) -> Bool {
        for _ in 0..<200 {
            if condition() { return true }
            usleep(10_000)
        }
        return condition()
    }

    @Test func idleConnectionsAreClosedInTheBackgroundDownToMinIdle() throws {
        let factory = FakeFactory()
        let pool = try Self.pool({ $0.idleTimeoutNanos = 50_000_000; $0.minIdle = 1 }, preCreate: 3, factory: factory)
        #expect(Self.eventually { pool.stats().idle == 1 })
        #expect(pool.stats().closedIdle == 2)
        // Counted under the lock; closed just after, outside it.
        #expect(Self.eventually { factory.closes.load(ordering: .relaxed) == 2 })
        pool.close()
    }

    @Test func minIdleIsFilledInTheBackground() throws {
        let factory = FakeFactory()
        let pool = try Self.pool({ $0.minIdle = 3 }, factory: factory)
        #expect(Self.eventually { pool.stats().idle == 3 })
        pool.close()
        #expect(pool.stats().total == 0)
    }

    @Test func keepaliveClosesADeadIdleConnectionBeforeAnyoneAsks() throws {
        let factory = FakeFactory()
        let pool = try Self.pool({ $0.keepaliveNanos = 40_000_000 }, preCreate: 1, factory: factory)
        factory.update { $0.pingSucceeds = false }
        #expect(Self.eventually { pool.stats().closedValidation == 1 })
        #expect(pool.stats().total == 0)
        pool.close()
    }

    @Test func leaksAreLoggedWithTheBorrowersTag() throws {
        let seen = Mutex<[(PoolLog.Level, UInt, String)]>([])
        PoolLog.setSink { level, _, tag, message in seen.withLock { $0.append((level, tag, message)) } }
        defer { PoolLog.setSink(nil) }
        let pool = try Self.pool({ $0.leakThresholdNanos = 30_000_000 }, factory: FakeFactory())
        let slot = try pool.get()
        slot.leaseTag.store(0xABC, ordering: .relaxed)
        #expect(Self.eventually { pool.stats().leaks == 1 })
        // The count comes first, the message just after it (outside the lock).
        #expect(Self.eventually { seen.withLock { $0.contains { $0.2.contains("leak") } } })
        let leak = seen.withLock { $0.first { $0.2.contains("leak") } }
        #expect(leak?.0 == .warning)
        #expect(leak?.1 == 0xABC)
        try pool.release(slot)
        pool.close()
    }

    @Test func aDroppedPoolStopsItsThread() throws {
        let factory = FakeFactory()
        weak var weakPool: ConnectionPool<FakeFactory>?
        do {
            let pool = try Self.pool({ $0.idleTimeoutNanos = 20_000_000 }, preCreate: 1, factory: factory)
            weakPool = pool
        }
        #expect(weakPool == nil)
        #expect(factory.closes.load(ordering: .relaxed) == 1)
    }
}
