import Synchronization

/// One server of a multi-host configuration.
public struct HostAddress: Sendable, Equatable {
    public var host: String
    public var port: UInt32
}

/// How a pool spreads connections over several hosts.
public enum HostMode: String, Sendable {
    /// Failover in the configured order: the first host that answers.
    case sequential
    /// Fewest open connections first.
    case loadbalance
    /// The first reachable writable host is the primary; read-only hosts
    /// serve read-only connections.
    case replication
}

/// What a connection is opened for.
public enum HostRole: Sendable {
    case any, primary, replica
}

/// The hosts of a pool and what the pool has learned about each, shared by
/// every connection of the pool (and by both halves of a replication pool).
/// A host that fails to connect is denied for `denyNanos`, for the whole
/// pool; when every candidate is denied they are tried anyway, soonest
/// forgiven first, rather than failing without trying (except for
/// read-only connections, which fall back to the primary instead).
public final class HostSet: @unchecked Sendable {
    public struct Snapshot: Sendable {
        public var address: HostAddress
        public var connections = 0
        public var connects: UInt64 = 0
        public var failures: UInt64 = 0
        /// Nanoseconds of deny list left (0: allowed).
        public var deniedFor: UInt64 = 0
        /// What `@@read_only` said when last asked (at a connect, by the
        /// role check, or after a write was refused): nil = not known.
        public var readOnly: Bool?
        /// Galera: whether the node was Synced (wsrep_local_state 4) when
        /// last asked; nil = not asked, or not a Galera node.
        public var synced: Bool?
        /// When the role (`readOnly`, `synced`) was last learned, monotonic
        /// nanoseconds; 0 = never.
        public var roleCheckedAt: UInt64 = 0
        /// Connections handed to borrowers since the pool was made.
        public var borrows: UInt64 = 0
    }

    public let mode: HostMode
    public let denyNanos: UInt64
    private let mutex = PThreadMutex()
    private var entries: [Snapshot]
    private var deniedUntil: [UInt64]
    /// Bumped whenever a host's role changes: connections opened under an
    /// older epoch are retired (closed idle, at checkout or at release).
    private var roleEpochs: [UInt64]
    /// How many role changes the whole set has seen: read without the lock
    /// on every checkout, so that a pool whose hosts keep their roles pays
    /// one load for the question.
    private let changes = Atomic<UInt64>(0)

    public init(_ addresses: [HostAddress], mode: HostMode, denyNanos: UInt64) {
        self.mode = mode
        self.denyNanos = denyNanos
        entries = addresses.map { Snapshot(address: $0) }
        deniedUntil = Array(repeating: 0, count: addresses.count)
        roleEpochs = Array(repeating: 0, count: addresses.count)
        ForkWatch.watch(mutex)
    }

    public var count: Int { entries.count }

    public func address(_ index: Int) -> HostAddress { entries[index].address }

    public func snapshot() -> [Snapshot] {
        let now = MonotonicClock.now()
        return mutex.withLock {
            entries.indices.map { index in
                var entry = entries[index]
                entry.deniedFor = deniedUntil[index] > now ? deniedUntil[index] - now : 0
                return entry
            }
        }
    }

    /// Hosts to try, best first, for a connection of `role`.
    public func candidates(for role: HostRole) -> [Int] {
        let now = MonotonicClock.now()
        return mutex.withLock {
            let allowed = entries.indices.filter { deniedUntil[$0] <= now }
            if role == .replica {
                // Never wait on a denied host or try the known primary for a
                // read-only connection: the primary serves reads meanwhile.
                return order(allowed.filter { entries[$0].readOnly != false }, for: role)
            }
            // A Galera node that is not Synced (donor, desynced, joining) is
            // tried only after every other allowed one, and denied ones last.
            let synced = allowed.filter { entries[$0].synced != false }
            let unsynced = allowed.filter { entries[$0].synced == false }
            let denied = entries.indices.filter { deniedUntil[$0] > now }.sorted { deniedUntil[$0] < deniedUntil[$1] }
            return order(synced, for: role) + order(unsynced, for: role) + order(denied, for: role)
        }
    }

    private func order(_ indices: [Int], for role: HostRole) -> [Int] {
        let byLoad = { (a: Int, b: Int) in (self.entries[a].connections, a) < (self.entries[b].connections, b) }
        switch (mode, role) {
        case (.sequential, _):
            return indices
        case (.loadbalance, _), (.replication, .any):
            return indices.sorted(by: byLoad)
        case (.replication, .primary):
            // The known primary, then unknown hosts, then known replicas
            // (one may have been promoted): each connect checks read_only.
            let rank = { (index: Int) -> Int in
                switch self.entries[index].readOnly {
                case .some(false): 0
                case .none: 1
                case .some(true): 2
                }
            }
            return indices.sorted { (rank($0), $0) < (rank($1), $1) }
        case (.replication, .replica):
            // Fewest connections first; known replicas before unknown hosts
            // only to break ties (the known primary is not a candidate).
            let rank = { (index: Int) -> Int in self.entries[index].readOnly == true ? 0 : 1 }
            return indices.sorted { (self.entries[$0].connections, rank($0), $0) < (self.entries[$1].connections, rank($1), $1) }
        }
    }

    /// The hosts read-only borrows are spread over: not denied, not known
    /// to be the primary, not a Galera node out of sync.
    func spreadCandidates() -> [Int] {
        let now = MonotonicClock.now()
        return mutex.withLock {
            entries.indices.filter { deniedUntil[$0] <= now && entries[$0].readOnly != false && entries[$0].synced != false }
        }
    }

    /// A connection to host `index` went to a borrower.
    func lent(_ index: Int) {
        mutex.withLock { entries[index].borrows += 1 }
    }

    /// A connection to host `index` was opened (and kept); returns the role
    /// epoch it belongs to.
    func opened(_ index: Int, readOnly: Bool?) -> (set: UInt64, host: UInt64) {
        let now = MonotonicClock.now()
        return mutex.withLock {
            entries[index].connections += 1
            entries[index].connects += 1
            if let readOnly { record(index, readOnly: readOnly, now: now) }
            deniedUntil[index] = 0
            return (changes.load(ordering: .relaxed), roleEpochs[index])
        }
    }

    /// What host `index` said of its role (`@@read_only`, and for Galera
    /// whether it is Synced; nil: not a Galera node). True when the role
    /// changed: the connections opened before are then retired.
    @discardableResult
    public func learned(_ index: Int, readOnly: Bool, synced: Bool? = nil) -> Bool {
        let now = MonotonicClock.now()
        return mutex.withLock {
            let before = roleEpochs[index]
            record(index, readOnly: readOnly, now: now)
            if entries[index].synced != synced {
                if entries[index].synced != nil || synced == false { bump(index) }
                entries[index].synced = synced
            }
            return roleEpochs[index] != before
        }
    }

    private func record(_ index: Int, readOnly: Bool, now: UInt64) {
        if let known = entries[index].readOnly, known != readOnly { bump(index) }
        entries[index].readOnly = readOnly
        entries[index].roleCheckedAt = now
    }

    private func bump(_ index: Int) {
        roleEpochs[index] &+= 1
        changes.wrappingAdd(1, ordering: .releasing)
    }

    /// The set's count of role changes, then host `index`'s role epoch.
    func roleEpoch(_ index: Int) -> (set: UInt64, host: UInt64) {
        let set = changes.load(ordering: .acquiring)
        return (set, mutex.withLock { roleEpochs[index] })
    }

    /// Whether host `index` changed its role since `epoch` was read.
    func roleChanged(_ index: Int, since epoch: (set: UInt64, host: UInt64)) -> Bool {
        if changes.load(ordering: .acquiring) == epoch.set { return false }
        return mutex.withLock { roleEpochs[index] } != epoch.host
    }

    /// Host `index` answered the role check: it is no longer denied.
    public func answered(_ index: Int) {
        mutex.withLock { deniedUntil[index] = 0 }
    }

    /// Connecting to host `index` failed: deny it for a while.
    public func failed(_ index: Int) {
        let until = MonotonicClock.now() &+ denyNanos
        mutex.withLock {
            entries[index].failures += 1
            deniedUntil[index] = until
        }
    }

    func closed(_ index: Int) {
        mutex.withLock { entries[index].connections -= 1 }
    }
}
