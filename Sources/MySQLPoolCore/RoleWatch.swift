/// The role check of a multi-host pool (replication or Galera): every
/// `period`, each host is asked what it is over a monitor connection of the
/// watch's own (`@@read_only`, and for a Galera node whether it is Synced),
/// so that a planned switchover or a desynced node is noticed without
/// waiting for a connect or a refused write. A changed role bumps the host's
/// epoch in the HostSet, which retires the connections opened before; then
/// `onChange` closes the idle ones. A host that cannot be reached is denied,
/// as a failed connect denies it, and the deny is lifted when it answers.
///
/// The monitor connections never count in the pool's books; the questions
/// run on this thread only, each bounded by the Watchdog. A child process
/// after fork() has no watch thread (roles are then learned at connect and
/// after a refused write) and never touches the parent's monitors.
public final class RoleWatch: @unchecked Sendable {
    private let hosts: HostSet
    private let configuration: PoolConfiguration
    private let onChange: @Sendable () -> Void
    private let owner = nextPoolID.add()
    /// One per host, opened as needed; touched by the watch's thread only.
    private var monitors: [MariaDBConnection?]
    private var thread: MaintenanceThread?
    private let forkGeneration = ForkWatch.generation

    /// No thread (and no watch) for a period of 0.
    public init(hosts: HostSet, configuration: PoolConfiguration, period: UInt64,
                onChange: @escaping @Sendable () -> Void) {
        self.hosts = hosts
        self.configuration = configuration
        self.onChange = onChange
        monitors = Array(repeating: nil, count: hosts.count)
        guard period > 0 else { return }
        thread = MaintenanceThread(every: period) { [weak self] in
            self?.pass()
            return self != nil
        }
    }

    /// Stops the thread (a question in flight is cut short) and closes the
    /// monitor connections.
    public func stop() {
        let inherited = forkGeneration != ForkWatch.generation  // the thread stayed in the parent
        if !inherited {
            Watchdog.shared.fireAll(owner: owner)
            thread?.stop()
        }
        thread = nil
        for index in monitors.indices {
            if inherited { monitors[index]?.abandonInheritedSession() } else { monitors[index]?.close() }
            monitors[index] = nil
        }
    }

    deinit { stop() }

    /// One round of questions; calls `onChange` once if any role changed.
    func pass() {
        var changed = false
        for index in 0..<hosts.count where check(index) {
            changed = true
        }
        if changed { onChange() }
    }

    /// Asks host `index`; true when its role changed.
    private func check(_ index: Int) -> Bool {
        guard let monitor = monitors[index] ?? open(index) else { return false }
        var answer: (readOnly: Bool, synced: Bool?)?
        let deadline = MonotonicClock.now() &+ UInt64(configuration.connectTimeout) * 1_000_000_000
        _ = Watchdog.shared.guarding(socket: monitor.socket, until: deadline, owner: owner) {
            answer = try? (monitor.isReadOnly(), monitor.isGaleraSynced())
            return answer != nil
        }
        guard let answer else {
            monitor.close()
            monitors[index] = nil
            hosts.failed(index)
            return false
        }
        hosts.answered(index)
        return hosts.learned(index, readOnly: answer.readOnly, synced: answer.synced)
    }

    private func open(_ index: Int) -> MariaDBConnection? {
        do {
            let monitor = try MariaDBConnection(configuration, address: hosts.address(index))
            monitors[index] = monitor
            return monitor
        } catch {
            hosts.failed(index)
            return nil
        }
    }
}
