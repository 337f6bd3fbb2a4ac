import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// fork() safety for every pool of the process. Before a fork, pthread_atfork
/// handlers take every registered lock, so that no lock is copied into the
/// child while another thread holds it; after the fork both processes release
/// them, and the child bumps `generation`. Pools and connections compare it
/// with the generation they were made in: a pool then starts over in the
/// child, and a connection inherited from the parent is never used there (its
/// socket belongs to the parent's session; the child only closes its copy of
/// the descriptor, never sends COM_QUIT over it).
public enum ForkWatch {
    private static let counter = Atomic<UInt64>(0)
    private static let registryLock = PThreadMutex()
    /// The watched locks, by address: a PThreadMutex leaves the list in its
    /// deinit (under registryLock, so never between the two handlers). No
    /// weak references: they would move every retain of a pool's lock to
    /// the slow path of the reference count.
    nonisolated(unsafe) private static var locks: [UnsafeMutablePointer<pthread_mutex_t>] = []
    private static let installed: Bool = {
        pthread_atfork({ ForkWatch.beforeFork() }, { ForkWatch.afterForkInParent() },
                       { ForkWatch.afterForkInChild() }) == 0
    }()

    /// Changes in a child process after each fork().
    @inline(__always)
    public static var generation: UInt64 { counter.load(ordering: .acquiring) }

    /// Makes `mutex` one of the locks held across fork().
    public static func watch(_ mutex: PThreadMutex) {
        _ = installed
        registryLock.withLock {
            mutex.isWatched = true
            locks.append(mutex.raw)
        }
    }

    /// Called by a watched PThreadMutex's deinit.
    static func forget(_ raw: UnsafeMutablePointer<pthread_mutex_t>) {
        registryLock.withLock { locks.removeAll { $0 == raw } }
    }

    private static func beforeFork() {
        registryLock.lock()
        for raw in locks { pthread_mutex_lock(raw) }
    }

    private static func afterForkInParent() {
        releaseAll()
    }

    private static func afterForkInChild() {
        counter.add(1, ordering: .releasing)
        releaseAll()
    }

    private static func releaseAll() {
        for raw in locks.reversed() { pthread_mutex_unlock(raw) }
        registryLock.unlock()
    }
}
