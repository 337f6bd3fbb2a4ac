// The C ABI: converts arguments, finds the objects behind handles, calls the
// core, and turns every PoolError into a status code plus the thread's last
// error. No pool logic lives here, and nothing may trap or throw past it.
import CMariaDB
import CMySQLPoolSupport
import MySQLPoolCore
import Synchronization

typealias Slot = PooledSlot<MariaDBConnection>

/// What a pool handle stands for; the C strings of its name and hosts live
/// with it. In replication mode it is two pools over one HostSet: `pool`
/// for the primary, `readPool` for read-only connections to replicas.
final class PoolBox: @unchecked Sendable {
    let pool: ConnectionPool<MariaDBFactory>
    let readPool: ConnectionPool<MariaDBFactory>?
    let hosts: HostSet
    /// Replication and loadbalance pools over several hosts: their roles.
    let roleWatch: RoleWatch?
    let cName: UnsafeMutablePointer<CChar>
    /// pool_destroy ran while connections were borrowed: the handle lives on
    /// only so they can be released. Set under the handle table's lock; read
    /// without it by a release, after its connection is back in the books.
    let isDestroyed = Atomic<Bool>(false)

    init(_ pool: ConnectionPool<MariaDBFactory>, readPool: ConnectionPool<MariaDBFactory>?, hosts: HostSet,
         configuration: PoolConfiguration) {
        self.pool = pool
        self.readPool = readPool
        self.hosts = hosts
        if hosts.count > 1 && configuration.hostMode != .sequential && configuration.roleCheckNanos > 0 {
            roleWatch = RoleWatch(hosts: hosts, configuration: configuration, period: configuration.roleCheckNanos) {
                pool.closeRetiredIdle()
                readPool?.closeRetiredIdle()
            }
        } else {
            roleWatch = nil
        }
        let bytes = Array(pool.name.utf8CString)
        cName = .allocate(capacity: bytes.count)
        cName.initialize(from: bytes, count: bytes.count)
    }

    deinit { cName.deallocate() }

    func close() {
        roleWatch?.stop()
        pool.close()
        readPool?.close()
    }

    func stats() -> PoolStats {
        guard let readPool else { return pool.stats() }
        return pool.stats() + readPool.stats()
    }

    /// Which half of the pool a borrowed connection came from: true for the
    /// read-only one, nil for neither. A flag, not the pool: returning the
    /// pool would cost a retain and a release on every checkout.
    func isReadHalf(of slot: Slot) -> Bool? {
        if pool.owns(slot) { return false }
        if let readPool, readPool.owns(slot) { return true }
        return nil
    }

    /// Starts the reset a release of `slot` does, without blocking (see
    /// pool_return_start); nil when the slot is of neither half.
    func startReset(_ slot: Slot) throws(PoolError) -> IOStep? {
        guard let readHalf = isReadHalf(of: slot) else { return nil }
        let half = readHalf ? readPool! : pool
        return try half.factory.startReuse(slot.connection)
    }

    /// Takes back a connection of either half.
    func release(_ slot: Slot, readHalf: Bool, discard: Bool) throws(PoolError) {
        if readHalf, let readPool {
            try readPool.release(slot, discard: discard)
        } else {
            try pool.release(slot, discard: discard)
        }
    }
}

/// Used by one thread at a time, as the header requires of configurations.
final class ConfigBox: @unchecked Sendable {
    var configuration = PoolConfiguration()
}

// MARK: - Status and errors

@inline(__always)
private func bits(_ handle: OpaquePointer?) -> UInt {
    handle.map { UInt(bitPattern: $0) } ?? 0
}

private func record(_ error: PoolError) -> Int32 {
    mysqlpool_set_last_error(error.kind.rawValue, error.serverErrno, error.sqlstate, error.message)
    return error.kind.rawValue
}

/// Runs one API call: success is POOL_OK, a PoolError becomes its code.
@inline(__always)
private func status(_ body: () throws(PoolError) -> Void) -> Int32 {
    do {
        try body()
        return 0
    } catch {
        return record(error)
    }
}

/// The object behind a handle, retained while the table's lock is held.
@inline(__always)
private func lookup<Object: AnyObject>(_ handle: OpaquePointer?, _ kind: HandleKind, as _: Object.Type) throws(PoolError) -> Object {
    let bits = bits(handle)
    if let object = handles.withLock({ $0.object(bits, kind: kind)?.takeUnretainedValue() }) {
        return unsafeDowncast(object, to: Object.self)
    }
    throw wrongHandle(bits, kind)
}

/// The object behind a connection or result handle, lent to `body` without
/// a retain. The header allows one thread at a time per connection and its
/// results, and only that thread's own release or free removes their
/// entries (the pool retires only idle connections, whose handles are
/// stale), so the object outlives the call.
@inline(__always)
private func withLeased<Object: AnyObject, Value>(_ handle: OpaquePointer?, _ kind: HandleKind, as _: Object.Type,
                                                 _ body: (Object) throws(PoolError) -> Value) throws(PoolError) -> Value {
    let bits = bits(handle)
    guard let entry = handles.withLock({ $0.object(bits, kind: kind) }) else { throw wrongHandle(bits, kind) }
    return try withGuaranteed(Unmanaged<Object>.fromOpaque(entry.toOpaque()), body)
}

/// `_withUnsafeGuaranteedRef` for bodies that throw PoolError (it rethrows
/// untyped errors). The caller vouches that the object stays alive.
@inline(__always)
private func withGuaranteed<Object: AnyObject, Value>(_ object: Unmanaged<Object>,
                                                     _ body: (Object) throws(PoolError) -> Value) throws(PoolError) -> Value {
    do {
        return try object._withUnsafeGuaranteedRef(body)
    } catch let error as PoolError {
        throw error
    } catch {
        throw PoolError(.internal, "unexpected error: \(error)")
    }
}

@inline(__always)
private func withConnection<Value>(_ handle: OpaquePointer?,
                                   _ body: (MariaDBConnection) throws(PoolError) -> Value) throws(PoolError) -> Value {
    try withLeased(handle, .connection, as: Slot.self) { slot throws(PoolError) in
        slot.connection.settle()
        return try body(slot.connection)
    }
}

@inline(__always)
private func withResult<Value>(_ handle: OpaquePointer?,
                               _ body: (MariaDBResult) throws(PoolError) -> Value) throws(PoolError) -> Value {
    try withLeased(handle, .result, as: MariaDBResult.self, body)
}

/// Why `handle` was refused, worked out after the fast lookup failed.
private func wrongHandle(_ handle: UInt, _ kind: HandleKind) -> PoolError {
    switch handles.withLock({ $0.lookup(handle, kind: kind) }) {
    case .success: PoolError(.wrongHandle, HandleProblem.stale(kind).message)  // renewed meanwhile
    case .failure(let problem): PoolError(.wrongHandle, problem.message)
    }
}

private func register(_ object: any AnyObject & Sendable, _ kind: HandleKind) -> OpaquePointer {
    let handle = handles.withLock { $0.insert(object, kind: kind) }
    return OpaquePointer(bitPattern: handle)!
}

private func nonNull<T>(_ pointer: UnsafeMutablePointer<T>?, _ name: String) throws(PoolError) -> UnsafeMutablePointer<T> {
    guard let pointer else { throw PoolError(.badArgument, "\(name) is NULL") }
    return pointer
}

private func cString(_ pointer: UnsafePointer<CChar>?, _ name: String) throws(PoolError) -> String {
    guard let pointer else { throw PoolError(.badArgument, "\(name) is NULL") }
    // Kept byte for byte or refused: a silently replaced byte would log in
    // as another user or into another database.
    guard let text = String(validatingCString: pointer) else {
        throw PoolError(.badArgument, "\(name) is not valid UTF-8")
    }
    return text
}

/// The pool behind a handle, unless it was destroyed.
private func poolBox(_ handle: OpaquePointer?) throws(PoolError) -> PoolBox {
    let box = try lookup(handle, .pool, as: PoolBox.self)
    guard !box.isDestroyed.load(ordering: .relaxed) else {
        throw PoolError(.wrongHandle, HandleProblem.stale(.pool).message)
    }
    rememberPool(bits(handle), box)
    return box
}

/// Every call on a connection reaches it through here or `withConnection`,
/// which first wait for a batch being read ahead (MariaDBConnection.settle).
private func connection(_ handle: OpaquePointer?) throws(PoolError) -> MariaDBConnection {
    let connection = try lookup(handle, .connection, as: Slot.self).connection
    connection.settle()
    return connection
}

/// Fills at most `size` bytes of `out` from `value`, recording how many in
/// the struct's leading struct_size field.
private func copyOut<T>(_ value: T, to out: UnsafeMutableRawPointer?, size: UInt) throws(PoolError) {
    guard let out else { throw PoolError(.badArgument, "the output struct pointer is NULL") }
    guard size >= 16 else { throw PoolError(.badArgument, "out_size must be at least 16, got \(size)") }
    let count = min(Int(clamping: size), MemoryLayout<T>.size)
    var copy = value
    withUnsafeMutableBytes(of: &copy) { bytes in
        bytes.storeBytes(of: UInt64(count), as: UInt64.self)
        out.copyMemory(from: bytes.baseAddress!, byteCount: count)
    }
}

private func staticCString(_ text: StaticString) -> UnsafePointer<CChar> {
    UnsafeRawPointer(text.utf8Start).assumingMemoryBound(to: CChar.self)
}

// MARK: - Version and errors

@_cdecl("pool_version_number")
public func exportVersionNumber() -> Int32 { 1000 }

@_cdecl("pool_version")
public func exportVersion() -> UnsafePointer<CChar> { staticCString("0.1.0") }

@_cdecl("pool_strerror")
public func exportStrerror(_ code: Int32) -> UnsafePointer<CChar> {
    switch code {
    case 0: staticCString("success")
    case 1: staticCString("pool exhausted: no connection became free before the deadline")
    case 2: staticCString("pool closed")
    case 3: staticCString("bad argument")
    case 4: staticCString("server or connection error")
    case 5: staticCString("wrong handle: NULL, stale, released or foreign")
    case 6: staticCString("unknown configuration key")
    case 7: staticCString("out of memory")
    case 8: staticCString("call out of sequence")
    case 9: staticCString("internal error in libmysqlpool")
    case 100: staticCString("row available")
    case 101: staticCString("no more rows or results")
    case 102: staticCString("waiting for I/O: see the pool_io_t filled in")
    default: staticCString("unknown status code")
    }
}

// MARK: - Configuration

@_cdecl("pool_config_new")
public func exportConfigNew() -> OpaquePointer? {
    register(ConfigBox(), .config)
}

@_cdecl("pool_config_set")
public func exportConfigSet(_ config: OpaquePointer?, _ key: UnsafePointer<CChar>?, _ value: UnsafePointer<CChar>?) -> Int32 {
    status { () throws(PoolError) in
        let box = try lookup(config, .config, as: ConfigBox.self)
        guard let key else { throw PoolError(.badArgument, "key is NULL") }
        // No key is spelled with bytes that are not UTF-8.
        guard let name = String(validatingCString: key) else {
            throw PoolError(.unknownOption, "unknown configuration key (its bytes are not UTF-8)")
        }
        guard let value else { throw PoolError(.badArgument, "value for '\(name)' is NULL") }
        guard let text = String(validatingCString: value) else {
            // An unknown key is the first thing to report, whatever its value.
            var scratch = PoolConfiguration()
            do throws(PoolError) { try scratch.set(name, "") } catch { if error.kind == .unknownOption { throw error } }
            throw PoolError(.badArgument, "configuration key '\(name)': the value is not valid UTF-8 "
                                + "(values are kept byte for byte or refused)")
        }
        try box.configuration.set(name, text)
    }
}

@_cdecl("pool_config_free")
public func exportConfigFree(_ config: OpaquePointer?) {
    _ = handles.withLock { $0.remove(bits(config), kind: .config) }
}

// MARK: - Pool

@_cdecl("pool_create")
public func exportCreate(_ config: OpaquePointer?, _ out: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    out?.pointee = nil
    return status { () throws(PoolError) in
        let out = try nonNull(out, "out_pool")
        let configuration = try lookup(config, .config, as: ConfigBox.self).configuration
        out.pointee = register(try makePools(configuration), .pool)
    }
}

/// One pool, or in replication mode a primary pool and a read-only pool
/// (opened lazily: replicas being down must not stop pool_create).
private func makePools(_ configuration: PoolConfiguration) throws(PoolError) -> PoolBox {
    var settings = try configuration.poolSettings()
    settings.onRetire = forgetConnectionHandle
    let hosts = HostSet(try configuration.hostAddresses(), mode: configuration.hostMode,
                        denyNanos: configuration.hostDenyNanos)
    guard configuration.hostMode == .replication else {
        let pool = try ConnectionPool(settings: settings,
                                      factory: MariaDBFactory(configuration: configuration, hosts: hosts))
        return PoolBox(pool, readPool: nil, hosts: hosts, configuration: configuration)
    }
    let primary = try ConnectionPool(settings: settings,
                                     factory: MariaDBFactory(configuration: configuration, hosts: hosts, role: .primary))
    var readSettings = settings
    readSettings.name += " (read-only)"
    readSettings.preCreate = 0
    readSettings.limits.minIdle = 0
    // One statement cache setting and one set of counters for both halves.
    let replicas = try ConnectionPool(settings: readSettings,
                                      factory: MariaDBFactory(configuration: configuration, hosts: hosts, role: .replica,
                                                              statements: primary.factory.statements))
    return PoolBox(primary, readPool: replicas, hosts: hosts, configuration: configuration)
}

@_cdecl("pool_close")
public func exportClose(_ pool: OpaquePointer?) -> Int32 {
    status { () throws(PoolError) in try poolBox(pool).close() }
}

@_cdecl("pool_destroy")
public func exportDestroy(_ pool: OpaquePointer?) {
    let box = handles.withLock { table -> PoolBox? in
        guard case .success(let object) = table.lookup(bits(pool), kind: .pool) else { return nil }
        let box = unsafeDowncast(object, to: PoolBox.self)
        if box.isDestroyed.load(ordering: .relaxed) { return nil }
        box.isDestroyed.store(true, ordering: .relaxed)
        // Keep the handle while connections are out, so they can come back.
        if box.stats().inUse == 0 { _ = table.remove(bits(pool), kind: .pool) }
        return box
    }
    box?.close()
}

/// A connection of a destroyed pool came back: retire the handle if it was
/// the last. pool_destroy sets the flag before it counts the borrowed
/// connections, and a release reads it after its connection stopped counting
/// (both under the pool's lock), so one of the two sees the pool drained.
private func retireIfDrained(_ handle: UInt, _ box: PoolBox) {
    handles.withLock { table in
        if box.stats().inUse == 0 { _ = table.remove(handle, kind: .pool) }
    }
}

@_cdecl("pool_name")
public func exportName(_ pool: OpaquePointer?) -> UnsafePointer<CChar>? {
    do {
        return UnsafePointer(try poolBox(pool).cName)
    } catch {
        _ = record(error)
        return nil
    }
}

@_cdecl("pool_get_conn")
public func exportGetConn(_ pool: OpaquePointer?, _ timeoutMs: Int64, _ out: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    exportGetConnEx(pool, timeoutMs, 0, 0, out)
}

@_cdecl("pool_get_conn_ex")
public func exportGetConnEx(_ pool: OpaquePointer?, _ timeoutMs: Int64, _ overflowAfterMs: Int64, _ flags: UInt32,
                            _ out: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    out?.pointee = nil
    return status { () throws(PoolError) in
        let out = try nonNull(out, "out_conn")
        out.pointee = try borrow(pool, timeoutMs, overflowAfterMs, flags)
    }
}

@_cdecl("pool_borrow")
public func exportBorrow(_ pool: OpaquePointer?, _ timeoutMs: Int64, _ overflowAfterMs: Int64,
                         _ flags: UInt32) -> OpaquePointer? {
    do {
        return try borrow(pool, timeoutMs, overflowAfterMs, flags)
    } catch {
        _ = record(error)
        return nil
    }
}

@_cdecl("pool_take")
public func exportTake(_ pool: OpaquePointer?) -> OpaquePointer? {
    do {
        return try borrow(pool, timeout: nil, overflowAfter: nil, flags: 0)
    } catch {
        _ = record(error)
        return nil
    }
}

private func borrow(_ pool: OpaquePointer?, _ timeoutMs: Int64, _ overflowAfterMs: Int64,
                    _ flags: UInt32) throws(PoolError) -> OpaquePointer {
    guard flags & ~UInt32(3) == 0 else {
        throw PoolError(.badArgument, "unknown flag bits 0x\(String(flags & ~UInt32(3), radix: 16)) in flags")
    }
    guard overflowAfterMs >= 0 else {
        throw PoolError(.badArgument, "overflow_after_ms must not be negative, got \(overflowAfterMs)")
    }
    return try borrow(pool, timeout: timeoutMs < 0 ? nil : nanos(milliseconds: timeoutMs),
                      overflowAfter: nanos(milliseconds: overflowAfterMs), flags: flags)
}

/// nil timeout or overflow delay: the pool's own (get_timeout, overflow_after).
private func borrow(_ pool: OpaquePointer?, timeout: UInt64?, overflowAfter: UInt64?,
                    flags: UInt32) throws(PoolError) -> OpaquePointer {
    let poolBits = bits(pool)
    if let cached = cachedPool(poolBits) {
        // Used without a retain of its own: this thread's cache holds one.
        return try withGuaranteed(cached) { box throws(PoolError) in
            try checkout(from: box, poolBits, timeout: timeout, overflowAfter: overflowAfter, flags: flags)
        }
    }
    return try checkout(from: try poolBox(pool), poolBits, timeout: timeout, overflowAfter: overflowAfter, flags: flags)
}

private func checkout(from box: PoolBox, _ poolBits: UInt, timeout: UInt64?, overflowAfter: UInt64?,
                      flags: UInt32) throws(PoolError) -> OpaquePointer {
    let ping = flags & 1 != 0
    let slot: Slot
    if flags & 2 != 0, let readPool = box.readPool {
        do throws(PoolError) {
            slot = try readPool.get(timeoutNanos: timeout, overflowAfterNanos: overflowAfter, ping: ping)
        } catch {
            // No replica answers: the primary serves reads meanwhile.
            guard error.kind == .server else { throw error }
            slot = try box.pool.get(timeoutNanos: timeout, overflowAfterNanos: overflowAfter, ping: ping)
        }
    } else {
        slot = try box.pool.get(timeoutNanos: timeout, overflowAfterNanos: overflowAfter, ping: ping)
    }
    return connectionHandle(slot, poolBits)
}

/// A connection's handle is made once, at its first checkout (see HandleTable).
@inline(__always)
private func connectionHandle(_ slot: Slot, _ poolBits: UInt) -> OpaquePointer {
    var handle = slot.leaseTag.load(ordering: .relaxed)
    if handle == 0 {
        handle = handles.withLock { $0.insert(slot, kind: .connection, context: poolBits) }
        slot.leaseTag.store(handle, ordering: .relaxed)
    }
    return OpaquePointer(bitPattern: handle)!
}

// MARK: - Borrowing from an event loop

/// A borrow in progress, behind a pool_wait_t handle: which half of the pool
/// it waits in, and whether a read-only borrow may still fall back to the
/// primary (as pool_get_conn does when no replica answers).
final class BorrowBox: @unchecked Sendable {
    var borrow: ConnectionPool<MariaDBFactory>.Borrow
    var pool: ConnectionPool<MariaDBFactory>
    let box: PoolBox
    let poolBits: UInt
    let timeout: UInt64?
    let ping: Bool
    var mayFallBack: Bool

    init(_ borrow: ConnectionPool<MariaDBFactory>.Borrow, pool: ConnectionPool<MariaDBFactory>, box: PoolBox,
         poolBits: UInt, timeout: UInt64?, ping: Bool, mayFallBack: Bool) {
        self.borrow = borrow
        self.pool = pool
        self.box = box
        self.poolBits = poolBits
        self.timeout = timeout
        self.ping = ping
        self.mayFallBack = mayFallBack
    }
}

@_cdecl("pool_get_conn_start")
public func exportGetConnStart(_ pool: OpaquePointer?, _ timeoutMs: Int64, _ flags: UInt32,
                               _ outConn: UnsafeMutablePointer<OpaquePointer?>?,
                               _ outWait: UnsafeMutablePointer<OpaquePointer?>?,
                               _ io: UnsafeMutablePointer<pool_io_t>?) -> Int32 {
    outConn?.pointee = nil
    outWait?.pointee = nil
    var waiting = false
    let code = status { () throws(PoolError) in
        let box = try poolBox(pool)
        let outConn = try nonNull(outConn, "out_conn")
        let outWait = try nonNull(outWait, "out_wait")
        let io = try nonNull(io, "io")
        guard flags & ~UInt32(3) == 0 else {
            throw PoolError(.badArgument, "unknown flag bits 0x\(String(flags & ~UInt32(3), radix: 16)) in flags")
        }
        let timeout = timeoutMs < 0 ? nil : nanos(milliseconds: timeoutMs)
        let readHalf = flags & 2 != 0 ? box.readPool : nil
        let ping = flags & 1 != 0
        var target = readHalf ?? box.pool
        var started: (step: AsyncBorrowStep<MariaDBConnection>, borrow: ConnectionPool<MariaDBFactory>.Borrow?)
        do throws(PoolError) {
            started = try target.startBorrow(timeoutNanos: timeout, overflowAfterNanos: 0, ping: ping)
        } catch {
            guard readHalf != nil, error.kind == .server else { throw error }
            target = box.pool  // no replica answers: the primary serves reads meanwhile
            started = try target.startBorrow(timeoutNanos: timeout, overflowAfterNanos: 0, ping: ping)
        }
        switch started.step {
        case .ready(let slot):
            outConn.pointee = connectionHandle(slot, bits(pool))
            io.pointee = noWait
        case .wait(let timeoutNanos):
            let borrow = started.borrow!
            let waitBox = BorrowBox(borrow, pool: target, box: box, poolBits: bits(pool), timeout: timeout,
                                    ping: ping, mayFallBack: readHalf != nil && target !== box.pool)
            outWait.pointee = register(waitBox, .borrow)
            io.pointee = borrowIO(borrow, timeoutNanos: timeoutNanos)
            waiting = true
        }
    }
    return code == 0 && waiting ? 102 : code
}

@_cdecl("pool_get_conn_continue")
public func exportGetConnContinue(_ wait: OpaquePointer?, _ outConn: UnsafeMutablePointer<OpaquePointer?>?,
                                  _ io: UnsafeMutablePointer<pool_io_t>?) -> Int32 {
    outConn?.pointee = nil
    var waiting = false
    let code = status { () throws(PoolError) in
        let waitBox = try lookup(wait, .borrow, as: BorrowBox.self)
        let outConn = try nonNull(outConn, "out_conn")
        let io = try nonNull(io, "io")
        let step: AsyncBorrowStep<MariaDBConnection>
        do throws(PoolError) {
            do throws(PoolError) {
                step = try waitBox.pool.continueBorrow(waitBox.borrow)
            } catch {
                guard waitBox.mayFallBack, error.kind == .server else { throw error }
                // No replica answers: wait for the primary instead, as pool_get_conn does.
                waitBox.mayFallBack = false
                waitBox.pool = waitBox.box.pool
                let started = try waitBox.pool.startBorrow(timeoutNanos: waitBox.timeout, overflowAfterNanos: 0,
                                                           ping: waitBox.ping)
                if let borrow = started.borrow { waitBox.borrow = borrow }
                step = started.step
            }
        } catch {
            finishBorrow(wait)
            throw error
        }
        switch step {
        case .ready(let slot):
            finishBorrow(wait)
            outConn.pointee = connectionHandle(slot, waitBox.poolBits)
            io.pointee = noWait
        case .wait(let timeoutNanos):
            io.pointee = borrowIO(waitBox.borrow, timeoutNanos: timeoutNanos)
            waiting = true
        }
    }
    return code == 0 && waiting ? 102 : code
}

@_cdecl("pool_get_conn_cancel")
public func exportGetConnCancel(_ wait: OpaquePointer?) -> Int32 {
    status { () throws(PoolError) in
        guard let object = handles.withLock({ $0.remove(bits(wait), kind: .borrow) }) else {
            throw wrongHandle(bits(wait), .borrow)
        }
        let waitBox = unsafeDowncast(object, to: BorrowBox.self)
        waitBox.pool.cancelBorrow(waitBox.borrow)
    }
}

/// The borrow is over (a connection or a failure): its handle goes.
private func finishBorrow(_ wait: OpaquePointer?) {
    _ = handles.withLock { $0.remove(bits(wait), kind: .borrow) }
}

/// The pool_io_t of a call that finished: nothing to wait for.
private let noWait = pool_io_t(fd: -1, events: 0, timeout_ms: -1)

/// What the loop waits for: the borrow's eventfd readable, and a timeout
/// when the pool has one for it (the wait's deadline or the overflow).
/// A timeout comes only with a wait in the queue (nil: a helper is at work),
/// which POOL_IO_QUEUED tells the loop.
private func borrowIO(_ borrow: ConnectionPool<MariaDBFactory>.Borrow, timeoutNanos: UInt64?) -> pool_io_t {
    guard let timeoutNanos else { return pool_io_t(fd: borrow.eventFD, events: 1, timeout_ms: -1) }
    guard timeoutNanos < UInt64(Int64.max) else {
        return pool_io_t(fd: borrow.eventFD, events: 1 | 16, timeout_ms: -1)
    }
    let milliseconds = Int64(clamping: (timeoutNanos + 999_999) / 1_000_000)
    return pool_io_t(fd: borrow.eventFD, events: 1 | 8 | 16, timeout_ms: milliseconds)
}

/// The pool closed a connection that had a handle: the handle goes with it.
private let forgetConnectionHandle: @Sendable (UInt) -> Void = { handle in
    handles.withLock { _ = $0.remove(handle, kind: .connection) }
}

private func nanos(milliseconds: Int64) -> UInt64 {
    let (product, overflow) = UInt64(milliseconds).multipliedReportingOverflow(by: 1_000_000)
    return overflow ? UInt64.max : product
}

@_cdecl("pool_release")
public func exportRelease(_ pool: OpaquePointer?, _ conn: OpaquePointer?) -> Int32 {
    giveBack(pool, conn, discard: false)
}

@_cdecl("pool_discard")
public func exportDiscard(_ pool: OpaquePointer?, _ conn: OpaquePointer?) -> Int32 {
    giveBack(pool, conn, discard: true)
}

@_cdecl("pool_return")
public func exportReturn(_ conn: OpaquePointer?) -> Int32 {
    giveBack(nil, conn, discard: false)
}

/// `poolHandle` nil: the pool the connection came from (pool_return).
private func giveBack(_ poolHandle: OpaquePointer??, _ conn: OpaquePointer?, discard: Bool) -> Int32 {
    status { () throws(PoolError) in
        // A tuple, not a struct: its parts move out without a retain each.
        let (box, poolBits, leased, readHalf, keepAlive) = try takeBack(conn, to: poolHandle.map(bits))
        // Not retained: the table's entry holds the slot until a retire (of
        // an idle slot, or by this very release) or `keepAlive` does.
        try withExtendedLifetime(keepAlive) { () throws(PoolError) in
            try withGuaranteed(leased) { slot throws(PoolError) in
                forgetResultHandles(of: slot.connection)
                try box.release(slot, readHalf: readHalf, discard: discard)
            }
        }
        if box.isDestroyed.load(ordering: .relaxed) { retireIfDrained(poolBits, box) }
    }
}

/// Everything a release checks, under one lock: the pool handle (a destroyed
/// pool still takes its connections back; nil: the connection's own), the
/// connection handle, and that the one belongs to the other. The connection
/// handle is then renewed for the next lease, so a concurrent double release
/// loses here.
/// `slot` is unretained (see giveBack); `keepAlive` is the table's
/// reference to it when its handles ran out (see HandleTable.renew).
private func takeBack(_ conn: OpaquePointer?, to poolHandle: UInt?) throws(PoolError)
    -> (box: PoolBox, poolBits: UInt, slot: Unmanaged<Slot>, readHalf: Bool, keepAlive: AnyObject?) {
    let connBits = bits(conn)
    var poolBits = poolHandle ?? 0
    var keepAlive: AnyObject?
    let found = handles.withLock { table -> (PoolBox, Unmanaged<Slot>, Bool?)? in
        guard let slotEntry = table.object(connBits, kind: .connection) else { return nil }
        if poolHandle == nil { poolBits = table.context(of: connBits) }
        guard let boxEntry = table.object(poolBits, kind: .pool) else { return nil }
        // The box is retained: a destroyed pool's entry goes once drained.
        let box = unsafeDowncast(boxEntry.takeUnretainedValue(), to: PoolBox.self)
        let leased = Unmanaged<Slot>.fromOpaque(slotEntry.toOpaque())
        return leased._withUnsafeGuaranteedRef { slot in
            guard let readHalf = box.isReadHalf(of: slot) else { return (box, leased, nil) }
            let (next, dropped) = table.renew(connBits)
            slot.leaseTag.store(next, ordering: .relaxed)
            keepAlive = dropped
            return (box, leased, readHalf)
        }
    }
    guard let (box, slot, readHalf) = found else {
        let (poolIsLive, connIsLive) = handles.withLock {
            ($0.object(poolBits, kind: .pool) != nil, $0.object(connBits, kind: .connection) != nil)
        }
        // A bad pool handle is reported before a bad connection handle.
        let poolIsWrong = !poolIsLive && (poolHandle != nil || connIsLive)
        throw poolIsWrong ? wrongHandle(poolBits, .pool) : wrongHandle(connBits, .connection)
    }
    guard let readHalf else {
        throw PoolError(.wrongHandle, "the connection does not belong to pool '\(box.pool.name)'")
    }
    return (box, poolBits, slot, readHalf, keepAlive)
}

/// The release frees the connection's results and takes back its
/// statements; their handles go stale with it.
private func forgetResultHandles(of connection: MariaDBConnection) {
    guard !connection.liveResults.isEmpty || !connection.lentStatements.isEmpty else { return }
    let results = connection.liveResults.map(\.embedderTag)
    let statements = connection.lentStatements.map(\.embedderTag)
    handles.withLock { table in
        for tag in results { _ = table.remove(tag, kind: .result) }
        for tag in statements { _ = table.remove(tag, kind: .statement) }
    }
}

@_cdecl("pool_stats")
public func exportStats(_ pool: OpaquePointer?, _ out: UnsafeMutableRawPointer?, _ size: UInt) -> Int32 {
    status { () throws(PoolError) in
        let box = try poolBox(pool)
        let stats = box.stats()
        let statements = box.pool.factory.statements.snapshot
        let snapshot = pool_stats_t(
            struct_size: 0, total: UInt64(stats.total), idle: UInt64(stats.idle), in_use: UInt64(stats.inUse),
            opening: UInt64(stats.opening), waiting: UInt64(stats.waiting), size: UInt64(stats.size),
            maxsize: UInt64(stats.maxsize), created: stats.created, connect_failures: stats.connectFailures,
            closed_lifetime: stats.closedLifetime, closed_broken: stats.closedBroken,
            closed_overflow: stats.closedOverflow, closed_discarded: stats.closedDiscarded,
            closed_shutdown: stats.closedShutdown, gets: stats.gets, releases: stats.releases,
            wait_count: stats.waitCount, wait_time_ns: stats.waitTimeNanos, max_wait_ns: stats.maxWaitNanos,
            timeouts: stats.timeouts, resets: stats.resets, closed_idle: stats.closedIdle,
            closed_validation: stats.closedValidation, pings: stats.pings, leaks: stats.leaks,
            stmt_prepares: statements.prepares, stmt_cache_hits: statements.hits,
            stmt_evictions: statements.evictions)
        try copyOut(snapshot, to: out, size: size)
    }
}

@_cdecl("pool_host_stats")
public func exportHostStats(_ pool: OpaquePointer?, _ index: UInt, _ out: UnsafeMutableRawPointer?, _ size: UInt)
    -> Int32
{
    var done = false
    let code = status { () throws(PoolError) in
        let hosts = try poolBox(pool).hosts.snapshot()
        guard out != nil, size >= 16 else { return try copyOut(0, to: out, size: size) }
        guard index < UInt(hosts.count) else {
            done = true
            return
        }
        let entry = hosts[Int(index)]
        var snapshot = pool_host_stats_t()
        snapshot.port = UInt64(entry.address.port)
        snapshot.connections = UInt64(max(entry.connections, 0))
        snapshot.connects = entry.connects
        snapshot.failures = entry.failures
        snapshot.denied_ms = entry.deniedFor / 1_000_000
        snapshot.read_only = entry.readOnly.map { $0 ? 1 : 0 } ?? -1
        snapshot.synced = entry.synced.map { $0 ? 1 : 0 } ?? -1
        snapshot.borrows = entry.borrows
        let now = MonotonicClock.now()
        snapshot.role_age_ms = entry.roleCheckedAt == 0 ? .max : (now &- entry.roleCheckedAt) / 1_000_000
        withUnsafeMutableBytes(of: &snapshot.host) { buffer in
            let bytes = Array(entry.address.host.utf8.prefix(buffer.count - 1))
            buffer.copyBytes(from: bytes)
            buffer[bytes.count] = 0
        }
        try copyOut(snapshot, to: out, size: size)
    }
    return done ? Int32(POOL_DONE.rawValue) : code
}

// MARK: - Logging

@_cdecl("pool_set_log_callback")
public func exportSetLogCallback(_ callback: pool_log_fn?, _ userData: UnsafeMutableRawPointer?, _ minLevel: Int32)
    -> Int32
{
    status { () throws(PoolError) in
        guard (0...50).contains(minLevel) else {
            throw PoolError(.badArgument, "min_level must be from 0 to 50, got \(minLevel)")
        }
        guard let callback else { return PoolLog.setSink(nil) }
        let user = UInt(bitPattern: userData)
        PoolLog.setSink { level, pool, leaseTag, message in
            guard level.rawValue >= minLevel else { return }
            pool.withCString { name in
                message.withCString { text in
                    callback(UnsafeMutableRawPointer(bitPattern: user), level.rawValue, name,
                             OpaquePointer(bitPattern: leaseTag), text)
                }
            }
        }
    }
}

// MARK: - Statements

@_cdecl("pool_query")
public func exportQuery(_ conn: OpaquePointer?, _ sql: UnsafePointer<CChar>?, _ length: UInt) -> Int32 {
    status { () throws(PoolError) in
        try withConnection(conn) { connection throws(PoolError) in try connection.query(try statement(sql, length)) }
    }
}

@_cdecl("pool_query_params")
public func exportQueryParams(_ conn: OpaquePointer?, _ sql: UnsafePointer<CChar>?, _ length: UInt, _ count: UInt,
                              _ params: UnsafePointer<pool_param_t>?) -> Int32 {
    status { () throws(PoolError) in
        // The handle first: nothing the caller passed is read for a bad one.
        try withConnection(conn) { connection throws(PoolError) in
            try connection.query(try statement(sql, length), parameters: try sqlParameters(params, count))
        }
    }
}

/// The C parameters as the core's, checked: nothing is read past `count`,
/// and no pointer is kept after the call.
private func sqlParameters(_ params: UnsafePointer<pool_param_t>?, _ count: UInt) throws(PoolError) -> [SQLParameter] {
    guard count > 0 else { return [] }
    guard let params else { throw PoolError(.badArgument, "params is NULL but n_params is \(count)") }
    guard count <= 1 << 24 else { throw PoolError(.badArgument, "n_params \(count) is more than any statement can hold") }
    var parameters: [SQLParameter] = []
    parameters.reserveCapacity(Int(count))
    for index in 0..<Int(count) {
        let param = params[index]
        func bytes() throws(PoolError) -> UnsafeRawBufferPointer {
            let (data, length) = (param.value.bytes.data, Int(param.value.bytes.length))
            guard data != nil || length == 0 else {
                throw PoolError(.badArgument, "parameter \(index + 1): data is NULL but length is \(length)")
            }
            return UnsafeRawBufferPointer(start: data, count: length)
        }
        func time() -> SQLTime {
            let t = param.value.time
            return SQLTime(negative: t.negative != 0, year: t.year, month: t.month, day: t.day, hour: t.hour,
                           minute: t.minute, second: t.second, microsecond: t.microsecond)
        }
        switch param.type {
        case Int32(POOL_PARAM_NULL.rawValue): parameters.append(.null)
        case Int32(POOL_PARAM_INT64.rawValue): parameters.append(.int(param.value.i64))
        case Int32(POOL_PARAM_UINT64.rawValue): parameters.append(.uint(param.value.u64))
        case Int32(POOL_PARAM_DOUBLE.rawValue): parameters.append(.double(param.value.f64))
        case Int32(POOL_PARAM_TEXT.rawValue): parameters.append(.text(try bytes()))
        case Int32(POOL_PARAM_BINARY.rawValue): parameters.append(.binary(try bytes()))
        case Int32(POOL_PARAM_DECIMAL.rawValue): parameters.append(.decimal(try bytes()))
        case Int32(POOL_PARAM_DATE.rawValue): parameters.append(.date(time()))
        case Int32(POOL_PARAM_TIME.rawValue): parameters.append(.time(time()))
        case Int32(POOL_PARAM_DATETIME.rawValue): parameters.append(.datetime(time()))
        default:
            throw PoolError(.badArgument, "parameter \(index + 1): unknown type \(param.type)")
        }
    }
    return parameters
}

/// The largest statement a server accepts (max_allowed_packet's ceiling).
private let maxStatementBytes: UInt = 1 << 30

private func statement(_ sql: UnsafePointer<CChar>?, _ length: UInt) throws(PoolError) -> UnsafeRawBufferPointer {
    guard sql != nil || length == 0 else { throw PoolError(.badArgument, "sql is NULL") }
    guard length <= maxStatementBytes else {
        throw PoolError(.badArgument, "length \(length) is larger than any statement a server accepts (1 GiB)")
    }
    return UnsafeRawBufferPointer(start: sql, count: Int(length))
}

// MARK: - Prepared statements

@_cdecl("pool_stmt_prepare")
public func exportStmtPrepare(_ conn: OpaquePointer?, _ sql: UnsafePointer<CChar>?, _ length: UInt,
                              _ out: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    out?.pointee = nil
    return status { () throws(PoolError) in
        let out = try nonNull(out, "out_stmt")
        let prepared = try withConnection(conn) { connection throws(PoolError) in
            try connection.prepare(try statement(sql, length))
        }
        // The connection's lease is the statement's context: one lookup
        // checks both, and the release retires the statement's handle.
        let handle = handles.withLock { $0.insert(prepared, kind: .statement, context: bits(conn)) }
        prepared.embedderTag = handle
        out.pointee = OpaquePointer(bitPattern: handle)
    }
}

@_cdecl("pool_stmt_execute")
public func exportStmtExecute(_ stmt: OpaquePointer?, _ count: UInt, _ params: UnsafePointer<pool_param_t>?) -> Int32 {
    status { () throws(PoolError) in
        try withStatement(stmt) { connection, statement throws(PoolError) in
            try connection.execute(statement, parameters: try sqlParameters(params, count))
        }
    }
}

@_cdecl("pool_stmt_query_pickle")
public func exportStmtQueryPickle(_ conn: OpaquePointer?, _ sql: UnsafePointer<CChar>?, _ length: UInt, _ count: UInt,
                                  _ params: UnsafePointer<pool_param_t>?, _ flags: UInt32,
                                  _ outBytes: UnsafeMutablePointer<UnsafePointer<CChar>?>?,
                                  _ outLength: UnsafeMutablePointer<Int>?) -> Int32 {
    status { () throws(PoolError) in
        try writePickle(to: outBytes, outLength) { () throws(PoolError) in
            let options = try pickleOptions(flags)
            return try withConnection(conn) { connection throws(PoolError) in
                try connection.executeForPython(try statement(sql, length), parameters: try sqlParameters(params, count),
                                                options: options)
            }
        }
    }
}

@_cdecl("pool_stmt_param_count")
public func exportStmtParamCount(_ stmt: OpaquePointer?) -> UInt32 {
    do {
        return try withStatement(stmt) { _, statement in UInt32(statement.parameterCount) }
    } catch {
        _ = record(error)
        return 0
    }
}

@_cdecl("pool_stmt_close")
public func exportStmtClose(_ stmt: OpaquePointer?) -> Int32 {
    status { () throws(PoolError) in
        let stmtBits = bits(stmt)
        let found = handles.withLock { table -> (Unmanaged<AnyObject>, Unmanaged<AnyObject>)? in
            guard let statement = table.object(stmtBits, kind: .statement),
                  let slot = table.object(table.context(of: stmtBits), kind: .connection) else { return nil }
            let tag = unsafeDowncast(statement.takeUnretainedValue(), to: PreparedStatement.self).liveResult?.embedderTag
            if let tag { _ = table.remove(tag, kind: .result) }
            // The table's reference moves to `found`, released below.
            _ = table.remove(stmtBits, kind: .statement).map { Unmanaged.passRetained($0) }
            return (statement, slot)
        }
        guard let (statementEntry, slotEntry) = found else { throw wrongHandle(stmtBits, .statement) }
        let statement = unsafeDowncast(statementEntry.takeRetainedValue(), to: PreparedStatement.self)
        let slot = unsafeDowncast(slotEntry.takeUnretainedValue(), to: Slot.self)
        slot.connection.settle()
        slot.connection.closeStatement(statement)
    }
}

/// The statement behind a handle and the connection it was prepared on,
/// both checked under one lock, lent to `body` without a retain (the rules
/// of `withLeased`: one thread per connection, and only its own release or
/// pool_stmt_close removes the entries).
@inline(__always)
private func withStatement<Value>(_ handle: OpaquePointer?,
                                  _ body: (MariaDBConnection, PreparedStatement) throws(PoolError) -> Value)
    throws(PoolError) -> Value {
    let stmtBits = bits(handle)
    let found = handles.withLock { table -> (Unmanaged<AnyObject>, Unmanaged<AnyObject>)? in
        guard let statement = table.object(stmtBits, kind: .statement),
              let slot = table.object(table.context(of: stmtBits), kind: .connection) else { return nil }
        return (statement, slot)
    }
    guard let (statementEntry, slotEntry) = found else { throw wrongHandle(stmtBits, .statement) }
    return try withGuaranteed(Unmanaged<Slot>.fromOpaque(slotEntry.toOpaque())) { slot throws(PoolError) in
        slot.connection.settle()
        return try withGuaranteed(Unmanaged<PreparedStatement>.fromOpaque(statementEntry.toOpaque())) {
            statement throws(PoolError) in try body(slot.connection, statement)
        }
    }
}

@_cdecl("pool_store_result")
public func exportStoreResult(_ conn: OpaquePointer?, _ out: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    takeResult(conn, out, streaming: false)
}

@_cdecl("pool_use_result")
public func exportUseResult(_ conn: OpaquePointer?, _ out: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    takeResult(conn, out, streaming: true)
}

private func takeResult(_ conn: OpaquePointer?, _ out: UnsafeMutablePointer<OpaquePointer?>?, streaming: Bool) -> Int32 {
    out?.pointee = nil
    return status { () throws(PoolError) in
        let out = try nonNull(out, "out_result")
        let taken = try withConnection(conn) { connection throws(PoolError) in
            streaming ? try connection.useResult() : try connection.storeResult()
        }
        guard let result = taken else { return }
        let handle = register(result, .result)
        result.embedderTag = UInt(bitPattern: handle)
        out.pointee = handle
    }
}

@_cdecl("pool_next_result")
public func exportNextResult(_ conn: OpaquePointer?) -> Int32 {
    var more = false
    let code = status { () throws(PoolError) in more = try connection(conn).nextResult() }
    return code == 0 && !more ? 101 : code
}

// MARK: - Non-blocking calls

@_cdecl("pool_query_start")
public func exportQueryStart(_ conn: OpaquePointer?, _ sql: UnsafePointer<CChar>?, _ length: UInt,
                             _ io: UnsafeMutablePointer<pool_io_t>?) -> Int32 {
    ioStatus(io) { () throws(PoolError) in
        try withConnection(conn) { connection throws(PoolError) in try connection.startQuery(try statement(sql, length)) }
    }
}

@_cdecl("pool_store_result_start")
public func exportStoreResultStart(_ conn: OpaquePointer?, _ out: UnsafeMutablePointer<OpaquePointer?>?,
                                   _ io: UnsafeMutablePointer<pool_io_t>?) -> Int32 {
    out?.pointee = nil
    return ioStatus(io, result: out) { () throws(PoolError) in
        try withConnection(conn) { connection throws(PoolError) in
            _ = try nonNull(out, "out_result")
            return try connection.startStoreResult()
        }
    }
}

@_cdecl("pool_ping_start")
public func exportPingStart(_ conn: OpaquePointer?, _ io: UnsafeMutablePointer<pool_io_t>?) -> Int32 {
    ioStatus(io) { () throws(PoolError) in
        try withConnection(conn) { connection throws(PoolError) in try connection.startPing() }
    }
}

@_cdecl("pool_continue")
public func exportContinue(_ conn: OpaquePointer?, _ ready: UInt32, _ io: UnsafeMutablePointer<pool_io_t>?,
                           _ out: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    out?.pointee = nil
    var resetIsOver = false
    let code = ioStatus(io, result: out) { () throws(PoolError) in
        try withConnection(conn) { connection throws(PoolError) in
            let step = try connection.continueOperation(ready: ready)
            resetIsOver = connection.finishedReset != nil
            return step
        }
    }
    return resetIsOver ? exportReturn(conn) : code
}

@_cdecl("pool_return_start")
public func exportReturnStart(_ conn: OpaquePointer?, _ io: UnsafeMutablePointer<pool_io_t>?) -> Int32 {
    var resetIsOver = false
    let code = ioStatus(io) { () throws(PoolError) in
        let connBits = bits(conn)
        let found = handles.withLock { table -> (PoolBox, Slot)? in
            guard let slot = table.object(connBits, kind: .connection),
                  let box = table.object(table.context(of: connBits), kind: .pool) else { return nil }
            return (unsafeDowncast(box.takeUnretainedValue(), to: PoolBox.self),
                    unsafeDowncast(slot.takeUnretainedValue(), to: Slot.self))
        }
        guard let (box, slot) = found else { throw wrongHandle(connBits, .connection) }
        slot.connection.settle()
        guard let step = try box.startReset(slot) else {
            throw PoolError(.wrongHandle, "the connection does not belong to pool '\(box.pool.name)'")
        }
        resetIsOver = slot.connection.finishedReset != nil
        return step
    }
    // The reset is over: the release itself never waits.
    return resetIsOver ? exportReturn(conn) : code
}

/// A non-blocking call's status: POOL_WAIT with `io` filled, or POOL_OK
/// with the stored result (if any) registered and written to `result`.
private func ioStatus(_ io: UnsafeMutablePointer<pool_io_t>?, result: UnsafeMutablePointer<OpaquePointer?>? = nil,
                      _ body: () throws(PoolError) -> IOStep) -> Int32 {
    var waiting = false
    let code = status { () throws(PoolError) in
        let io = try nonNull(io, "io")
        switch try body() {
        case .wait(let wait):
            io.pointee = pool_io_t(fd: wait.socket, events: wait.events, timeout_ms: wait.timeoutMilliseconds)
            waiting = true
        case .done(let stored):
            io.pointee = noWait
            guard let stored else { return }
            guard let result else {
                stored.free()
                throw PoolError(.badArgument, "out_result is NULL but the store finished with a result (freed)")
            }
            let handle = register(stored, .result)
            stored.embedderTag = UInt(bitPattern: handle)
            result.pointee = handle
        }
    }
    return code == 0 && waiting ? 102 : code
}

@_cdecl("pool_conn_info")
public func exportConnInfo(_ conn: OpaquePointer?, _ out: UnsafeMutableRawPointer?, _ size: UInt) -> Int32 {
    status { () throws(PoolError) in
        let connection = try connection(conn)
        let info = pool_conn_info_t(
            struct_size: 0, affected_rows: connection.affectedRows, insert_id: connection.insertID,
            thread_id: connection.threadID, server_version: connection.serverVersion,
            warning_count: connection.warningCount, server_status: connection.serverStatus,
            field_count: connection.fieldCount, protocol_version: connection.protocolVersion)
        try copyOut(info, to: out, size: size)
    }
}

@_cdecl("pool_commit")
public func exportCommit(_ conn: OpaquePointer?) -> Int32 {
    status { () throws(PoolError) in try connection(conn).commit() }
}

@_cdecl("pool_rollback")
public func exportRollback(_ conn: OpaquePointer?) -> Int32 {
    status { () throws(PoolError) in try connection(conn).rollback() }
}

@_cdecl("pool_autocommit")
public func exportAutocommit(_ conn: OpaquePointer?, _ on: Int32) -> Int32 {
    status { () throws(PoolError) in try connection(conn).setAutocommit(on != 0) }
}

@_cdecl("pool_ping")
public func exportPing(_ conn: OpaquePointer?) -> Int32 {
    status { () throws(PoolError) in try connection(conn).ping() }
}

@_cdecl("pool_select_db")
public func exportSelectDB(_ conn: OpaquePointer?, _ database: UnsafePointer<CChar>?) -> Int32 {
    status { () throws(PoolError) in
        let connection = try connection(conn)
        guard let database else { throw PoolError(.badArgument, "database is NULL") }
        try connection.selectDatabase(database)
    }
}

@_cdecl("pool_set_charset")
public func exportSetCharset(_ conn: OpaquePointer?, _ charset: UnsafePointer<CChar>?) -> Int32 {
    status { () throws(PoolError) in
        let connection = try connection(conn)
        guard let charset else { throw PoolError(.badArgument, "charset is NULL") }
        try connection.setCharset(charset)
    }
}

@_cdecl("pool_escape")
public func exportEscape(_ conn: OpaquePointer?, _ from: UnsafePointer<CChar>?, _ fromLength: UInt,
                         _ to: UnsafeMutablePointer<CChar>?, _ toSize: UInt, _ outLength: UnsafeMutablePointer<Int>?) -> Int32 {
    status { () throws(PoolError) in
        let connection = try connection(conn)
        guard from != nil || fromLength == 0 else { throw PoolError(.badArgument, "from is NULL") }
        guard fromLength <= maxStatementBytes else {
            throw PoolError(.badArgument, "from_len \(fromLength) is larger than any statement a server accepts (1 GiB)")
        }
        let to = try nonNull(to, "to")
        guard toSize > fromLength * 2 else {
            throw PoolError(.badArgument, "to_size must be at least 2 * from_len + 1 = \(fromLength * 2 + 1), got \(toSize)")
        }
        let written = try connection.escape(from ?? staticCString(""), count: Int(fromLength), into: to)
        outLength?.pointee = written
    }
}

/// String getters return NULL for a bad handle (and set the last error).
private func connectionString(_ conn: OpaquePointer?, _ read: (MariaDBConnection) -> UnsafePointer<CChar>) -> UnsafePointer<CChar>? {
    do {
        return read(try connection(conn))
    } catch {
        _ = record(error)
        return nil
    }
}

@_cdecl("pool_conn_charset")
public func exportConnCharset(_ conn: OpaquePointer?) -> UnsafePointer<CChar>? {
    connectionString(conn) { $0.charsetName }
}

@_cdecl("pool_conn_server_info")
public func exportConnServerInfo(_ conn: OpaquePointer?) -> UnsafePointer<CChar>? {
    connectionString(conn) { $0.serverInfo }
}

@_cdecl("pool_conn_host_info")
public func exportConnHostInfo(_ conn: OpaquePointer?) -> UnsafePointer<CChar>? {
    connectionString(conn) { $0.hostInfo }
}

@_cdecl("pool_conn_errno")
public func exportConnErrno(_ conn: OpaquePointer?) -> UInt32 {
    (try? connection(conn))?.errorNumber ?? 0
}

@_cdecl("pool_conn_error")
public func exportConnError(_ conn: OpaquePointer?) -> UnsafePointer<CChar> {
    (try? connection(conn))?.errorMessage ?? staticCString("wrong handle: not a borrowed connection")
}

@_cdecl("pool_conn_sqlstate")
public func exportConnSqlstate(_ conn: OpaquePointer?) -> UnsafePointer<CChar> {
    (try? connection(conn))?.sqlstate ?? staticCString("HY000")
}

// MARK: - Results

private func result(_ handle: OpaquePointer?) throws(PoolError) -> MariaDBResult {
    try lookup(handle, .result, as: MariaDBResult.self)
}

@_cdecl("pool_result_field_count")
public func exportResultFieldCount(_ res: OpaquePointer?) -> UInt32 {
    (try? result(res))?.fieldCount ?? 0
}

@_cdecl("pool_result_row_count")
public func exportResultRowCount(_ res: OpaquePointer?) -> UInt64 {
    (try? result(res))?.rowCount ?? 0
}

@_cdecl("pool_result_field")
public func exportResultField(_ res: OpaquePointer?, _ index: UInt32, _ out: UnsafeMutableRawPointer?, _ size: UInt) -> Int32 {
    status { () throws(PoolError) in
        let result = try result(res)
        guard let field = result.field(index)?.pointee else {
            throw PoolError(.badArgument, "column index \(index) is out of range (the result has \(result.fieldCount) columns)")
        }
        let metadata = pool_field_t(
            struct_size: 0, name: field.name, org_name: field.org_name, table: field.table,
            org_table: field.org_table, db: field.db, name_length: UInt64(field.name_length),
            org_name_length: UInt64(field.org_name_length), table_length: UInt64(field.table_length),
            org_table_length: UInt64(field.org_table_length), db_length: UInt64(field.db_length),
            length: UInt64(field.length), max_length: UInt64(field.max_length), type: field.type.rawValue,
            flags: field.flags, charsetnr: field.charsetnr, decimals: field.decimals)
        try copyOut(metadata, to: out, size: size)
    }
}

@_cdecl("pool_result_fetch")
public func exportResultFetch(_ res: OpaquePointer?, _ values: UnsafeMutablePointer<UnsafeRawPointer?>?,
                              _ lengths: UnsafeMutablePointer<UnsafeRawPointer?>?) -> Int32 {
    var gotRow = false
    let code = status { () throws(PoolError) in
        let values = try nonNull(values, "values")
        let lengths = try nonNull(lengths, "lengths")
        guard let row = try withResult(res, { result throws(PoolError) in try result.fetch() }) else { return }
        values.pointee = UnsafeRawPointer(row.values)
        lengths.pointee = UnsafeRawPointer(row.lengths)
        gotRow = true
    }
    return code == 0 ? (gotRow ? 100 : 101) : code
}

@_cdecl("pool_result_fetch_pickle")
public func exportResultFetchPickle(_ res: OpaquePointer?, _ maxRows: UInt64, _ flags: UInt32,
                                    _ outBytes: UnsafeMutablePointer<UnsafePointer<CChar>?>?,
                                    _ outLength: UnsafeMutablePointer<Int>?,
                                    _ outRows: UnsafeMutablePointer<UInt64>?) -> Int32 {
    status { () throws(PoolError) in
        let outRows = try nonNull(outRows, "out_rows")
        try writePickle(to: outBytes, outLength) { () throws(PoolError) in
            let (bytes, rows) = try withResult(res) { result throws(PoolError) in
                try result.pickleRows(maxRows: maxRows, options: try pickleOptions(flags))
            }
            outRows.pointee = rows
            return bytes
        }
    }
}

@_cdecl("pool_result_fetch_pickle_start")
public func exportResultFetchPickleStart(_ res: OpaquePointer?, _ maxRows: UInt64, _ flags: UInt32,
                                         _ outBytes: UnsafeMutablePointer<UnsafePointer<CChar>?>?,
                                         _ outLength: UnsafeMutablePointer<Int>?,
                                         _ outRows: UnsafeMutablePointer<UInt64>?,
                                         _ io: UnsafeMutablePointer<pool_io_t>?) -> Int32 {
    rowsStatus(outBytes, outLength, outRows, io) { () throws(PoolError) in
        let options = try pickleOptions(flags)
        return try withResult(res) { result throws(PoolError) in
            try result.startPickleRows(maxRows: maxRows, options: options)
        }
    }
}

@_cdecl("pool_result_fetch_pickle_continue")
public func exportResultFetchPickleContinue(_ res: OpaquePointer?, _ ready: UInt32,
                                            _ outBytes: UnsafeMutablePointer<UnsafePointer<CChar>?>?,
                                            _ outLength: UnsafeMutablePointer<Int>?,
                                            _ outRows: UnsafeMutablePointer<UInt64>?,
                                            _ io: UnsafeMutablePointer<pool_io_t>?) -> Int32 {
    rowsStatus(outBytes, outLength, outRows, io) { () throws(PoolError) in
        try withResult(res) { result throws(PoolError) in try result.continuePickleRows(ready: ready) }
    }
}

/// A non-blocking row fetch's status: POOL_WAIT with `io` filled, or POOL_OK
/// with the batch written out.
private func rowsStatus(_ outBytes: UnsafeMutablePointer<UnsafePointer<CChar>?>?,
                        _ outLength: UnsafeMutablePointer<Int>?, _ outRows: UnsafeMutablePointer<UInt64>?,
                        _ io: UnsafeMutablePointer<pool_io_t>?, _ body: () throws(PoolError) -> RowsStep) -> Int32 {
    var waiting = false
    let code = status { () throws(PoolError) in
        let io = try nonNull(io, "io")
        let outRows = try nonNull(outRows, "out_rows")
        try writePickle(to: outBytes, outLength) { () throws(PoolError) in
            switch try body() {
            case .wait(let wait):
                io.pointee = pool_io_t(fd: wait.socket, events: wait.events, timeout_ms: wait.timeoutMilliseconds)
                waiting = true
                outRows.pointee = 0
                return emptyBytes
            case .done(let bytes, let rows):
                io.pointee = noWait
                outRows.pointee = rows
                return bytes
            }
        }
    }
    return code == 0 && waiting ? 102 : code
}

/// What the out_bytes of a call that is still waiting point to.
nonisolated(unsafe) private let emptyBytes = UnsafeBufferPointer<UInt8>(
    start: UnsafeMutablePointer<UInt8>.allocate(capacity: 1), count: 0)

@_cdecl("pool_result_fields_pickle")
public func exportResultFieldsPickle(_ res: OpaquePointer?, _ flags: UInt32,
                                     _ outBytes: UnsafeMutablePointer<UnsafePointer<CChar>?>?,
                                     _ outLength: UnsafeMutablePointer<Int>?) -> Int32 {
    status { () throws(PoolError) in
        try writePickle(to: outBytes, outLength) { () throws(PoolError) in
            try result(res).pickleFields(options: try pickleOptions(flags))
        }
    }
}

@_cdecl("pool_query_pickle")
public func exportQueryPickle(_ conn: OpaquePointer?, _ sql: UnsafePointer<CChar>?, _ length: UInt, _ flags: UInt32,
                              _ outBytes: UnsafeMutablePointer<UnsafePointer<CChar>?>?,
                              _ outLength: UnsafeMutablePointer<Int>?) -> Int32 {
    status { () throws(PoolError) in
        try writePickle(to: outBytes, outLength) { () throws(PoolError) in
            let options = try pickleOptions(flags)
            return try withConnection(conn) { connection throws(PoolError) in
                try connection.runForPython(try statement(sql, length), options: options)
            }
        }
    }
}

@_cdecl("pool_query_pickle_more")
public func exportQueryPickleMore(_ conn: OpaquePointer?, _ flags: UInt32,
                                  _ outBytes: UnsafeMutablePointer<UnsafePointer<CChar>?>?,
                                  _ outLength: UnsafeMutablePointer<Int>?) -> Int32 {
    status { () throws(PoolError) in
        try writePickle(to: outBytes, outLength) { () throws(PoolError) in
            try withConnection(conn) { connection throws(PoolError) in
                try connection.continueForPython(options: try pickleOptions(flags))
            }
        }
    }
}

@_cdecl("pool_format_insert_pickle")
public func exportFormatInsertPickle(_ conn: OpaquePointer?, _ request: UnsafeRawPointer?, _ requestLength: UInt,
                                     _ maxStatementLength: UInt,
                                     _ outBytes: UnsafeMutablePointer<UnsafePointer<CChar>?>?,
                                     _ outLength: UnsafeMutablePointer<Int>?) -> Int32 {
    status { () throws(PoolError) in
        try writePickle(to: outBytes, outLength) { () throws(PoolError) in
            guard let request else { throw PoolError(.badArgument, "request is NULL") }
            guard maxStatementLength > 0 && maxStatementLength <= UInt(Int.max) else {
                throw PoolError(.badArgument, "max_statement_length must be between 1 and \(Int.max), got \(maxStatementLength)")
            }
            return try connection(conn).formatInsertForPython(
                UnsafeRawBufferPointer(start: request, count: Int(clamping: requestLength)),
                maxStatementLength: Int(maxStatementLength))
        }
    }
}

/// The pickle entry points' out-parameters: checked first, then filled
/// with what `produce` encoded.
private func writePickle(to outBytes: UnsafeMutablePointer<UnsafePointer<CChar>?>?,
                         _ outLength: UnsafeMutablePointer<Int>?,
                         _ produce: () throws(PoolError) -> UnsafeBufferPointer<UInt8>) throws(PoolError) {
    let outBytes = try nonNull(outBytes, "out_bytes")
    let outLength = try nonNull(outLength, "out_length")
    let bytes = try produce()
    outBytes.pointee = UnsafeRawPointer(bytes.baseAddress!).assumingMemoryBound(to: CChar.self)
    outLength.pointee = bytes.count
}

private func pickleOptions(_ flags: UInt32) throws(PoolError) -> MariaDBResult.PickleOptions {
    guard flags & ~UInt32(3) == 0 else {
        throw PoolError(.badArgument, "unknown flag bits 0x\(String(flags & ~UInt32(3), radix: 16)) in flags")
    }
    return MariaDBResult.PickleOptions(rawValue: flags)
}

@_cdecl("pool_result_outcome_pickle")
public func exportResultOutcomePickle(_ res: OpaquePointer?, _ flags: UInt32,
                                      _ outBytes: UnsafeMutablePointer<UnsafePointer<CChar>?>?,
                                      _ outLength: UnsafeMutablePointer<Int>?) -> Int32 {
    status { () throws(PoolError) in
        try writePickle(to: outBytes, outLength) { () throws(PoolError) in
            let options = try pickleOptions(flags)
            // The handle goes first: the result is freed however the encoding ends.
            guard let object = handles.withLock({ $0.remove(bits(res), kind: .result) }) else {
                throw wrongHandle(bits(res), .result)
            }
            return try unsafeDowncast(object, to: MariaDBResult.self).outcomeForPython(options: options)
        }
    }
}

@_cdecl("pool_result_seek")
public func exportResultSeek(_ res: OpaquePointer?, _ row: UInt64) -> Int32 {
    status { () throws(PoolError) in try result(res).seek(row) }
}

@_cdecl("pool_result_free")
public func exportResultFree(_ res: OpaquePointer?) {
    if let object = handles.withLock({ $0.remove(bits(res), kind: .result) }) {
        unsafeDowncast(object, to: MariaDBResult.self).free()
    }
}

// MARK: - Python objects

/// The CPython API a binding handed over (pool_python_init); set once.
private let pythonRuntime = Mutex<PythonRuntime?>(nil)

@_cdecl("pool_python_init")
public func exportPythonInit(_ api: UnsafePointer<pool_python_api_t>?) -> Int32 {
    status { () throws(PoolError) in
        guard let api = api?.pointee else { throw PoolError(.badArgument, "api is NULL") }
        guard api.struct_size == MemoryLayout<pool_python_api_t>.size else {
            throw PoolError(.badArgument, "struct_size \(api.struct_size) is not sizeof(pool_python_api_t), "
                                + "\(MemoryLayout<pool_python_api_t>.size)")
        }
        guard let tupleNew = api.tuple_new, let tupleSetItem = api.tuple_set_item, let listNew = api.list_new,
              let listSetItem = api.list_set_item, let longFromLongLong = api.long_from_long_long,
              let longFromUnsignedLongLong = api.long_from_unsigned_long_long,
              let longFromString = api.long_from_string, let floatFromDouble = api.float_from_double,
              let unicodeDecodeUTF8 = api.unicode_decode_utf8,
              let bytesFromStringAndSize = api.bytes_from_string_and_size, let objectCall = api.object_call,
              let gilEnsure = api.gil_state_ensure, let gilRelease = api.gil_state_release,
              let incRef = api.inc_ref, let decRef = api.dec_ref, let errClear = api.err_clear, let none = api.none,
              let decimal = api.decimal,
              let datetime = api.datetime, let date = api.date, let timedelta = api.timedelta
        else { throw PoolError(.badArgument, "a member of the pool_python_api_t is NULL") }
        let runtime = PythonRuntime(
            tupleNew: tupleNew, tupleSetItem: tupleSetItem, listNew: listNew, listSetItem: listSetItem,
            longFromLongLong: longFromLongLong, longFromUnsignedLongLong: longFromUnsignedLongLong,
            longFromString: longFromString, floatFromDouble: floatFromDouble, unicodeDecodeUTF8: unicodeDecodeUTF8,
            bytesFromStringAndSize: bytesFromStringAndSize, objectCall: objectCall, gilEnsure: gilEnsure,
            gilRelease: gilRelease, incRef: incRef, decRef: decRef, errClear: errClear, none: none, decimal: decimal,
            datetime: datetime, date: date, timedelta: timedelta)
        try pythonRuntime.withLock { current throws(PoolError) in
            guard current == nil else { throw PoolError(.misuse, "pool_python_init was already called") }
            current = runtime
        }
    }
}

/// The frame of the calls that return Python objects: NULL before
/// pool_python_init (there is no None to return: the one NULL, as ctypes
/// bindings call pool_python_init first), else what `build` made, or a new
/// reference to None with the failure recorded.
private func pythonObjects(_ function: StaticString,
                           _ build: (PythonRuntime) throws(PoolError) -> UnsafeMutableRawPointer)
    -> UnsafeMutableRawPointer?
{
    guard let python = pythonRuntime.withLock({ $0 }) else {
        _ = record(PoolError(.misuse, "\(function) needs pool_python_init first"))
        return nil
    }
    var outcome: UnsafeMutableRawPointer?
    _ = status { () throws(PoolError) in outcome = try build(python) }
    return outcome ?? python.newNone()
}

@_cdecl("pool_query_objects")
public func exportQueryObjects(_ conn: OpaquePointer?, _ sql: UnsafePointer<CChar>?, _ length: UInt,
                               _ flags: UInt32) -> UnsafeMutableRawPointer? {
    pythonObjects("pool_query_objects") { python throws(PoolError) in
        let options = try pickleOptions(flags)
        let sql = try statement(sql, length)
        return try withConnection(conn) { connection in
            connection.runForPythonObjects(sql, options: options, python: python) { _ = record($0) }
        }
    }
}

@_cdecl("pool_stmt_query_objects")
public func exportStmtQueryObjects(_ conn: OpaquePointer?, _ sql: UnsafePointer<CChar>?, _ length: UInt, _ count: UInt,
                                   _ params: UnsafePointer<pool_param_t>?, _ flags: UInt32) -> UnsafeMutableRawPointer? {
    pythonObjects("pool_stmt_query_objects") { python throws(PoolError) in
        let options = try pickleOptions(flags)
        let sql = try statement(sql, length)
        let parameters = try sqlParameters(params, count)
        return try withConnection(conn) { connection in
            connection.executeForPythonObjects(sql, parameters: parameters, options: options, python: python) {
                _ = record($0)
            }
        }
    }
}

@_cdecl("pool_query_objects_more")
public func exportQueryObjectsMore(_ conn: OpaquePointer?, _ flags: UInt32) -> UnsafeMutableRawPointer? {
    pythonObjects("pool_query_objects_more") { python throws(PoolError) in
        let options = try pickleOptions(flags)
        return try withConnection(conn) { connection in
            connection.continueForPythonObjects(options: options, python: python) { _ = record($0) }
        }
    }
}

@_cdecl("pool_result_outcome_objects")
public func exportResultOutcomeObjects(_ res: OpaquePointer?, _ flags: UInt32) -> UnsafeMutableRawPointer? {
    pythonObjects("pool_result_outcome_objects") { python throws(PoolError) in
        let options = try pickleOptions(flags)
        // The handle goes first: the result is freed however the building ends.
        guard let object = handles.withLock({ $0.remove(bits(res), kind: .result) }) else {
            throw wrongHandle(bits(res), .result)
        }
        return unsafeDowncast(object, to: MariaDBResult.self).outcomeObjects(options: options, python: python) {
            _ = record($0)
        }
    }
}
