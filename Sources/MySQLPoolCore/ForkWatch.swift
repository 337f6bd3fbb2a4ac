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
    nonisolated(unsafe) private static var locks: [WeakMutex] = []
    /// Strong references from before the fork to after it, so that no lock
    /// is freed (and left locked) in between.
    nonisolated(unsafe) private static var held: [PThreadMutex] = []
    private static let installed: Bool = {
        pthread_atfork({ ForkWatch.beforeFork() }, { ForkWatch.afterForkInParent() },
                       { ForkWatch.afterForkInChild() }) == 0
    }()

    private struct WeakMutex {
        weak var mutex: PThreadMutex?
    }

    /// Changes in a child process after each fork().
    @inline(__always)
    public static var generation: UInt64 { counter.load(ordering: .acquiring) }

    /// Makes `mutex` one of the locks held across fork().
    public static func watch(_ mutex: PThreadMutex) {
        _ = installed
        registryLock.withLock {
            locks.removeAll { $0.mutex == nil }
            locks.append(WeakMutex(mutex: mutex))
        }
    }

    private static func beforeFork() {
        registryLock.lock()
        held = locks.compactMap(\.mutex)
        for mutex in held { mutex.lock() }
    }

    private static func afterForkInParent() {
        releaseAll()
    }

    private static func afterForkInChild() {
        counter.add(1, ordering: .releasing)
        releaseAll()
    }

    private static func releaseAll() {
        for mutex in held.reversed() { mutex.unlock() }
        held = []
        registryLock.unlock()
    }
}
