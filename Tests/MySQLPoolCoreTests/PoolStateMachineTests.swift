import Testing

@testable import MySQLPoolCore

/// A stand-in connection: the state machine never looks inside it.
final class FakeConnection: @unchecked Sendable {
    let number: Int
    init(_ number: Int) { self.number = number }
}

private typealias Machine = PoolStateMachine<FakeConnection>
private typealias Slot = PooledSlot<FakeConnection>

private let second: UInt64 = 1_000_000_000

private func machine(size: Int = 2, maxsize: Int = 4, lifetime: UInt64 = 0) -> Machine {
    Machine(limits: PoolLimits(size: size, maxsize: maxsize, lifetimeNanos: lifetime), name: "test")
}

private let connectionNumbers = AtomicCounter()
private func slot(createdAt: UInt64 = 0) -> Slot {
    Slot(connection: FakeConnection(Int(connectionNumbers.add())), createdAt: createdAt, poolID: 1)
}

/// Drives acquire until it leases or creates; creation succeeds at once.
private func borrow(_ state: inout Machine, now: UInt64 = 0, mayOverflow: Bool = true) -> Slot? {
    var expired: [Slot] = []
    switch state.acquire(now: now, mayOverflow: mayOverflow, mayWait: true, expired: &expired) {
    case .lease(let leased, _): return leased
    case .create:
        let created = slot(createdAt: now)
        let leased = state.connectSucceeded(created, now: now)
        #expect(leased)
        return created
    case .wait, .fail: return nil
    }
}

private func checkInvariants(_ state: Machine) {
    let stats = state.stats()
    #expect(state.open == stats.idle + stats.inUse + state.validating)
    #expect(stats.total <= stats.maxsize)
    #expect(stats.total == state.open + stats.opening)
}

@Suite struct PoolStateMachineTests {
    @Test func opensUpToSizeThenOverflowsToMaxsizeThenWaits() {
        var state = machine(size: 2, maxsize: 3)
        #expect(borrow(&state, mayOverflow: false) != nil)
        #expect(borrow(&state, mayOverflow: false) != nil)
        var expired: [Slot] = []
        // At size, a caller that may not overflow yet must wait...
        guard case .wait = state.acquire(now: 0, mayOverflow: false, mayWait: true, expired: &expired) else {
            Issue.record("expected wait at size")
            return
        }
        // ...one that may overflow opens the third...
        #expect(borrow(&state) != nil)
        // ...and at maxsize everyone waits, or fails when it may not wait.
        guard case .wait = state.acquire(now: 0, mayOverflow: true, mayWait: true, expired: &expired) else {
            Issue.record("expected wait at maxsize")
            return
        }
        guard case .fail(let error) = state.acquire(now: 0, mayOverflow: true, mayWait: false, expired: &expired) else {
            Issue.record("expected an immediate failure")
            return
        }
        #expect(error.kind == .exhausted)
        #expect(state.stats().timeouts == 1)
        checkInvariants(state)
    }

    @Test func waitersAreServedFirstComeFirstServed() {
        var state = machine(size: 1, maxsize: 1)
        let held = borrow(&state)!
        let first = Waiter<FakeConnection>(enqueuedAt: 0, deadline: 10 * second, overflowAt: .max)
        let second_ = Waiter<FakeConnection>(enqueuedAt: 1, deadline: 10 * second, overflowAt: .max)
        state.enqueue(first)
        state.enqueue(second_)
        #expect(state.stats().waiting == 2)

        let release = state.release(held, .reusable(neededRoundTrip: false), now: 5)
        #expect(release.wake === first)
        #expect(release.close == nil)
        guard case .lease(let handed, _) = first.outcome else {
            Issue.record("first waiter was not served")
            return
        }
        #expect(handed === held)
        #expect(second_.outcome == nil)

        let again = state.release(handed, .reusable(neededRoundTrip: false), now: 7)
        #expect(again.wake === second_)
        let stats = state.stats()
        #expect(stats.waiting == 0)
        #expect(stats.waitCount == 2)
        #expect(stats.waitTimeNanos == 5 + 6)
        #expect(stats.maxWaitNanos == 6)
        checkInvariants(state)
    }

    @Test func aWaiterTimesOutAtItsDeadlineAndLeavesTheQueue() {
        var state = machine(size: 1, maxsize: 1)
        _ = borrow(&state)
        let waiter = Waiter<FakeConnection>(enqueuedAt: 0, deadline: 2 * second, overflowAt: .max)
        state.enqueue(waiter)
        guard case .waitUntil(let instant) = state.check(waiter, now: second) else {
            Issue.record("should still wait")
            return
        }
        #expect(instant == 2 * second)
        guard case .done(.fail(let error)) = state.check(waiter, now: 2 * second) else {
            Issue.record("should have timed out")
            return
        }
        #expect(error.kind == .exhausted)
        #expect(error.message.contains("2000 ms"))
        #expect(state.stats().waiting == 0)
        #expect(state.stats().timeouts == 1)
    }

    @Test func aWaiterMayOverflowAfterItsOverflowDelay() {
        var state = machine(size: 1, maxsize: 2)
        _ = borrow(&state, mayOverflow: false)
        let waiter = Waiter<FakeConnection>(enqueuedAt: 0, deadline: 10 * second, overflowAt: second)
        state.enqueue(waiter)
        guard case .waitUntil(let instant) = state.check(waiter, now: 0) else {
            Issue.record("should wait for the overflow instant")
            return
        }
        #expect(instant == second)
        guard case .done(.create) = state.check(waiter, now: second) else {
            Issue.record("should be allowed to open one above size")
            return
        }
        #expect(state.stats().opening == 1)
        #expect(state.stats().total == 2)
    }

    @Test func aWaiterWhoseOverflowInstantIsItsDeadlineOverflowsInsteadOfTimingOut() {
        var state = machine(size: 1, maxsize: 2)
        _ = borrow(&state, mayOverflow: false)
        let waiter = Waiter<FakeConnection>(enqueuedAt: 0, deadline: second, overflowAt: second)
        state.enqueue(waiter)
        guard case .done(.create) = state.check(waiter, now: second) else {
            Issue.record("retries are used up: the waiter should open one above size")
            return
        }
        #expect(state.stats().timeouts == 0)
    }

    @Test func expiredIdleConnectionsAreClosedWhenTaken() {
        var state = machine(size: 2, maxsize: 2, lifetime: 10 * second)
        state.addIdle(slot(createdAt: 5 * second))
        state.addIdle(slot(createdAt: 0))  // most recently added: taken first
        var expired: [Slot] = []
        guard case .lease(let leased, _) = state.acquire(now: 12 * second, mayOverflow: true, mayWait: true, expired: &expired)
        else {
            Issue.record("the younger connection should be leased")
            return
        }
        #expect(leased.createdAt == 5 * second)
        #expect(expired.count == 1)
        #expect(state.stats().closedLifetime == 1)
        checkInvariants(state)
    }

    @Test func expiredConnectionsAreClosedAtReleaseAndTheirCapacityGoesToAWaiter() {
        var state = machine(size: 1, maxsize: 1, lifetime: 10 * second)
        let held = borrow(&state, now: 0)!
        let waiter = Waiter<FakeConnection>(enqueuedAt: 0, deadline: 60 * second, overflowAt: .max)
        state.enqueue(waiter)
        let release = state.release(held, .reusable(neededRoundTrip: false), now: 10 * second)
        #expect(release.close === held)
        #expect(release.reason == .lifetime)
        #expect(release.wake === waiter)
        guard case .create = waiter.outcome else {
            Issue.record("the waiter should open the replacement")
            return
        }
        #expect(state.stats().opening == 1)
        checkInvariants(state)
    }

    @Test func theMostRecentlyReturnedConnectionIsTakenFirst() {
        var state = machine(size: 2, maxsize: 2)
        let a = borrow(&state)!, b = borrow(&state)!
        _ = state.release(a, .reusable(neededRoundTrip: false), now: 0)
        _ = state.release(b, .reusable(neededRoundTrip: false), now: 0)
        #expect(borrow(&state) === b)
        #expect(borrow(&state) === a)
    }

    @Test func connectionsAboveSizeAreClosedOnRelease() {
        var state = machine(size: 1, maxsize: 3)
        let a = borrow(&state)!, b = borrow(&state)!, c = borrow(&state)!
        let reasons = [a, b, c].map { state.release($0, .reusable(neededRoundTrip: false), now: 0).reason }
        #expect(reasons == [.overflow, .overflow, nil])
        let stats = state.stats()
        #expect(stats.total == 1 && stats.idle == 1 && stats.closedOverflow == 2)
        checkInvariants(state)
    }

    @Test func overflowConnectionsStayIdleWhenCloseOverflowIsOff() {
        var state = Machine(limits: PoolLimits(size: 1, maxsize: 3, lifetimeNanos: 0, closeOverflow: false), name: "t")
        let a = borrow(&state)!, b = borrow(&state)!
        let reasons = [a, b].map { state.release($0, .reusable(neededRoundTrip: false), now: 0).reason }
        #expect(reasons == [nil, nil])
        #expect(state.stats().idle == 2 && state.stats().closedOverflow == 0)
        checkInvariants(state)
    }

    @Test func returnConditionsDecideKeepOrCloseAndCountResets() {
        var state = machine(size: 3, maxsize: 3)
        let a = borrow(&state)!, b = borrow(&state)!, c = borrow(&state)!
        let conditions: [ReturnCondition] = [.reusable(neededRoundTrip: true), .broken, .discarded]
        let reasons = zip([a, b, c], conditions).map { state.release($0, $1, now: 0).reason }
        #expect(reasons == [nil, .broken, .discarded])
        let stats = state.stats()
        #expect(stats.resets == 1 && stats.closedBroken == 1 && stats.closedDiscarded == 1)
        #expect(stats.idle == 1 && stats.total == 1 && stats.releases == 3)
        checkInvariants(state)
    }

    @Test func aFailedConnectPassesItsCapacityToTheFirstWaiter() {
        var state = machine(size: 1, maxsize: 1)
        var expired: [Slot] = []
        guard case .create = state.acquire(now: 0, mayOverflow: true, mayWait: true, expired: &expired) else {
            Issue.record("expected create")
            return
        }
        let waiter = Waiter<FakeConnection>(enqueuedAt: 0, deadline: second, overflowAt: .max)
        guard case .wait = state.acquire(now: 0, mayOverflow: true, mayWait: true, expired: &expired) else {
            Issue.record("expected wait while the first connects")
            return
        }
        state.enqueue(waiter)
        let woken = state.connectFailed(now: 1)
        #expect(woken === waiter)
        guard case .create = waiter.outcome else {
            Issue.record("the waiter should try to connect")
            return
        }
        #expect(state.stats().connectFailures == 1)
        #expect(state.stats().opening == 1)
    }

    @Test func closeFailsWaitersClosesIdleAndLaterReleases() {
        var state = machine(size: 2, maxsize: 2)
        let held = borrow(&state)!
        state.addIdle(slot())
        let waiter = Waiter<FakeConnection>(enqueuedAt: 0, deadline: second, overflowAt: .max)
        state.enqueue(waiter)
        let (idle, woken) = state.close(now: 3)
        #expect(idle.count == 1)
        #expect(woken.count == 1 && woken[0] === waiter)
        guard case .fail(let error) = waiter.outcome else {
            Issue.record("the waiter should learn the pool closed")
            return
        }
        #expect(error.kind == .closed)
        var expired: [Slot] = []
        guard case .fail(let later) = state.acquire(now: 4, mayOverflow: true, mayWait: true, expired: &expired) else {
            Issue.record("acquire after close must fail")
            return
        }
        #expect(later.kind == .closed)
        let lateRelease = state.release(held, .reusable(neededRoundTrip: false), now: 5)
        #expect(lateRelease.reason == .shutdown)
        let stats = state.stats()
        #expect(stats.total == 0 && stats.closedShutdown == 2)
        let secondClose = state.close(now: 6)
        #expect(secondClose.idle.isEmpty)
    }

    @Test func aConnectionOpenedWhileClosingIsNotLeased() {
        var state = machine()
        var expired: [Slot] = []
        _ = state.acquire(now: 0, mayOverflow: true, mayWait: true, expired: &expired)
        _ = state.close(now: 0)
        let leased = state.connectSucceeded(slot(), now: 0)
        #expect(!leased)
        #expect(state.stats().total == 0)
    }

    @Test(arguments: [1, 2, 3, 4, 5])
    func randomOperationsKeepTheBooksBalanced(seed: UInt64) {
        var random = SplitMix(seed: seed)
        var state = machine(size: 3, maxsize: 6, lifetime: 50)
        var held: [Slot] = []
        var waiters: [Waiter<FakeConnection>] = []
        var now: UInt64 = 0
        for _ in 0..<2000 {
            now += random.next() % 5
            switch random.next() % 4 {
            case 0, 1:
                var expired: [Slot] = []
                switch state.acquire(now: now, mayOverflow: random.next() % 2 == 0, mayWait: true, expired: &expired) {
                case .lease(let leased, _): held.append(leased)
                case .create:
                    let created = slot(createdAt: now)
                    if random.next() % 10 == 0 {
                        if let woken = state.connectFailed(now: now) { waiters.removeAll { $0 === woken } }
                    } else if state.connectSucceeded(created, now: now) {
                        held.append(created)
                    }
                case .wait:
                    let waiter = Waiter<FakeConnection>(enqueuedAt: now, deadline: now + 20, overflowAt: now + 5)
                    state.enqueue(waiter)
                    waiters.append(waiter)
                case .fail: break
                }
            case 2 where !held.isEmpty:
                let index = Int(random.next() % UInt64(held.count))
                let conditions: [ReturnCondition] = [.reusable(neededRoundTrip: false), .broken, .discarded, .failedValidation]
                let release = state.release(held.remove(at: index), conditions[Int(random.next() % 4)], now: now)
                if let woken = release.wake, case .lease(let handed, _) = woken.outcome { held.append(handed) }
                if let woken = release.wake, case .create = woken.outcome {
                    let created = slot(createdAt: now)
                    if state.connectSucceeded(created, now: now) { held.append(created) }
                }
                if let woken = release.wake { waiters.removeAll { $0 === woken } }
            default:
                for waiter in waiters {
                    if case .done(let outcome) = state.check(waiter, now: now) {
                        waiters.removeAll { $0 === waiter }
                        if case .create = outcome {
                            let created = slot(createdAt: now)
                            if state.connectSucceeded(created, now: now) { held.append(created) }
                        }
                    }
                }
            }
            checkInvariants(state)
            #expect(state.stats().inUse == held.count)
            #expect(state.stats().waiting == waiters.count)
        }
    }
}

/// A small deterministic generator so failures replay.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
