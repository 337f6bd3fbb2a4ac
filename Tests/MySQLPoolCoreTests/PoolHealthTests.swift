import Testing

@testable import MySQLPoolCore

/// Health decisions of the state machine (checks before checkout, the
/// maintenance pass), with made-up times.
@Suite struct PoolHealthTests {
    typealias Machine = PoolStateMachine<FakeConnection>
    typealias Slot = PooledSlot<FakeConnection>

    static let second: UInt64 = 1_000_000_000

    static func machine(_ configure: (inout PoolLimits) -> Void = { _ in }) -> Machine {
        var limits = PoolLimits(size: 2, maxsize: 4, lifetimeNanos: 0)
        configure(&limits)
        return Machine(limits: limits, name: "health")
    }

    static func idleSlot(_ state: inout Machine, createdAt: UInt64 = 0) -> Slot {
        let slot = Slot(connection: FakeConnection(0), createdAt: createdAt, poolID: 1)
        state.addIdle(slot)
        return slot
    }

    static func take(_ state: inout Machine, now: UInt64) -> (Slot, LeaseCheck)? {
        var expired: [Slot] = []
        guard case .lease(let slot, let check) = state.acquire(now: now, mayOverflow: true, mayWait: true,
                                                               expired: &expired) else { return nil }
        return (slot, check)
    }

    @Test func idleConnectionsArePeekedWhenSocketValidationIsOn() {
        var state = Self.machine { $0.validateSocket = true }
        _ = Self.idleSlot(&state)
        #expect(Self.take(&state, now: 1)?.1 == .peek)
        var plain = Self.machine()
        _ = Self.idleSlot(&plain)
        #expect(Self.take(&plain, now: 1)?.1 == LeaseCheck.none)
    }

    @Test func theSocketPeekSkipsConnectionsHeardFromJustNow() {
        let millisecond: UInt64 = 1_000_000
        var state = Self.machine { $0.validateSocket = true; $0.socketCheckAfterNanos = millisecond }
        _ = Self.idleSlot(&state, createdAt: 0)
        let (slot, first) = Self.take(&state, now: 2 * millisecond)!
        #expect(first == .peek)
        _ = state.release(slot, .reusable(neededRoundTrip: false), now: 3 * millisecond)
        #expect(Self.take(&state, now: 3 * millisecond + 500_000)?.1 == LeaseCheck.none)
    }

    /// Releases `slot` while a caller waits; returns what that caller is handed.
    static func handOff(_ state: inout Machine, _ slot: Slot, now: UInt64, heardAt: UInt64?) -> LeaseCheck? {
        let waiter = Waiter<FakeConnection>(enqueuedAt: now, deadline: now + 10 * second, overflowAt: .max)
        state.enqueue(waiter)
        let release = state.release(slot, .reusable(neededRoundTrip: false), now: now, heardAt: heardAt)
        guard release.wake === waiter, case .lease(let handed, let check) = waiter.outcome, handed === slot else {
            return nil
        }
        return check
    }

    @Test func aConnectionHandedToAWaiterGetsTheChecksOfAnIdleTake() {
        let millisecond: UInt64 = 1_000_000
        // socket_check_after = 0: every checkout peeks, the hand-off too.
        var everyTime = Self.machine { $0.validateSocket = true; $0.socketCheckAfterNanos = 0; $0.maxsize = 1 }
        _ = Self.idleSlot(&everyTime)
        let (slot, _) = Self.take(&everyTime, now: 1)!
        #expect(Self.handOff(&everyTime, slot, now: 2, heardAt: 2) == .peek)

        // The default 1 ms: a connection whose server last answered 5 s ago
        // (killed while its borrower sat on it) is peeked, although just released.
        var state = Self.machine { $0.validateSocket = true; $0.socketCheckAfterNanos = millisecond; $0.maxsize = 1 }
        _ = Self.idleSlot(&state)
        let (quiet, _) = Self.take(&state, now: 1)!
        #expect(Self.handOff(&state, quiet, now: 5 * Self.second, heardAt: 1) == .peek)
        // One that answered just now is not.
        _ = state.release(quiet, .reusable(neededRoundTrip: false), now: 6 * Self.second, heardAt: 6 * Self.second)
        let (busy, _) = Self.take(&state, now: 6 * Self.second)!
        #expect(Self.handOff(&state, busy, now: 6 * Self.second + 1, heardAt: 6 * Self.second) == LeaseCheck.none)
        // A reset's round trip is an answer, whatever the borrower did before.
        let waiter = Waiter<FakeConnection>(enqueuedAt: 0, deadline: .max, overflowAt: .max)
        state.enqueue(waiter)
        _ = state.release(busy, .reusable(neededRoundTrip: true), now: 9 * Self.second, heardAt: 1)
        guard case .lease(_, let afterReset) = waiter.outcome else {
            Issue.record("the waiter was not served")
            return
        }
        #expect(afterReset == LeaseCheck.none)
    }

    @Test func aHandOffIsPingedWhenAnIdleTakeWouldBe() {
        var prePing = Self.machine { $0.prePing = true; $0.maxsize = 1 }
        _ = Self.idleSlot(&prePing)
        let (slot, _) = Self.take(&prePing, now: 1)!
        #expect(Self.handOff(&prePing, slot, now: 2, heardAt: 2) == .ping)
        #expect(prePing.stats().pings == 2)  // the take and the hand-off

        // Not heard from since another connection was found dead: pinged.
        var state = Self.machine { $0.validateSocket = true; $0.maxsize = 2 }
        _ = Self.idleSlot(&state)
        _ = Self.idleSlot(&state)
        let (held, _) = Self.take(&state, now: 1)!
        let (dead, _) = Self.take(&state, now: 1)!
        _ = state.release(dead, .failedValidation, now: 3)
        #expect(Self.handOff(&state, held, now: 4, heardAt: 2) == .ping)
    }

    @Test func borrowsAreSpreadOverHostsPerBorrow() {
        var state = Self.machine { $0.size = 2; $0.maxsize = 2 }
        var expired: [Slot] = []
        var served: [Int: Int] = [:]
        for turn in 0..<200 {
            let (decision, host) = state.acquire(now: UInt64(turn), mayOverflow: true, mayWait: true, expired: &expired,
                                                 spreadingOver: [3, 7])
            let slot: Slot
            switch decision {
            case .lease(let leased, _): slot = leased
            case .create:
                // The caller opens it to the host it was told.
                slot = Slot(connection: FakeConnection(turn), createdAt: UInt64(turn), poolID: 1, hostKey: host!)
                let kept = state.connectSucceeded(slot, now: UInt64(turn))
                #expect(kept)
            default:
                Issue.record("turn \(turn): \(decision)")
                return
            }
            served[slot.hostKey, default: 0] += 1
            _ = state.release(slot, .reusable(neededRoundTrip: false), now: UInt64(turn))
        }
        #expect(served == [3: 100, 7: 100])  // one connection per host, taken in turns
        #expect(state.stats().total == 2)
        // A borrowed connection makes its host the busier one.
        let (first, _) = state.acquire(now: 300, mayOverflow: true, mayWait: true, expired: &expired,
                                       spreadingOver: [3, 7])
        guard case .lease(let held, _) = first else { return }
        let (second, _) = state.acquire(now: 301, mayOverflow: true, mayWait: true, expired: &expired,
                                        spreadingOver: [3, 7])
        guard case .lease(let other, _) = second else { return }
        #expect(held.hostKey != other.hostKey)
        #expect(state.leasedPerHost[3] == 1 && state.leasedPerHost[7] == 1)
    }

    @Test func prePingAndStaleConnectionsArePinged() {
        var always = Self.machine { $0.prePing = true }
        _ = Self.idleSlot(&always)
        #expect(Self.take(&always, now: 1)?.1 == .ping)
        #expect(always.stats().pings == 1)

        var interval = Self.machine { $0.validationIntervalNanos = 30 * Self.second; $0.validateSocket = true }
        _ = Self.idleSlot(&interval)
        let (fresh, check) = Self.take(&interval, now: 29 * Self.second)!
        #expect(check == .peek)
        _ = interval.release(fresh, .reusable(neededRoundTrip: false), now: 29 * Self.second)
        #expect(Self.take(&interval, now: 58 * Self.second)?.1 == .peek)  // proven at its release
        _ = Self.idleSlot(&interval, createdAt: 0)
        #expect(Self.take(&interval, now: 60 * Self.second)?.1 == .ping)  // not heard from for 60 s
    }

    @Test func aConnectionFoundDeadMakesEveryOlderOneBePinged() {
        var state = Self.machine { $0.validateSocket = true; $0.maxsize = 4 }
        let older = Self.idleSlot(&state, createdAt: 0)
        _ = older
        _ = Self.idleSlot(&state, createdAt: 0)
        let (dead, _) = Self.take(&state, now: 5)!
        let release = state.release(dead, .failedValidation, now: 5)
        #expect(release.reason == .validation)
        #expect(state.stats().closedValidation == 1)
        #expect(state.stats().gets == 0)  // its borrower never saw it
        // The other one has not talked to the server since: pinged first.
        #expect(Self.take(&state, now: 6)?.1 == .ping)
    }

    @Test func aLostLinkAtReleaseAlsoTriggersValidation() {
        var state = Self.machine { $0.validateSocket = true }
        _ = Self.idleSlot(&state, createdAt: 0)
        _ = Self.idleSlot(&state, createdAt: 0)
        let (broken, _) = Self.take(&state, now: 1)!
        _ = state.release(broken, .broken, now: 2)
        #expect(Self.take(&state, now: 3)?.1 == .ping)
    }

    @Test func idleTimeoutClosesTheLeastRecentlyUsedDownToMinIdle() {
        var state = Self.machine { $0.idleTimeoutNanos = 10 * Self.second; $0.minIdle = 1; $0.maxsize = 4 }
        for _ in 0..<3 { _ = Self.idleSlot(&state, createdAt: 0) }
        #expect(state.maintain(now: 9 * Self.second).close.isEmpty)
        let work = state.maintain(now: 10 * Self.second)
        #expect(work.close.count == 2)
        #expect(work.close.allSatisfy { $0.1 == .idle })
        #expect(state.stats().idle == 1)
        #expect(state.stats().closedIdle == 2)
        #expect(work.open == 0)
    }

    @Test func maintenanceRetiresExpiredConnectionsAndRefillsToMinIdle() {
        var state = Self.machine { $0.lifetimeNanos = 100 * Self.second; $0.minIdle = 2 }
        _ = Self.idleSlot(&state, createdAt: 0)
        let work = state.maintain(now: 100 * Self.second)
        #expect(work.close.map(\.1) == [.lifetime])
        #expect(work.open == 2)
        #expect(state.stats().opening == 2)
        let (wake, close) = state.connectSucceededIdle(Slot(connection: FakeConnection(1), createdAt: 101 * Self.second,
                                                           poolID: 1), now: 101 * Self.second)
        #expect(wake == nil && close == nil)
        _ = state.connectFailed(now: 101 * Self.second)
        #expect(state.stats().idle == 1)
        #expect(state.stats().connectFailures == 1)
        // The next pass asks for the missing one again.
        #expect(state.maintain(now: 102 * Self.second).open == 1)
    }

    @Test func keepalivePingsQuietConnectionsAndKeepsOrClosesThem() {
        var state = Self.machine { $0.keepaliveNanos = 60 * Self.second }
        let quiet = Self.idleSlot(&state, createdAt: 0)
        let work = state.maintain(now: 60 * Self.second)
        #expect(work.ping.count == 1 && work.ping[0] === quiet)
        #expect(state.stats().idle == 0)
        #expect(state.validating == 1)
        let alive = state.keepaliveFinished(quiet, alive: true, now: 61 * Self.second)
        #expect(!alive.close)
        #expect(state.stats().idle == 1)
        #expect(state.maintain(now: 100 * Self.second).ping.isEmpty)  // proven at 61 s
        let again = state.maintain(now: 121 * Self.second)
        #expect(again.ping.count == 1)
        #expect(state.keepaliveFinished(quiet, alive: false, now: 122 * Self.second).close)
        #expect(state.stats().closedValidation == 1)
        #expect(state.stats().total == 0)
    }

    @Test func leaksAreReportedOncePerBorrow() {
        var state = Self.machine { $0.leakThresholdNanos = 5 * Self.second }
        _ = Self.idleSlot(&state)
        let (held, _) = Self.take(&state, now: 0)!
        #expect(state.maintain(now: 4 * Self.second).leaks.isEmpty)
        let report = state.maintain(now: 6 * Self.second).leaks
        #expect(report.count == 1 && report[0].0 === held && report[0].1 == 6 * Self.second)
        #expect(state.maintain(now: 20 * Self.second).leaks.isEmpty)
        #expect(state.stats().leaks == 1)
        _ = state.release(held, .reusable(neededRoundTrip: false), now: 21 * Self.second)
        let (again, _) = Self.take(&state, now: 22 * Self.second)!
        #expect(again === held)
        #expect(state.maintain(now: 28 * Self.second).leaks.count == 1)
    }

    @Test func lifetimeJitterShortensLifetimesWithinItsShare() {
        var state = Self.machine { $0.lifetimeNanos = 1000 * Self.second; $0.lifetimeJitter = 0.1; $0.maxsize = 200 }
        var expiries = Set<UInt64>()
        for _ in 0..<100 {
            let slot = Self.idleSlot(&state, createdAt: 0)
            #expect(slot.expiresAt >= 900 * Self.second && slot.expiresAt <= 1000 * Self.second)
            expiries.insert(slot.expiresAt)
        }
        #expect(expiries.count > 50)  // spread, not all together
    }

    @Test func closingTheBooksDuringAKeepalive() {
        var state = Self.machine { $0.keepaliveNanos = Self.second }
        let slot = Self.idleSlot(&state)
        _ = state.maintain(now: 2 * Self.second)
        _ = state.close(now: 3 * Self.second)
        #expect(state.keepaliveFinished(slot, alive: true, now: 4 * Self.second).close)
        #expect(state.stats().total == 0)
        #expect(state.maintain(now: 5 * Self.second).open == 0)
    }
}
