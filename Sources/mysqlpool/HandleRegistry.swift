#if canImport(Glibc)
import Glibc
#endif
import MySQLPoolCore
import Synchronization

/// What a C handle stands for. The kind is part of the handle's bits, so a
/// pool passed where a connection is expected is told apart from garbage.
enum HandleKind: UInt, CustomStringConvertible {
    case config = 1, pool = 2, connection = 3, result = 4, statement = 5, borrow = 6

    var description: String {
        switch self {
        case .config: "configuration"
        case .pool: "pool"
        case .connection: "connection"
        case .result: "result"
        case .statement: "statement"
        case .borrow: "pending borrow"
        }
    }

    /// What the handle became when it left the table.
    var endOfLife: String {
        switch self {
        case .config: "freed"
        case .pool: "destroyed"
        case .connection: "released"
        case .result: "freed"
        case .statement: "closed, or its connection released"
        case .borrow: "finished or cancelled"
        }
    }
}

/// C handles are table tokens, not pointers: bits 0-31 hold the slot index
/// + 1, bits 32-55 the slot's generation, bits 56-59 the kind. A stale,
/// released or invented handle is therefore detected instead of dereferenced.
/// Slots are reused, so steady-state borrowing allocates nothing. A pooled
/// connection keeps its entry while it is open; each release renews the
/// generation, so every lease has its own handle and a checkout touches no
/// table at all.
struct HandleTable: ~Copyable {
    private struct Entry {
        var generation: UInt = 0
        var kind: HandleKind?
        /// Retained by the table from insert to removal. Kept unmanaged so
        /// that a lookup is a plain load: reference counting is atomic, and
        /// the hot paths would pay for it several times per call.
        var object: Unmanaged<AnyObject>?
        /// A connection's pool handle, for a release that names no pool.
        var context: UInt = 0
    }

    private var entries: [Entry] = []
    private var freeSlots: [Int] = []

    mutating func insert(_ object: AnyObject, kind: HandleKind, context: UInt = 0) -> UInt {
        let index: Int
        if let reused = freeSlots.popLast() {
            index = reused
        } else {
            index = entries.count
            entries.append(Entry())
        }
        entries[index].generation = (entries[index].generation + 1) & 0xFF_FFFF
        entries[index].kind = kind
        entries[index].object = .passRetained(object)
        entries[index].context = context
        return kind.rawValue << 56 | entries[index].generation << 32 | UInt(index + 1)
    }

    /// The live object behind `handle`, or nil: the hot path, which has no
    /// use for the reason (see `lookup`). Not retained: the caller retains
    /// it before the lock is let go, unless the header's rules keep the
    /// entry alive for the call (see `withConnection`).
    @inline(__always)
    func object(_ handle: UInt, kind: HandleKind) -> Unmanaged<AnyObject>? {
        let index = Int(truncatingIfNeeded: handle & 0xFFFF_FFFF) &- 1
        guard handle >> 56 == kind.rawValue, index >= 0, index < entries.count,
              entries[index].generation == (handle >> 32) & 0xFF_FFFF, entries[index].kind == kind
        else { return nil }
        return entries[index].object
    }

    /// What `insert` stored with a handle that just passed `object`.
    func context(of handle: UInt) -> UInt {
        entries[Int(handle & 0xFFFF_FFFF) - 1].context
    }

    /// The live object behind `handle` (retained), or why there is none.
    func lookup(_ handle: UInt, kind: HandleKind) -> Result<AnyObject, HandleProblem> {
        if let object = object(handle, kind: kind) { return .success(object.takeUnretainedValue()) }
        guard handle != 0 else { return .failure(.null(kind)) }
        guard let actualKind = HandleKind(rawValue: handle >> 56), handle >> 60 == 0 else {
            return .failure(.notAHandle(kind, handle))
        }
        guard actualKind == kind else { return .failure(.wrongKind(expected: kind, actual: actualKind)) }
        let index = Int(handle & 0xFFFF_FFFF) - 1
        guard index >= 0, index < entries.count else { return .failure(.notAHandle(kind, handle)) }
        return .failure(.stale(kind))
    }

    /// The next lease of a connection: its entry stays, under a new
    /// generation, so the handle of the lease that ended goes stale. When
    /// the slot's generations are spent the entry is dropped for good:
    /// `next` is then 0 and `dropped` the table's reference to the object,
    /// for the caller to let go once done with it. `handle` must have just
    /// passed `object`.
    mutating func renew(_ handle: UInt) -> (next: UInt, dropped: AnyObject?) {
        let index = Int(handle & 0xFFFF_FFFF) - 1
        guard entries[index].generation < 0xFF_FFFF else {
            entries[index].kind = nil
            return (0, entries[index].object.take()?.takeRetainedValue())
        }
        entries[index].generation += 1
        return (handle & ~(0xFF_FFFF << 32) | entries[index].generation << 32, nil)
    }

    /// Removes the entry of `handle` and hands over its object; nil when
    /// `handle` is not live (`lookup` tells why). No Result on this path:
    /// copying one costs more than the removal.
    mutating func remove(_ handle: UInt, kind: HandleKind) -> AnyObject? {
        guard object(handle, kind: kind) != nil else { return nil }
        let index = Int(handle & 0xFFFF_FFFF) - 1
        let removed = entries[index].object.take()?.takeRetainedValue()
        entries[index].kind = nil
        // A slot whose generation is spent is never reused: its handles
        // would repeat, and a stale one would reach a new object.
        if entries[index].generation < 0xFF_FFFF { freeSlots.append(index) }
        return removed
    }
}

enum HandleProblem: Error {
    case null(HandleKind)
    case notAHandle(HandleKind, UInt)
    case wrongKind(expected: HandleKind, actual: HandleKind)
    case stale(HandleKind)

    var message: String {
        switch self {
        case .null(let kind): "the \(kind) handle is NULL"
        case .notAHandle(let kind, let bits):
            "0x\(String(bits, radix: 16)) is not a \(kind) handle made by libmysqlpool"
        case .wrongKind(let expected, let actual): "got a \(actual) handle where a \(expected) handle was expected"
        case .stale(let kind): "the \(kind) handle is stale: it was already \(kind.endOfLife)"
        }
    }
}

/// The process's handle table, behind a lock that ForkWatch holds across
/// fork() (a child never inherits it locked by a thread it does not have).
final class LockedHandleTable: @unchecked Sendable {
    private let mutex = PThreadMutex()
    private var table = HandleTable()

    init() {
        ForkWatch.watch(mutex)
    }

    func withLock<Result>(_ body: (inout HandleTable) -> Result) -> Result {
        mutex.withLock { body(&table) }
    }
}

let handles = LockedHandleTable()

/// Each thread's last pool lookup, so that a thread borrowing from one pool
/// again and again skips the handle table's lock. The entry holds a retain
/// on the box, so the box outlives any call of this thread whatever other
/// threads do; and a handle's bits name this box for as long as it is not
/// destroyed (its table entry stays until then), so checking the flag is
/// enough. The retain is given up when the thread looks up another pool,
/// or exits.
private final class LastPool {
    var handle: UInt = 0
    var box: Unmanaged<PoolBox>?

    deinit { box?.release() }
}

/// nil when the process has no thread-specific key left: no cache then.
private let lastPoolKey: pthread_key_t? = {
    var key = pthread_key_t()
    let error = pthread_key_create(&key) { raw in
        if let raw { Unmanaged<LastPool>.fromOpaque(raw).release() }
    }
    return error == 0 ? key : nil
}()

/// The box of pool handle `handle` if this thread looked it up last and it
/// is not destroyed, valid (unretained) until this thread looks up another.
@inline(__always)
func cachedPool(_ handle: UInt) -> Unmanaged<PoolBox>? {
    guard let key = lastPoolKey, let raw = pthread_getspecific(key) else { return nil }
    return Unmanaged<LastPool>.fromOpaque(raw)._withUnsafeGuaranteedRef { last in
        guard last.handle == handle, let box = last.box,
              !box._withUnsafeGuaranteedRef({ $0.isDestroyed.load(ordering: .relaxed) }) else { return nil }
        return box
    }
}

func rememberPool(_ handle: UInt, _ box: PoolBox) {
    guard let key = lastPoolKey else { return }
    let last: LastPool
    if let raw = pthread_getspecific(key) {
        last = Unmanaged<LastPool>.fromOpaque(raw).takeUnretainedValue()
        if last.handle == handle, last.box?.toOpaque() == Unmanaged.passUnretained(box).toOpaque() { return }
    } else {
        last = LastPool()
        guard pthread_setspecific(key, Unmanaged.passRetained(last).toOpaque()) == 0 else {
            Unmanaged.passUnretained(last).release()
            return
        }
    }
    last.box?.release()
    last.box = Unmanaged.passRetained(box)
    last.handle = handle
}
