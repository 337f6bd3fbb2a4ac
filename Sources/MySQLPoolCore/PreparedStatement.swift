import CMariaDB
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// ER_MAX_PREPARED_STMT_COUNT_REACHED: the server's max_prepared_stmt_count.
private let tooManyStatements: UInt32 = 1461
/// ER_UNKNOWN_STMT_HANDLER: the server no longer knows the statement's id.
private let unknownStatement: UInt32 = 1243

/// The statement cache's settings and a pool's statement counters, shared
/// by every connection of the pool (and both halves of a replication pool).
public final class StatementCounters: Sendable {
    /// Cached statements per connection (0: none are kept).
    public let capacity: Int
    /// Statements longer than this many bytes are not cached.
    public let sqlLimit: Int
    let prepares = Atomic<UInt64>(0)
    let hits = Atomic<UInt64>(0)
    let evictions = Atomic<UInt64>(0)
    /// Bumped when a prepare found max_prepared_stmt_count reached with
    /// nothing of its own connection's to close: every connection then
    /// drops its idle cached statements the next time it is used.
    let pressure = Atomic<UInt64>(0)

    public init(capacity: Int = 32, sqlLimit: Int = 2048) {
        self.capacity = capacity
        self.sqlLimit = sqlLimit
    }

    /// (prepares, cache hits, evictions) since the pool was created.
    public var snapshot: (prepares: UInt64, hits: UInt64, evictions: UInt64) {
        (prepares.load(ordering: .relaxed), hits.load(ordering: .relaxed), evictions.load(ordering: .relaxed))
    }
}

/// A server-side prepared statement of one connection. Lent to one borrower
/// at a time; cached ones stay prepared between borrows of the connection.
public final class PreparedStatement: @unchecked Sendable {
    let stmt: UnsafeMutablePointer<MYSQL_STMT>
    let sql: [UInt8]
    public let parameterCount: Int
    /// The connection it was prepared on (identity only: no reference).
    let owner: ObjectIdentifier
    /// In the connection's cache: closing the handle keeps it prepared.
    var isCached = false
    /// A borrower holds it (a C handle or a Python cursor).
    var isLent = true
    var lastUsed: UInt64 = 0
    /// Its key in the connection's StatementCache, once cached.
    var cacheKey = 0
    /// An execute or its result failed: libmariadb's state of the statement
    /// may expect rows the server will not send (its next execute then
    /// waits forever), so it is closed when given back, never kept.
    var failed = false
    /// The result being read from it: its rows live in the statement.
    public internal(set) var liveResult: MariaDBResult?
    /// The buffers its rows are fetched into, kept from execute to execute.
    var rows: StatementRows?
    /// A tag for the embedding layer (the C API keeps its handle here).
    public var embedderTag: UInt = 0

    // Parameter storage, made once: an execute allocates nothing.
    private let binds: UnsafeMutablePointer<MYSQL_BIND>
    private let numbers: UnsafeMutablePointer<Int64>
    private let times: UnsafeMutablePointer<MYSQL_TIME>
    private let lengths: UnsafeMutablePointer<UInt>

    init(_ stmt: UnsafeMutablePointer<MYSQL_STMT>, sql: [UInt8], owner: ObjectIdentifier) {
        self.stmt = stmt
        self.sql = sql
        self.owner = owner
        parameterCount = Int(mysql_stmt_param_count(stmt))
        let count = max(parameterCount, 1)
        binds = .allocate(capacity: count)
        binds.initialize(repeating: MYSQL_BIND(), count: count)
        numbers = .allocate(capacity: count)
        numbers.initialize(repeating: 0, count: count)
        times = .allocate(capacity: count)
        times.initialize(repeating: MYSQL_TIME(), count: count)
        lengths = .allocate(capacity: count)
        lengths.initialize(repeating: 0, count: count)
    }

    deinit {
        binds.deallocate()
        numbers.deallocate()
        times.deallocate()
        lengths.deallocate()
    }

    /// Points the binds at `parameters` (read during the execute only).
    func bind(_ parameters: [SQLParameter]) throws(PoolError) {
        guard parameters.count == parameterCount else {
            throw PoolError(.badArgument, "the statement has \(parameterCount) placeholder(s) but "
                                + "\(parameters.count) parameter(s) were given")
        }
        guard parameterCount > 0 else { return }
        for (index, parameter) in parameters.enumerated() {
            do {
                try ParameterBinder.validate(parameter)
            } catch {
                throw PoolError(error.kind, "parameter \(index + 1): \(error.message)")
            }
            bind(parameter, at: index)
        }
        guard mysql_stmt_bind_param(stmt, binds) == 0 else {
            throw PoolError(.internal, "mysql_stmt_bind_param: \(String(cString: mysql_stmt_error(stmt)))")
        }
    }

    private func bind(_ parameter: SQLParameter, at index: Int) {
        var bind = MYSQL_BIND()
        func number(_ value: Int64, _ type: enum_field_types, unsigned: Bool) {
            numbers[index] = value
            bind.buffer = UnsafeMutableRawPointer(numbers + index)
            bind.buffer_type = type
            bind.is_unsigned = unsigned ? 1 : 0
        }
        func bytes(_ value: UnsafeRawBufferPointer, _ type: enum_field_types) {
            lengths[index] = UInt(value.count)
            // libmariadb wants a buffer even for no bytes.
            bind.buffer = UnsafeMutableRawPointer(mutating: value.baseAddress ?? UnsafeRawPointer(lengths + index))
            bind.buffer_length = UInt(value.count)
            bind.length = lengths + index
            bind.buffer_type = type
        }
        func time(_ value: SQLTime, _ type: enum_field_types, _ kind: enum_mysql_timestamp_type) {
            times[index] = MYSQL_TIME(year: value.year, month: value.month, day: value.day, hour: value.hour,
                                      minute: value.minute, second: value.second,
                                      second_part: UInt(value.microsecond), neg: value.negative ? 1 : 0,
                                      time_type: kind)
            bind.buffer = UnsafeMutableRawPointer(times + index)
            bind.buffer_type = type
        }
        switch parameter {
        case .null: bind.buffer_type = MYSQL_TYPE_NULL
        case .int(let value): number(value, MYSQL_TYPE_LONGLONG, unsigned: false)
        case .uint(let value): number(Int64(bitPattern: value), MYSQL_TYPE_LONGLONG, unsigned: true)
        case .double(let value): number(Int64(bitPattern: value.bitPattern), MYSQL_TYPE_DOUBLE, unsigned: false)
        case .text(let value): bytes(value, MYSQL_TYPE_STRING)
        // A BLOB parameter is binary to the server; a STRING one is in the connection's charset.
        case .binary(let value): bytes(value, MYSQL_TYPE_BLOB)
        case .decimal(let value): bytes(value, MYSQL_TYPE_NEWDECIMAL)
        case .date(let value): time(value, MYSQL_TYPE_DATE, MYSQL_TIMESTAMP_DATE)
        case .time(var value):
            // The protocol carries a TIME as days and hours 0-23 (libmariadb
            // writes the hour as one byte).
            value.day = value.hour / 24
            value.hour %= 24
            time(value, MYSQL_TYPE_TIME, MYSQL_TIMESTAMP_TIME)
        case .datetime(let value): time(value, MYSQL_TYPE_DATETIME, MYSQL_TIMESTAMP_DATETIME)
        }
        binds[index] = bind
    }

    /// Sends COM_STMT_CLOSE (no reply is awaited) and frees the client side.
    func close() {
        _ = mysql_stmt_close(stmt)
    }
}

/// A connection's statements, least recently used first out. Keyed by a
/// hash of the statement's bytes (no copy of them per lookup), and the bytes
/// compared on a hit; small (stmt_cache_size), so eviction scans.
struct StatementCache {
    private var entries: [Int: PreparedStatement] = [:]
    private var clock: UInt64 = 0
    /// The counters' pressure this cache last answered.
    var pressureSeen: UInt64 = 0

    static func key(_ sql: UnsafeRawBufferPointer) -> Int {
        var hasher = Hasher()
        hasher.combine(bytes: sql)
        return hasher.finalize()
    }

    /// The cached statement for `sql` if no borrower holds it now.
    mutating func take(_ sql: UnsafeRawBufferPointer) -> PreparedStatement? {
        guard !entries.isEmpty, let statement = entries[Self.key(sql)], !statement.isLent,
              statement.sql.withUnsafeBytes({ $0.elementsEqual(sql) }) else { return nil }
        clock += 1
        statement.lastUsed = clock
        statement.isLent = true
        return statement
    }

    /// Keeps `statement` if there is room or an idle one can go; returns
    /// the evicted statements, for the caller to close. A statement whose
    /// key is taken (the same text held by a borrower, or a hash collision)
    /// stays uncached.
    mutating func insert(_ statement: PreparedStatement, capacity: Int) -> [PreparedStatement] {
        let key = statement.sql.withUnsafeBytes(Self.key)
        guard capacity > 0, entries[key] == nil else { return [] }
        var evicted: [PreparedStatement] = []
        while entries.count >= capacity {
            guard let (oldestKey, oldest) = entries.filter({ !$0.value.isLent })
                .min(by: { $0.value.lastUsed < $1.value.lastUsed }) else {
                return evicted  // every cached one is lent: this one stays uncached
            }
            entries[oldestKey] = nil
            evicted.append(oldest)
        }
        clock += 1
        statement.lastUsed = clock
        statement.isCached = true
        statement.cacheKey = key
        entries[key] = statement
        return evicted
    }

    /// Takes `statement` out of the cache (it stays lent to its borrower).
    mutating func remove(_ statement: PreparedStatement) {
        guard statement.isCached, entries[statement.cacheKey] === statement else { return }
        entries[statement.cacheKey] = nil
        statement.isCached = false
    }

    /// Removes and returns every statement no borrower holds.
    mutating func removeIdle() -> [PreparedStatement] {
        let idle = entries.filter { !$0.value.isLent }
        for key in idle.keys { entries[key] = nil }
        return Array(idle.values)
    }

    /// Removes and returns every statement.
    mutating func removeAll() -> [PreparedStatement] {
        defer { entries.removeAll() }
        return Array(entries.values)
    }
}

/// The rows of a statement's result as the text protocol would give them:
/// every column is fetched as MYSQL_TYPE_STRING, which libmariadb converts
/// from the binary protocol (numbers, dates and times) or copies (strings,
/// decimals, BLOBs, BIT), so callers see one row format whichever protocol
/// ran the statement.
final class StatementRows {
    private let stmt: UnsafeMutablePointer<MYSQL_STMT>
    let columnCount: Int
    private let binds: UnsafeMutablePointer<MYSQL_BIND>
    private let buffers: UnsafeMutablePointer<UnsafeMutableRawPointer>
    let values: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>
    let lengths: UnsafeMutablePointer<UInt>
    private let nulls: UnsafeMutablePointer<my_bool>
    /// A buffer grew for a long value: bind again before the next fetch.
    private var needsRebind = true

    init(_ stmt: UnsafeMutablePointer<MYSQL_STMT>, stored: Bool) {
        self.stmt = stmt
        columnCount = Int(stmt.pointee.field_count)
        let count = max(columnCount, 1)
        binds = .allocate(capacity: count)
        binds.initialize(repeating: MYSQL_BIND(), count: count)
        buffers = .allocate(capacity: count)
        values = .allocate(capacity: count)
        values.initialize(repeating: nil, count: count)
        lengths = .allocate(capacity: count)
        lengths.initialize(repeating: 0, count: count)
        nulls = .allocate(capacity: count)
        nulls.initialize(repeating: 0, count: count)
        for column in 0..<columnCount {
            let field = stmt.pointee.fields[column]
            // A stored result knows its longest values; numbers and dates
            // never need more than 64 bytes as text.
            let wanted = stored ? Int(clamping: field.max_length) : Int(clamping: min(field.length, 256))
            let capacity = min(max(wanted, 64), 1 << 20) + 1
            buffers[column] = .allocate(byteCount: capacity, alignment: 8)
            binds[column].buffer = buffers[column]
            binds[column].buffer_length = UInt(capacity)
            binds[column].buffer_type = MYSQL_TYPE_STRING
            binds[column].length = lengths + column
            binds[column].is_null = nulls + column
        }
    }

    deinit {
        for column in 0..<columnCount { buffers[column].deallocate() }
        binds.deallocate()
        buffers.deallocate()
        values.deallocate()
        lengths.deallocate()
        nulls.deallocate()
    }

    /// Before the rows of another execute: the columns are bound again
    /// (libmariadb forgets the binding when the metadata is sent anew).
    func restart() {
        needsRebind = true
    }

    /// The next row into `values`/`lengths`; false after the last. A failed
    /// fetch returns the statement's error number (the caller builds the
    /// error, since it may mean the link is gone).
    func fetch() -> (row: Bool, failed: Bool) {
        if needsRebind {
            needsRebind = false
            if mysql_stmt_bind_result(stmt, binds) != 0 { return (false, true) }
        }
        let status = mysql_stmt_fetch(stmt)
        if status == MYSQL_NO_DATA { return (false, false) }
        if status == 1 { return (false, true) }
        for column in 0..<columnCount {
            if nulls[column] != 0 {
                values[column] = nil
                continue
            }
            if lengths[column] >= binds[column].buffer_length {
                // Truncated: grow the buffer and read the whole value again.
                let capacity = Int(lengths[column]) + 1
                buffers[column].deallocate()
                buffers[column] = .allocate(byteCount: capacity, alignment: 8)
                binds[column].buffer = buffers[column]
                binds[column].buffer_length = UInt(capacity)
                needsRebind = true
                if mysql_stmt_fetch_column(stmt, binds + column, UInt32(column), 0) != 0 { return (false, true) }
            }
            values[column] = buffers[column].assumingMemoryBound(to: CChar.self)
        }
        return (true, false)
    }
}

// MARK: - Prepared statements on a connection

extension MariaDBConnection {
    /// A prepared statement for `sql`, from the connection's cache when it
    /// has one no borrower holds (no round trip), else prepared now. Lent
    /// until `closeStatement`, or the release of the connection.
    public func prepare(_ sql: UnsafeRawBufferPointer) throws(PoolError) -> PreparedStatement {
        try ensureIdleWire()
        answerStatementPressure()
        if let cached = statementCache.take(sql) {
            statementCounters.hits.add(1, ordering: .relaxed)
            lentStatements.append(cached)
            return cached
        }
        let statement = try prepareOnServer(Array(sql))
        statementCounters.prepares.add(1, ordering: .relaxed)
        if sql.count <= statementCounters.sqlLimit {
            close(statementCache.insert(statement, capacity: statementCounters.capacity), evicted: true)
        }
        lentStatements.append(statement)
        return statement
    }

    /// COM_STMT_PREPARE. When the server's max_prepared_stmt_count is
    /// reached, this connection's idle cached statements are closed and the
    /// prepare tried once more; when there were none, every connection of
    /// the pool is asked to close its own (see StatementCounters.pressure).
    private func prepareOnServer(_ sql: [UInt8]) throws(PoolError) -> PreparedStatement {
        var retried = false
        while true {
            guard let stmt = mysql_stmt_init(mysql) else { throw PoolError(.noMemory, "mysql_stmt_init: out of memory") }
            var on: my_bool = 1
            _ = mysql_stmt_attr_set(stmt, STMT_ATTR_UPDATE_MAX_LENGTH, &on)
            guard !Self.sendPrepare(stmt, sql) else {
                noteAnswer()
                return PreparedStatement(stmt, sql: sql, owner: ObjectIdentifier(self))
            }
            let error = statementError(stmt)
            _ = mysql_stmt_close(stmt)
            guard error.serverErrno == tooManyStatements, !retried else { throw error }
            retried = true
            let idle = statementCache.removeIdle()
            if idle.isEmpty {
                statementCounters.pressure.add(1, ordering: .relaxed)
                throw PoolError(.server, error.message + " (max_prepared_stmt_count: this connection holds no idle "
                                    + "cached statement to close; the pool's other connections close theirs when next "
                                    + "used, and statements are closed when their handles are)",
                                serverErrno: error.serverErrno, sqlstate: error.sqlstate)
            }
            close(idle, evicted: true)
        }
    }

    /// COM_STMT_PREPARE of `sql` on `stmt`; true when the server accepted it.
    private static func sendPrepare(_ stmt: UnsafeMutablePointer<MYSQL_STMT>, _ sql: [UInt8]) -> Bool {
        sql.withUnsafeBytes { bytes in
            guard let base = bytes.baseAddress else {
                var empty: CChar = 0
                return withUnsafePointer(to: &empty) { mysql_stmt_prepare(stmt, $0, 0) == 0 }
            }
            return mysql_stmt_prepare(stmt, base.assumingMemoryBound(to: CChar.self), UInt(bytes.count)) == 0
        }
    }

    /// Another connection of the pool met max_prepared_stmt_count: give up
    /// this one's idle cached statements.
    func answerStatementPressure() {
        let pressure = statementCounters.pressure.load(ordering: .relaxed)
        guard pressure != statementCache.pressureSeen else { return }
        statementCache.pressureSeen = pressure
        close(statementCache.removeIdle(), evicted: true)
    }

    /// Closes statements taken out of the cache; `evicted`: to make room
    /// (counted in the stats), not because the connection is done.
    private func close(_ statements: [PreparedStatement], evicted: Bool) {
        guard !statements.isEmpty else { return }
        if evicted { statementCounters.evictions.add(UInt64(statements.count), ordering: .relaxed) }
        for statement in statements {
            statement.isCached = false
            freeStatementResult(statement)
            if !isInherited { statement.close() }
        }
    }

    /// Runs `statement` with `parameters` (checked and bound first: nothing
    /// is sent for a wrong count or value); its result set, if any, is read
    /// with storeResult/useResult as after `query`. A statement the server
    /// forgot (1243) is prepared again once.
    public func execute(_ statement: PreparedStatement, parameters: [SQLParameter]) throws(PoolError) {
        try ensureIdleWire()
        guard statement.owner == ObjectIdentifier(self), statement.isLent else {
            throw PoolError(.wrongHandle, "the statement does not belong to this connection's current borrower")
        }
        guard statement.liveResult == nil else {
            throw PoolError(.misuse, "the statement's previous result is still open: free it before executing again")
        }
        try statement.bind(parameters)
        abandonPythonOutcome()
        currentStatement = nil
        if mysql_stmt_execute(statement.stmt) != 0 {
            statement.failed = true
            let error = statementError(statement.stmt)
            guard error.serverErrno == unknownStatement else { throw error }
            try reprepare(statement)
            try statement.bind(parameters)
            if mysql_stmt_execute(statement.stmt) != 0 { throw statementError(statement.stmt) }
            statement.failed = false
        }
        noteAnswer()
        currentStatement = statement
        pendingStatement = statement.stmt.pointee.field_count > 0 ? statement : nil
    }

    /// The server lost the statement: prepare its text again in place.
    private func reprepare(_ statement: PreparedStatement) throws(PoolError) {
        guard Self.sendPrepare(statement.stmt, statement.sql) else { throw statementError(statement.stmt) }
        statementCounters.prepares.add(1, ordering: .relaxed)
    }

    /// The borrower is done with `statement`: a cached one stays prepared
    /// for the next borrower, any other is closed on the server. Its open
    /// result, if any, is freed.
    public func closeStatement(_ statement: PreparedStatement) {
        guard statement.owner == ObjectIdentifier(self), statement.isLent else { return }
        statement.isLent = false
        if let index = lentStatements.lastIndex(where: { $0 === statement }) { lentStatements.remove(at: index) }
        freeStatementResult(statement)
        if currentStatement === statement { finishStatementResults() }
        if statement.failed { statementCache.remove(statement) }
        if !statement.isCached && !isInherited { statement.close() }
    }

    /// The statement `executeForPython` kept lent for its batches goes
    /// back when the next outcome starts.
    func givePythonStatementBack() {
        guard let statement = pythonStatement else { return }
        pythonStatement = nil
        closeStatement(statement)
    }

    private func freeStatementResult(_ statement: PreparedStatement) {
        if let result = statement.liveResult { result.free() }
        if pendingStatement === statement { pendingStatement = nil }
    }

    /// Reads and drops what the current statement still has to say (more
    /// results of a CALL, unread rows), so the wire is quiet.
    func finishStatementResults() {
        guard let statement = currentStatement else { return }
        currentStatement = nil
        pendingStatement = nil
        guard !isBroken, !isInherited else { return }
        if let result = statement.liveResult { result.free() }
        _ = mysql_stmt_free_result(statement.stmt)
        while mysql_stmt_more_results(statement.stmt) != 0 {
            if mysql_stmt_next_result(statement.stmt) > 0 {
                _ = statementError(statement.stmt)
                return
            }
            _ = mysql_stmt_free_result(statement.stmt)
        }
    }

    /// At release: every lent statement goes back (an uncached one is
    /// closed); `dropAll` (before COM_RESET_CONNECTION, which forgets them
    /// on the server) closes the cached ones too.
    func returnStatements(dropAll: Bool) {
        pythonStatement = nil
        finishStatementResults()
        while let statement = lentStatements.last { closeStatement(statement) }
        if dropAll { close(statementCache.removeAll(), evicted: false) }
        answerStatementPressure()
    }

    /// The statement's error as a PoolError (and as the connection's error
    /// would mark it: a lost link, a refused write).
    func statementError(_ stmt: UnsafeMutablePointer<MYSQL_STMT>) -> PoolError {
        error(number: mysql_stmt_errno(stmt), message: mysql_stmt_error(stmt), sqlstate: mysql_stmt_sqlstate(stmt))
    }

    /// The pending result of the statement last executed, as a result object.
    func takeStatementResult(_ statement: PreparedStatement, streaming: Bool) throws(PoolError) -> MariaDBResult {
        pendingStatement = nil
        if !streaming, mysql_stmt_store_result(statement.stmt) != 0 {
            statement.failed = true
            throw statementError(statement.stmt)
        }
        let rows: StatementRows
        if let kept = statement.rows, kept.columnCount == Int(statement.stmt.pointee.field_count) {
            rows = kept
            rows.restart()
        } else {
            rows = StatementRows(statement.stmt, stored: !streaming)
            statement.rows = rows
        }
        let result = MariaDBResult(statement: statement, rows: rows, connection: self, streaming: streaming)
        statement.liveResult = result
        return result
    }

    /// Moves the current statement to its next result (a CALL's); false
    /// when it has none.
    func nextStatementResult(_ statement: PreparedStatement) throws(PoolError) -> Bool {
        guard statement.liveResult == nil else {
            throw PoolError(.misuse, "free the statement's current result before moving to its next one")
        }
        guard mysql_stmt_more_results(statement.stmt) != 0 else { return false }
        _ = mysql_stmt_free_result(statement.stmt)
        let status = mysql_stmt_next_result(statement.stmt)
        if status > 0 {
            statement.failed = true
            throw statementError(statement.stmt)
        }
        guard status == 0 else { return false }
        pendingStatement = mysql_stmt_field_count(statement.stmt) > 0 ? statement : nil
        return true
    }
}
