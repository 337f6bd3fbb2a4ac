import Testing

@testable import MySQLPoolCore

/// What a HostSet learns of its hosts' roles, and what that retires.
@Suite struct HostSetTests {
    static func set(_ mode: HostMode) -> HostSet {
        HostSet((1...3).map { HostAddress(host: "127.0.0.1", port: UInt32(3305 + $0)) }, mode: mode, denyNanos: 1)
    }

    @Test func aChangedRoleRetiresTheConnectionsOpenedBefore() {
        let hosts = Self.set(.replication)
        let primary = hosts.opened(0, readOnly: false)
        let replica = hosts.opened(1, readOnly: true)
        #expect(!hosts.roleChanged(0, since: primary) && !hosts.roleChanged(1, since: replica))
        #expect(!hosts.learned(0, readOnly: false))  // the same answer changes nothing
        #expect(hosts.learned(0, readOnly: true))    // a planned switchover: demoted
        #expect(hosts.learned(1, readOnly: false))   // ... and promoted
        #expect(hosts.roleChanged(0, since: primary) && hosts.roleChanged(1, since: replica))
        #expect(!hosts.roleChanged(2, since: hosts.roleEpoch(2)))
        let after = hosts.opened(1, readOnly: false)
        #expect(!hosts.roleChanged(1, since: after))
        let snapshot = hosts.snapshot()
        #expect(snapshot[0].readOnly == true && snapshot[1].readOnly == false && snapshot[2].readOnly == nil)
        #expect(snapshot[0].roleCheckedAt > 0 && snapshot[2].roleCheckedAt == 0)
        // New write connections try the new primary first, the old one last.
        #expect(hosts.candidates(for: .primary).first == 1)
        #expect(hosts.candidates(for: .replica).sorted() == [0, 2])  // not the new primary
    }

    @Test func aGaleraNodeNoLongerSyncedIsTriedLast() {
        let hosts = Self.set(.loadbalance)
        let epoch = hosts.opened(0, readOnly: nil)
        #expect(!hosts.learned(0, readOnly: false, synced: true))  // first word: nothing to retire
        #expect(hosts.learned(0, readOnly: false, synced: false))  // desynced
        #expect(hosts.roleChanged(0, since: epoch))
        #expect(hosts.candidates(for: .any).last == 0)
        #expect(hosts.learned(0, readOnly: false, synced: true))
        #expect(hosts.candidates(for: .any).first == 1)  // fewest connections: host 0 has one
    }
}
