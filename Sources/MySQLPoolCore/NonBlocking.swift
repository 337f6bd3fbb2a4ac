import CMariaDB
#if canImport(Glibc)
import Glibc
#endif

/// What a non-blocking operation waits for before it can go on: the
/// connection's socket readable or writable, or a timeout. The caller's
/// event loop waits, then calls `continueOperation` with what happened.
public struct IOWait: Sendable, Equatable {
    public static let read: UInt32 = 1
    public static let write: UInt32 = 2
    public static let timeout: UInt32 = 8

    public var socket: Int32
    /// IOWait.read / .write / .timeout bits (libmariadb's MYSQL_WAIT_*).
    public var events: UInt32
    /// How long to wait when `events` has .timeout; -1 otherwise.
    public var timeoutMilliseconds: Int64

    /// What a loop says happened must be made of these bits only.
    static func check(ready: UInt32) throws(PoolError) {
        guard ready & ~(read | write | timeout) == 0 else {
            throw PoolError(.badArgument, "unknown bits 0x\(String(ready, radix: 16)) in ready")
        }
    }
}

/// The outcome of a start or continue call.
public enum IOStep {
    /// Finished; for a store, the result (nil when the statement has none).
    case done(MariaDBResult?)
    case wait(IOWait)
}

/// The non-blocking operation a connection is in the middle of.
enum PendingIO {
    case query, storeResult, ping
    /// A step of the reset of a connection being given back.
    case reset(ResetStep)
    /// A batch of rows of this streaming result (see startPickleRows).
    case fetchRows(MariaDBResult)
}

/// The outcome of a non-blocking row fetch.
public enum RowsStep {
    /// The batch: a pickle of a list of rows, valid until the result's next
    /// fetch or free, and how many rows it holds.
    case done(UnsafeBufferPointer<UInt8>, rows: UInt64)
    case wait(IOWait)
}

// MARK: - Non-blocking calls (libmariadb's _start/_cont API)

extension MariaDBConnection {
    /// libmariadb runs a non-blocking call on a stack of its own, set up on
    /// first use (MYSQL_OPT_NONBLOCK), so connections that never use it pay
    /// nothing.
    func enableNonBlocking() throws(PoolError) {
        guard !nonBlockingEnabled else { return }
        guard mysql_options(mysql, MYSQL_OPT_NONBLOCK, nil) == 0 else {
            throw PoolError(.noMemory, "cannot set up the non-blocking context of the connection")
        }
        nonBlockingEnabled = true
    }

    /// Starts sending a statement; finish it with `continueOperation`, then
    /// read its result (with `startStoreResult`, or useResult/storeResult).
    public func startQuery(_ sql: UnsafeRawBufferPointer) throws(PoolError) -> IOStep {
        try ensureIdleWire()
        try enableNonBlocking()
        let emptyStatement: StaticString = ""
        let base = sql.baseAddress ?? UnsafeRawPointer(emptyStatement.utf8Start)
        var ret: Int32 = 0
        let status = mysql_real_query_start(&ret, mysql, base.assumingMemoryBound(to: CChar.self), UInt(sql.count))
        return try step(.query, status: status, ret: ret)
    }

    /// Starts reading the whole pending result set into memory.
    public func startStoreResult() throws(PoolError) -> IOStep {
        if pendingIO != nil { try ensureIdleWire() }
        guard resultPending else {
            if pendingStatement != nil {
                throw PoolError(.misuse, "a prepared statement's result is read with pool_store_result")
            }
            return .done(nil)
        }
        try enableNonBlocking()
        resultPending = false
        var raw: UnsafeMutablePointer<MYSQL_RES>?
        let status = mysql_store_result_start(&raw, mysql)
        return try step(.storeResult, status: status, result: raw)
    }

    /// Starts a COM_PING.
    public func startPing() throws(PoolError) -> IOStep {
        try ensureIdleWire()
        try enableNonBlocking()
        var ret: Int32 = 0
        let status = mysql_ping_start(&ret, mysql)
        return try step(.ping, status: status, ret: ret)
    }

    /// Goes on with the operation in progress once `ready` (IOWait bits:
    /// what the socket became, or .timeout) happened.
    public func continueOperation(ready: UInt32) throws(PoolError) -> IOStep {
        guard let operation = pendingIO else {
            throw PoolError(.misuse, "no non-blocking operation is in progress on this connection")
        }
        try IOWait.check(ready: ready)
        var ret: Int32 = 0
        var raw: UnsafeMutablePointer<MYSQL_RES>?
        let status: Int32
        switch operation {
        case .reset(let step): return continueReset(step, ready: ready)
        case .fetchRows:
            throw PoolError(.misuse, "a row fetch is in progress: go on with pool_result_fetch_pickle_continue")
        case .query: status = mysql_real_query_cont(&ret, mysql, Int32(ready))
        case .storeResult: status = mysql_store_result_cont(&raw, mysql, Int32(ready))
        case .ping: status = mysql_ping_cont(&ret, mysql, Int32(ready))
        }
        return try step(operation, status: status, ret: ret, result: raw)
    }

    /// Ends an operation the borrower left in progress (given back or
    /// closed mid-call): libmariadb must not be left inside its
    /// non-blocking context, or its next write (the COM_QUIT of close)
    /// would try to suspend a call that is not running. The socket is shut
    /// down first, so driving the operation to its end fails at once
    /// instead of waiting for the server; the connection is broken.
    func abortPendingIO() {
        guard pendingIO != nil else { return }
        isBroken = true
        let socket = mysql_get_socket(mysql)
        if socket >= 0 { _ = Glibc.shutdown(Int32(socket), Int32(SHUT_RDWR)) }
        var rounds = 0
        while let operation = pendingIO, rounds < 100 {
            rounds += 1
            if case .fetchRows(let result) = operation {
                _ = try? result.continuePickleRows(ready: IOWait.read | IOWait.write)
            } else {
                _ = try? continueOperation(ready: IOWait.read | IOWait.write)
            }
        }
    }

    /// What libmariadb's wait bits (a _start or _cont call's status) ask for.
    func waitFor(_ status: Int32) -> IOWait {
        let wantsTimeout = UInt32(status) & IOWait.timeout != 0
        return IOWait(socket: Int32(mysql_get_socket(mysql)), events: UInt32(status),
                      timeoutMilliseconds: wantsTimeout ? Int64(mysql_get_timeout_value_ms(mysql)) : -1)
    }

    /// What a _start or _cont call said: wait, or done (ret and result are
    /// then the call's outcome).
    private func step(_ operation: PendingIO, status: Int32, ret: Int32 = 0,
                      result raw: UnsafeMutablePointer<MYSQL_RES>? = nil) throws(PoolError) -> IOStep {
        if status != 0 {
            pendingIO = operation
            return .wait(waitFor(status))
        }
        pendingIO = nil
        switch operation {
        case .reset, .fetchRows: preconditionFailure("driven by driveReset / gatherRows")
        case .query:
            guard ret == 0 else { throw currentError() }
            noteAnswer()
            resultPending = mysql_field_count(mysql) > 0
            return .done(nil)
        case .ping:
            guard ret == 0 else { throw currentError() }
            noteAnswer()
            return .done(nil)
        case .storeResult:
            guard let raw else { throw currentError() }
            noteAnswer()
            let result = MariaDBResult(raw, connection: self, streaming: false)
            liveResults.append(result)
            return .done(result)
        }
    }
}

// MARK: - Rows of a streaming result, without blocking

extension MariaDBResult {
    /// pickleRows without blocking, for a result from useResult: exactly
    /// `maxRows` rows (fewer only at the end of the result; 0: all) as one
    /// pickle, or the I/O to wait for before `continuePickleRows`. A stored
    /// result's rows are in memory: they come at once.
    public func startPickleRows(maxRows: UInt64, options: PickleOptions) throws(PoolError) -> RowsStep {
        guard !isFreed else { throw PoolError(.wrongHandle, "the result was already freed") }
        guard isStreaming, raw != nil else {
            if isStreaming {
                throw PoolError(.misuse, "a prepared statement's rows are fetched with pool_result_fetch_pickle")
            }
            let (bytes, rows) = try pickleRows(maxRows: maxRows, options: options)
            return .done(bytes, rows: rows)
        }
        if connection.pendingIO != nil { try connection.ensureIdleWire() }
        if connection.isInherited {
            throw PoolError(.misuse, "this result streams from a connection the parent process opened before fork()")
        }
        try connection.enableNonBlocking()
        preparePickleKinds(options)
        pickle.begin()
        pickle.beginList()
        batchRows = 0
        batchLimit = maxRows
        return try gatherRows(status: 0, row: nil)
    }

    /// Goes on with the batch once `ready` (IOWait bits) happened.
    public func continuePickleRows(ready: UInt32) throws(PoolError) -> RowsStep {
        guard case .fetchRows(let fetching)? = connection.pendingIO, fetching === self else {
            throw PoolError(.misuse, "no row fetch of this result is in progress")
        }
        try IOWait.check(ready: ready)
        var row: MYSQL_ROW?
        let status = mysql_fetch_row_cont(&row, raw, Int32(ready))
        return try gatherRows(status: status, row: row)
    }

    /// Takes the row a fetch finished with (status 0), then fetches until
    /// the batch is full, the result ends, or a fetch has to wait.
    private func gatherRows(status: Int32, row: MYSQL_ROW?) throws(PoolError) -> RowsStep {
        var status = status
        var row = row
        var fetching = connection.pendingIO != nil
        while true {
            if status != 0 {
                connection.pendingIO = .fetchRows(self)
                return .wait(connection.waitFor(status))
            }
            if fetching {
                connection.pendingIO = nil
                guard let values = row else {
                    isExhausted = true
                    if connection.errorNumber != 0 { throw connection.currentError() }
                    break
                }
                pickle.appendRow(values, mysql_fetch_lengths(raw), kinds: pickleKinds)
                fetched += 1
                batchRows += 1
            }
            guard !isExhausted, batchLimit == 0 || batchRows < batchLimit else { break }
            status = mysql_fetch_row_start(&row, raw)
            fetching = true
        }
        pickle.endList()
        pickle.finish()
        // Untouched until the next fetch or free (as pickleRows).
        return .done(pickle.bytes.withUnsafeBufferPointer { $0 }, rows: batchRows)
    }
}
