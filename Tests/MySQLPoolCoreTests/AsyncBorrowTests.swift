import Synchronization
import Testing

@testable import MySQLPoolCore

#if canImport(Glibc)
import Glibc
#endif

/// An event loop's borrows (AsyncBorrow) against the fake factory: woken
/// through their eventfd, in one queue with threads, cancelled with the
/// books kept right; run under TSan with the other unit tests.
@Suite struct AsyncBorrowTests {
    private func makePool(size: Int = 1, maxsize: Int = 1, factory: FakeFactory = FakeFactory())
        throws -> ConnectionPool<FakeFactory>
    {
        try ConnectionPool(
            settings: PoolSettings(limits: PoolLimits(size: size, maxsize: maxsize, lifetimeNanos: 0), name: "fake",
                                   preCreate: 0, defaultTimeoutNanos: 5_000_000_000),
            factory: factory)
    }

    /// Waits (poll) until the borrow's eventfd is readable; false at the timeout.
    private func readable(_ borrow: ConnectionPool<FakeFactory>.Borrow, milliseconds: Int32) -> Bool {
        var descriptor = pollfd(fd: borrow.eventFD, events: Int16(POLLIN), revents: 0)
        return poll(&descriptor, 1, milliseconds) == 1
    }

    /// Continues until ready, waiting on the eventfd in between.
    private func finish(_ pool: ConnectionPool<FakeFactory>, _ borrow: ConnectionPool<FakeFactory>.Borrow) throws
        -> PooledSlot<FakeConnection>
    {
        while true {
            switch try pool.continueBorrow(borrow) {
            case .ready(let slot): return slot
            case .wait(let timeout):
                _ = readable(borrow, milliseconds: timeout.map { Int32(min($0 / 1_000_000 + 1, 5000)) } ?? 5000)
            }
        }
    }

    @Test func anEmptyPoolOpensOnAHelperAndAnIdleOneIsLentAtOnce() throws {
        let factory = FakeFactory()
        let pool = try makePool(factory: factory)
        let (step, borrow) = try pool.startBorrow()
        guard case .wait(nil) = step, let borrow else {
            Issue.record("an empty pool's borrow should wait for a helper, got \(step)")
            return
        }
        let slot = try finish(pool, borrow)
        #expect(factory.connects.load(ordering: .relaxed) == 1)
        try pool.release(slot)
        let (again, none) = try pool.startBorrow()
        guard case .ready(let idle) = again else {
            Issue.record("an idle connection should be lent at once")
            return
        }
        #expect(none == nil && idle === slot)
        try pool.release(idle)
        #expect(pool.stats().inUse == 0 && pool.stats().idle == 1)
    }

    @Test func threadsAndLoopsShareOneQueueInArrivalOrder() throws {
        let pool = try makePool()
        let held = try pool.get()
        let order = Mutex<[String]>([])
        let thread = Thread { () -> Void in
            guard let slot = try? pool.get() else { return }
            order.withLock { $0.append("thread") }
            try? pool.release(slot)
        }
        while pool.stats().waiting < 1 { usleep(1000) }
        let (_, pending) = try pool.startBorrow()
        let borrow = try #require(pending)
        #expect(pool.stats().waiting == 2)
        #expect(!readable(borrow, milliseconds: 20))
        try pool.release(held)
        thread.join()
        let slot = try finish(pool, borrow)
        order.withLock { $0.append("loop") }
        #expect(order.withLock { $0 } == ["thread", "loop"])
        try pool.release(slot)
        #expect(pool.stats().inUse == 0 && pool.stats().total == 1)
    }

    @Test func aCancelLeavesTheQueueOrGivesTheConnectionBack() throws {
        let pool = try makePool()
        let held = try pool.get()
        let (_, queued) = try pool.startBorrow()
        pool.cancelBorrow(try #require(queued))
        #expect(pool.stats().waiting == 0)
        let (_, handedOver) = try pool.startBorrow()
        let borrow = try #require(handedOver)
        try pool.release(held)
        #expect(readable(borrow, milliseconds: 1000))
        #expect(pool.stats().inUse == 1)
        pool.cancelBorrow(borrow)
        let stats = pool.stats()
        #expect(stats.inUse == 0 && stats.idle == 1 && stats.total == 1)
    }

    @Test func theDeadlineFailsTheBorrow() throws {
        let pool = try makePool()
        let held = try pool.get()
        let (step, pending) = try pool.startBorrow(timeoutNanos: 50_000_000)
        let borrow = try #require(pending)
        guard case .wait(let timeout?) = step else {
            Issue.record("a queued borrow should have a timeout")
            return
        }
        #expect(timeout <= 50_000_000)
        usleep(60_000)
        #expect(throws: PoolError.self) { try pool.continueBorrow(borrow) }
        #expect(pool.stats().timeouts == 1 && pool.stats().waiting == 0)
        try pool.release(held)
    }
}

/// A joinable thread for the tests.
private final class Thread {
    private var thread = pthread_t()

    init(_ body: @escaping () -> Void) {
        let box = Unmanaged.passRetained(Box(body)).toOpaque()
        pthread_create(&thread, nil, { raw in
            Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue().body()
            return nil
        }, box)
    }

    func join() {
        pthread_join(thread, nil)
    }

    private final class Box {
        let body: () -> Void
        init(_ body: @escaping () -> Void) { self.body = body }
    }
}
