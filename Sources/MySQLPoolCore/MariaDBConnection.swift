import CMariaDB
#if canImport(Glibc)
import Glibc
#endif

/// libmariadb must be initialised once before threads use it.
private let libraryInitialized: Bool = mysql_server_init(0, nil, nil) == 0

/// Errors after which the link cannot be trusted: the connection is closed at
/// release instead of being kept.
private let linkLostErrnos: Set<UInt32> = [
    1053,  // ER_SERVER_SHUTDOWN
    1927,  // ER_CONNECTION_KILLED
    2000,  // CR_UNKNOWN_ERROR
    2002, 2003,  // CR_CONNECTION_ERROR, CR_CONN_HOST_ERROR
    2006,  // CR_SERVER_GONE_ERROR
    2013,  // CR_SERVER_LOST
    2014,  // CR_COMMANDS_OUT_OF_SYNC: the protocol state is unknown
    2026,  // CR_SSL_CONNECTION_ERROR
    2055,  // CR_SERVER_LOST_EXTENDED
    4031,  // ER_CLIENT_INTERACTION_TIMEOUT (MySQL 8)
]

let statusInTransaction: UInt32 = 0x0001
let statusAutocommit: UInt32 = 0x0002
let statusMoreResults: UInt32 = 0x0008
private let statusNoBackslashEscapes: UInt32 = 0x0200

/// Opens libmariadb connections as a `PoolConfiguration` says: to its one
/// host, or to the best of several for `role` (see `HostSet`). A class: the
/// pool calls it on every checkout and release, and a struct this size was
/// copied (425 bytes) for each call.
public final class MariaDBFactory: ConnectionFactory {
    public let configuration: PoolConfiguration
    public let hosts: HostSet?
    public let role: HostRole
    /// Sent again after COM_RESET_CONNECTION; built once, not per release.
    private let sessionCommands: [String]
    /// Borrows are counted per host only when there are several.
    private let isMultiHost: Bool
    /// Whether hosts' roles can change under this pool's connections
    /// (several hosts, replication or loadbalance): a single-host pool's
    /// checkout and release never ask.
    private let rolesMayChange: Bool

    /// The statement cache's settings and counters, shared with the other
    /// half of a replication pool.
    public let statements: StatementCounters

    public init(configuration: PoolConfiguration, hosts: HostSet? = nil, role: HostRole = .any,
                statements: StatementCounters? = nil) {
        self.configuration = configuration
        self.statements = statements ?? StatementCounters(capacity: configuration.statementCacheSize,
                                                          sqlLimit: configuration.statementCacheSQLLimit)
        self.hosts = hosts
        self.role = role
        sessionCommands = configuration.sessionCommands
        isMultiHost = (hosts?.count ?? 0) > 1
        rolesMayChange = isMultiHost && configuration.hostMode != .sequential
    }

    public func connect() throws(PoolError) -> MariaDBConnection {
        try connect(preferring: nil)
    }

    /// Read-only borrows are spread over the replicas (and hosts whose role
    /// is not known yet): every other pool takes its connections as they come.
    public func spreadHosts() -> [Int]? {
        guard role == .replica, isMultiHost, let hosts else { return nil }
        let spread = hosts.spreadCandidates()
        return spread.isEmpty ? nil : spread
    }

    public func hostKey(_ connection: MariaDBConnection) -> Int {
        role == .replica ? connection.hostIndex ?? -1 : -1
    }

    public func lent(_ connection: MariaDBConnection) {
        if isMultiHost, let hosts, let index = connection.hostIndex { hosts.lent(index) }
    }

    public func connect(preferring preferred: Int?) throws(PoolError) -> MariaDBConnection {
        guard let hosts else { return try MariaDBConnection(configuration, statements: statements) }
        var lastError: PoolError?
        var candidates = hosts.candidates(for: role)
        if let preferred, let at = candidates.firstIndex(of: preferred) {
            candidates.insert(candidates.remove(at: at), at: 0)
        }
        for index in candidates {
            let connection: MariaDBConnection
            do {
                connection = try MariaDBConnection(configuration, address: hosts.address(index), statements: statements)
            } catch {
                hosts.failed(index)
                lastError = error
                continue
            }
            var readOnly: Bool?
            if role != .any {
                // Writes never go to a read-only host; replicas are the read-only ones.
                guard let answer = try? connection.isReadOnly() else {
                    connection.close()
                    hosts.failed(index)
                    continue
                }
                readOnly = answer
                guard answer == (role == .replica) else {
                    hosts.learned(index, readOnly: answer)
                    connection.close()
                    continue
                }
            }
            connection.roleEpoch = hosts.opened(index, readOnly: readOnly)
            connection.hostIndex = index
            return connection
        }
        // One host: its own error, as a single-host driver reports it.
        if hosts.count == 1, let lastError { throw lastError }
        let wanted = role == .primary ? "writable host" : role == .replica ? "read-only host" : "host"
        let tried = (0..<hosts.count).map { "\(hosts.address($0).host):\(hosts.address($0).port)" }
        throw PoolError(.server, "no \(wanted) could be reached among \(tried.joined(separator: ","))"
                            + (lastError.map { ": \($0.message)" } ?? ""),
                        serverErrno: lastError?.serverErrno ?? 2003, sqlstate: lastError?.sqlstate ?? "HY000")
    }

    /// prepareForReuse's reset without blocking; the release that follows
    /// takes its outcome.
    public func startReuse(_ connection: MariaDBConnection) throws(PoolError) -> IOStep {
        try connection.startReset(autocommit: configuration.autocommit,
                                  resetThen: configuration.resetConnection ? sessionCommands : nil)
    }

    public func prepareForReuse(_ connection: MariaDBConnection) -> ReturnCondition {
        let condition = connection.prepareForReuse(autocommit: configuration.autocommit,
                                                   resetThen: configuration.resetConnection ? sessionCommands : nil)
        if connection.refusedAWrite {
            connection.refusedAWrite = false
            // 1290/1792 on a connection meant for writes: ask the host what
            // it is now (on the reset, quiet connection). A demoted primary
            // changes its role, which retires every connection to it; the
            // primary is found again at connect.
            if case .reusable = condition, role == .primary, let hosts, let index = connection.hostIndex,
               let readOnly = try? connection.isReadOnly() {
                hosts.learned(index, readOnly: readOnly)
            }
        }
        return condition
    }

    /// Its host's role changed since it was opened (a demoted primary, a
    /// promoted replica, a Galera node no longer Synced).
    public func isRetired(_ connection: MariaDBConnection) -> Bool {
        guard rolesMayChange, let hosts, let index = connection.hostIndex else { return false }
        return hosts.roleChanged(index, since: connection.roleEpoch)
    }

    public func ping(_ connection: MariaDBConnection, deadline: UInt64, owner: UInt64) -> Bool {
        Watchdog.shared.guarding(socket: connection.socket, until: deadline, owner: owner) {
            (try? connection.ping()) != nil
        }
    }

    public func isSocketAlive(_ connection: MariaDBConnection) -> Bool {
        connection.isSocketAlive
    }

    public func lastHeardFrom(_ connection: MariaDBConnection) -> UInt64? {
        connection.lastHeardAt
    }

    public func abandon(_ connection: MariaDBConnection) {
        connection.abandonInheritedSession()
        // The child's books start over: the inherited connection no longer counts for its host.
        if let hosts, let index = connection.hostIndex { hosts.closed(index) }
    }

    public func close(_ connection: MariaDBConnection) {
        if let hosts, let index = connection.hostIndex { hosts.closed(index) }
        connection.close()
    }
}

private func withOptionalCString<Result>(_ text: String?, _ body: (UnsafePointer<CChar>?) -> Result) -> Result {
    guard let text else { return body(nil) }
    return text.withCString(body)
}

/// One libmariadb connection. Used by one thread at a time (the pool hands it
/// to a single borrower); not thread-safe by itself.
public final class MariaDBConnection: @unchecked Sendable {
    let mysql: UnsafeMutablePointer<MYSQL>
    /// Set when an error means the link is gone; checked at release.
    public internal(set) var isBroken = false
    /// A statement was sent whose result set was not yet stored or used.
    var resultPending = false
    /// The non-blocking operation in progress (see NonBlocking.swift).
    var pendingIO: PendingIO?
    /// Whether libmariadb's non-blocking context is set up.
    var nonBlockingEnabled = false
    /// What remains of a non-blocking reset waiting for I/O, and the outcome
    /// of one that finished, for the release (see SessionReset.swift).
    var resetPlan: ResetPlan?
    public internal(set) var finishedReset: ReturnCondition?
    /// Results the borrower has not freed; all are freed at release.
    public internal(set) var liveResults: [MariaDBResult] = []
    /// Whether an unbuffered result still owns the wire. Only the newest
    /// result can (no statement runs while one is open), so no weak
    /// reference to it is kept: loading one costs atomics on every query.
    private var streamingResultIsOpen: Bool {
        guard let newest = liveResults.last else { return false }
        return newest.isStreaming && !newest.isExhausted
    }
    /// Whether the session negotiated TLS (read after connecting).
    private var usesTLS = false
    /// The character set the connection was opened with, as libmariadb names
    /// it: a borrower's mysql_set_character_set is undone at release.
    private(set) var openingCharset: [CChar] = []
    /// libmariadb's name pointer for it (its static charset table): the
    /// same pointer at release means the same charset, without a strcmp.
    private(set) var openingCharsetName: UnsafePointer<CChar>?

    /// Which host of the pool's HostSet it is connected to (multi-host pools).
    public internal(set) var hostIndex: Int?
    /// The host set's role epoch when it was opened (see HostSet.roleEpoch).
    var roleEpoch: (set: UInt64, host: UInt64) = (0, 0)
    /// A statement was refused because the server is read-only (1290
    /// --read-only, 1792 read-only transaction): checked at release.
    var refusedAWrite = false
    /// When the server last answered a command (coarse clock): set by every
    /// call that succeeds, read by the pool at release.
    public private(set) var lastHeardAt = MonotonicClock.coarse()

    // Prepared statements (see PreparedStatement.swift).
    let statementCounters: StatementCounters
    var statementCache = StatementCache()
    /// Statements the borrower holds, given back at release.
    public internal(set) var lentStatements: [PreparedStatement] = []
    /// The statement last executed while its results are being read.
    var currentStatement: PreparedStatement?
    /// The statement whose result set was not yet stored or used.
    var pendingStatement: PreparedStatement?
    /// The statement of the last `executeForPython`, lent until the next
    /// statement outcome or the release.
    var pythonStatement: PreparedStatement?

    init(_ configuration: PoolConfiguration, address: HostAddress? = nil,
         statements: StatementCounters = StatementCounters(capacity: 0)) throws(PoolError) {
        statementCounters = statements
        guard libraryInitialized else { throw PoolError(.internal, "mysql_library_init failed") }
        guard let handle = mysql_init(nil) else { throw PoolError(.noMemory, "mysql_init: out of memory") }
        mysql = handle
        // On failure deinit runs (every property is set) and closes the handle.
        try applyOptions(configuration)
        try open(configuration, address: address ?? HostAddress(host: configuration.host, port: configuration.port))
        openingCharset = Array(UnsafeBufferPointer(start: charsetName, count: strlen(charsetName) + 1))
        openingCharsetName = charsetName
        usesTLS = mysql_get_ssl_cipher(mysql) != nil
    }

    private func setOption<Value>(_ option: mysql_option, _ value: Value) {
        var copy = value
        _ = withUnsafePointer(to: &copy) { mysql_options(mysql, option, $0) }
    }

    private func setOption(_ option: mysql_option, string: String) {
        _ = string.withCString { mysql_options(mysql, option, $0) }
    }

    private func applyOptions(_ configuration: PoolConfiguration) throws(PoolError) {
        setOption(MYSQL_OPT_CONNECT_TIMEOUT, configuration.connectTimeout)
        if configuration.readTimeout > 0 { setOption(MYSQL_OPT_READ_TIMEOUT, configuration.readTimeout) }
        if configuration.writeTimeout > 0 { setOption(MYSQL_OPT_WRITE_TIMEOUT, configuration.writeTimeout) }
        setOption(MYSQL_SET_CHARSET_NAME, string: configuration.charset)
        setOption(MYSQL_OPT_LOCAL_INFILE, UInt32(configuration.localInfile ? 1 : 0))
        // Like PyMySQL, a host name means TCP even for "localhost"; only an
        // explicit unix_socket uses the socket.
        let protocolType = configuration.unixSocket == nil ? MYSQL_PROTOCOL_TCP : MYSQL_PROTOCOL_SOCKET
        setOption(MYSQL_OPT_PROTOCOL, UInt32(protocolType.rawValue))
        for command in configuration.sessionCommands {
            setOption(MYSQL_INIT_COMMAND, string: command)
        }
        if configuration.usesTLS {
            _ = mysql_ssl_set(mysql, configuration.sslKey, configuration.sslCert, configuration.sslCA, nil,
                              configuration.sslCipher)
            if configuration.ssl { setOption(MYSQL_OPT_SSL_ENFORCE, CChar(1)) }
            // libmariadb 3.3 checks the chain and the host name under one
            // option, so verifying the chain also verifies the identity. It
            // is also the only option that makes libmariadb refuse a server
            // without TLS *before* logging in: with TLS required and a CA to
            // check against, verifying is what keeps the password off a
            // plain-text link.
            if configuration.sslVerifyCert || configuration.sslVerifyIdentity
                || (configuration.ssl && configuration.sslCA != nil) {
                setOption(MYSQL_OPT_SSL_VERIFY_SERVER_CERT, CChar(1))
            }
        }
    }

    private func open(_ configuration: PoolConfiguration, address: HostAddress) throws(PoolError) {
        var flags = UInt(CLIENT_MULTI_RESULTS) | UInt(configuration.clientFlag)
        if configuration.multiStatements { flags |= UInt(CLIENT_MULTI_STATEMENTS) }
        if configuration.localInfile { flags |= UInt(CLIENT_LOCAL_FILES) }
        let connected = address.host.withCString { host in
            configuration.user.withCString { user in
                configuration.password.withCString { password in
                    withOptionalCString(configuration.database) { database in
                        withOptionalCString(configuration.unixSocket) { socket in
                            mysql_real_connect(mysql, host, user, password, database, address.port, socket, flags)
                        }
                    }
                }
            }
        }
        guard connected != nil else { throw currentError() }
        // MYSQL_OPT_SSL_ENFORCE alone does not refuse a plain-text server in
        // libmariadb 3.3, so check what was negotiated.
        if configuration.ssl && mysql_get_ssl_cipher(mysql) == nil {
            throw PoolError(.server, "TLS is required (ssl=1) but the server did not negotiate it",
                            serverErrno: 2026, sqlstate: "HY000")
        }
        if (serverStatus & statusAutocommit != 0) != configuration.autocommit {
            try check(mysql_autocommit(mysql, configuration.autocommit ? 1 : 0) == 0)
        }
    }

    // MARK: Errors

    public var errorNumber: UInt32 { mysql_errno(mysql) }
    public var errorMessage: UnsafePointer<CChar> { mysql_error(mysql) }
    public var sqlstate: UnsafePointer<CChar> { mysql_sqlstate(mysql) }

    /// The connection's current error as a PoolError; marks the link broken
    /// when the error says it is gone.
    func currentError() -> PoolError {
        error(number: mysql_errno(mysql), message: mysql_error(mysql), sqlstate: mysql_sqlstate(mysql))
    }

    /// An error of this connection (or of one of its statements) as a
    /// PoolError; notes what it says about the link and the server's role.
    func error(number: UInt32, message: UnsafePointer<CChar>, sqlstate: UnsafePointer<CChar>) -> PoolError {
        if linkLostErrnos.contains(number) { isBroken = true }
        if number == 1792 || (number == 1290 && strstr(message, "read-only") != nil) {
            refusedAWrite = true
        }
        return PoolError(.server, String(cString: message), serverErrno: number, sqlstate: String(cString: sqlstate))
    }

    @inline(__always)
    private func check(_ succeeded: Bool) throws(PoolError) {
        if !succeeded { throw currentError() }
        noteAnswer()
    }

    @inline(__always)
    func noteAnswer() {
        lastHeardAt = MonotonicClock.coarse()
    }

    /// Opened by the parent process before a fork(): its socket carries the
    /// parent's session, so this process must not touch it.
    var isInherited: Bool { forkGeneration != ForkWatch.generation }
    private let forkGeneration = ForkWatch.generation

    func ensureIdleWire() throws(PoolError) {
        if isInherited {
            throw PoolError(.misuse, "this connection was opened by the parent process before fork(); "
                                + "borrow a new one in this process")
        }
        if pendingIO != nil {
            throw PoolError(.misuse, "a non-blocking operation is in progress on this connection: "
                                + "call pool_continue until it is done")
        }
        if streamingResultIsOpen {
            throw PoolError(.misuse,
                            "an unbuffered result is still open on this connection: fetch it to the end or free it first")
        }
        if resultPending || pendingStatement != nil {
            throw PoolError(.misuse,
                            "the previous statement's result set was not read: call pool_store_result or pool_use_result first")
        }
        if let statement = currentStatement { try settleStatement(statement) }
    }

    /// Before another command: a prepared CALL's further results are read
    /// and dropped, unless the borrower still reads one of them.
    private func settleStatement(_ statement: PreparedStatement) throws(PoolError) {
        guard mysql_stmt_more_results(statement.stmt) != 0 else {
            currentStatement = nil
            return
        }
        guard statement.liveResult == nil else {
            throw PoolError(.misuse, "the prepared statement has more results: free its result or call "
                                + "pool_next_result first")
        }
        finishStatementResults()
        if isBroken { throw currentError() }
    }

    // MARK: Statements

    /// Sends a statement; its result set (if any) is read by storeResult/useResult.
    public func query(_ sql: UnsafeRawBufferPointer) throws(PoolError) {
        try ensureIdleWire()
        let emptyStatement: StaticString = ""
        let base = sql.baseAddress ?? UnsafeRawPointer(emptyStatement.utf8Start)
        try check(mysql_real_query(mysql, base.assumingMemoryBound(to: CChar.self), UInt(sql.count)) == 0)
        resultPending = mysql_field_count(mysql) > 0
    }

    /// Sends a statement with `?` placeholders, each replaced by its
    /// parameter's literal (see ParameterBinder); read its result as query's.
    public func query(_ sql: UnsafeRawBufferPointer, parameters: [SQLParameter]) throws(PoolError) {
        try ensureIdleWire()
        let dialect = ParameterBinder.Dialect(backslashEscapes: serverStatus & statusNoBackslashEscapes == 0,
                                              charset: String(cString: charsetName))
        let bound = try ParameterBinder.bind(sql, parameters, dialect) { text, out throws(PoolError) in
            try appendEscaped(text, to: &out)
        }
        guard bound.count <= 1 << 30 else {
            throw PoolError(.badArgument, "the bound statement is \(bound.count) bytes, larger than any statement "
                                + "a server accepts (1 GiB)")
        }
        let failure: PoolError? = bound.withUnsafeBytes { buffer in
            do throws(PoolError) { try query(buffer) } catch { return error }
            return nil
        }
        if let failure { throw failure }
    }

    /// Appends `text` escaped for this connection (charset, NO_BACKSLASH_ESCAPES).
    private func appendEscaped(_ text: UnsafeRawBufferPointer, to out: inout [UInt8]) throws(PoolError) {
        guard let from = text.baseAddress, text.count > 0 else { return }
        let start = out.count
        out.append(contentsOf: repeatElement(0, count: text.count * 2 + 1))
        let written = out.withUnsafeMutableBytes { buffer in
            mysql_real_escape_string(mysql, buffer.baseAddress!.advanced(by: start).assumingMemoryBound(to: CChar.self),
                                     from.assumingMemoryBound(to: CChar.self), UInt(text.count))
        }
        guard written != UInt.max else {
            throw PoolError(.badArgument, "cannot escape in charset '\(String(cString: mysql_character_set_name(mysql)))'")
        }
        out.removeLast(out.count - start - Int(written))
    }

    public func storeResult() throws(PoolError) -> MariaDBResult? {
        try takeResult(streaming: false)
    }

    public func useResult() throws(PoolError) -> MariaDBResult? {
        try takeResult(streaming: true)
    }

    private func takeResult(streaming: Bool) throws(PoolError) -> MariaDBResult? {
        if streamingResultIsOpen {
            throw PoolError(.misuse, "an unbuffered result is still open on this connection")
        }
        if let statement = pendingStatement {
            let result = try takeStatementResult(statement, streaming: streaming)
            liveResults.append(result)
            return result
        }
        guard resultPending else { return nil }
        resultPending = false
        guard let raw = streaming ? mysql_use_result(mysql) : mysql_store_result(mysql) else {
            throw currentError()
        }
        let result = MariaDBResult(raw, connection: self, streaming: streaming)
        liveResults.append(result)
        return result
    }

    /// Moves to the next result of a multi-statement query; false when none.
    public func nextResult() throws(PoolError) -> Bool {
        if let statement = currentStatement {
            if streamingResultIsOpen { try ensureIdleWire() }
            return try nextStatementResult(statement)
        }
        try ensureIdleWire()
        guard mysql_more_results(mysql) != 0 else { return false }
        let status = mysql_next_result(mysql)
        if status > 0 { throw currentError() }
        guard status == 0 else { return false }
        resultPending = mysql_field_count(mysql) > 0
        return true
    }

    /// The pickle batches of a `runForPython` outcome; the current one is
    /// also the buffer of the other pickles, reused from call to call.
    private var pickleBatches = BatchPipeline<PickleRowEncoder>()
    /// The raw batches of a `runForPythonObjects` outcome.
    private(set) var rawBatches = BatchPipeline<RawRows>()
    private var statementPickle: PickleRowEncoder {
        _read { yield pickleBatches.current }
        _modify { yield &pickleBatches.current }
    }
    /// The rows of a Python outcome that did not fit in its first batch,
    /// read by `continueForPython` or `continueForPythonObjects`.
    private var pythonOutcome: MariaDBResult?
    /// The options the outcome was started with; its batches keep them.
    private var pythonOutcomeOptions = MariaDBResult.PickleOptions()
    /// Whether the outcome's batches are Python objects (else pickles).
    private var pythonOutcomeAsObjects = false
    /// Whether the outcome's next batch is read ahead (see BatchPipeline).
    private var pythonOutcomeReadsAhead = false
    /// Rows per batch are cut at about this many bytes, so a large result
    /// never exists as one big pickle (or copy) next to the objects built
    /// from it.
    public static let pythonBatchBytes = 1 << 18

    /// Runs one statement and encodes its outcome as one pickle of
    /// (fields, rows, tail): fields is None, or a bytes value holding a
    /// pickle of the column metadata (see `appendFields`) that the reader can
    /// cache by its bytes; rows is None or a list of row tuples; tail is
    /// (affected_rows, insert_id, warning_count, server_status), with
    /// insert_id None for a result set as PyMySQL reports it, or None when
    /// more rows follow: `continueForPython` then encodes (rows, tail) for the
    /// next batch, which meanwhile a helper thread reads ahead when there is
    /// a second CPU. Rows are encoded as they arrive (no stored copy). The
    /// bytes stay valid until the next call on this connection.
    public func runForPython(_ sql: UnsafeRawBufferPointer, options: MariaDBResult.PickleOptions)
        throws(PoolError) -> UnsafeBufferPointer<UInt8>
    {
        abandonPythonOutcome()
        givePythonStatementBack()
        try query(sql)
        return try encodeOutcomeForPython(options: options)
    }

    /// `runForPython` for `sql` as a prepared statement, from the statement
    /// cache (prepared on a miss), run with `parameters`: the same pickle,
    /// the same values (the rows come as the text protocol's, see
    /// StatementRows). The statement stays lent until the next statement
    /// outcome or the release, as its rows may be read in batches.
    public func executeForPython(_ sql: UnsafeRawBufferPointer, parameters: [SQLParameter],
                                 options: MariaDBResult.PickleOptions) throws(PoolError) -> UnsafeBufferPointer<UInt8>
    {
        abandonPythonOutcome()
        givePythonStatementBack()
        let statement = try prepare(sql)
        pythonStatement = statement
        try execute(statement, parameters: parameters)
        return try encodeOutcomeForPython(options: options)
    }

    private func encodeOutcomeForPython(options: MariaDBResult.PickleOptions) throws(PoolError)
        -> UnsafeBufferPointer<UInt8>
    {
        let result = try useResult()
        statementPickle.begin()
        statementPickle.beginTuple()
        guard let result else {
            statementPickle.appendNone()
            statementPickle.appendNone()
            appendTail(affectedRows: affectedRows, insertID: insertID)
            statementPickle.endTuple()
            statementPickle.finish()
            return statementPickle.bytes.withUnsafeBufferPointer { $0 }
        }
        let namesAsBytes = options.contains(.textAsBytes)
        statementPickle.appendNestedPickle { result.appendFields(to: &$0, namesAsBytes: namesAsBytes) }
        try closeBatch(of: result, failure: Self.appendBatchRows(of: result, options: options, to: &statementPickle),
                       options: options)
        return statementPickle.bytes.withUnsafeBufferPointer { $0 }
    }

    /// The next batch of the outcome `runForPython` started, as a pickle of
    /// (rows, tail) shaped as there.
    public func continueForPython(options: MariaDBResult.PickleOptions) throws(PoolError)
        -> UnsafeBufferPointer<UInt8>
    {
        settle()
        let result = try continuingOutcome(options: options, asObjects: false)
        try closeBatch(of: result, failure: pickleBatches.next(result, options: options), options: options)
        return statementPickle.bytes.withUnsafeBufferPointer { $0 }
    }

    /// Waits for a read-ahead helper, if one runs, and keeps its batch for
    /// the next continue. Whatever uses the connection from outside calls
    /// this first: the C entry points, release and close.
    public func settle() {
        pickleBatches.settle(inherited: isInherited)
        rawBatches.settle(inherited: isInherited)
    }

    /// The outcome a continue call reads on.
    func continuingOutcome(options: MariaDBResult.PickleOptions, asObjects: Bool) throws(PoolError)
        -> MariaDBResult
    {
        guard let result = pythonOutcome else {
            throw PoolError(.misuse, "no statement outcome is being read on this connection")
        }
        guard asObjects == pythonOutcomeAsObjects else {
            throw PoolError(.misuse, "this outcome was started as " + (asObjects ? "a pickle" : "Python objects")
                                + ": read its batches the same way")
        }
        guard options == pythonOutcomeOptions else {
            throw PoolError(.badArgument, "flags 0x\(String(options.rawValue, radix: 16)) differ from the "
                                + "0x\(String(pythonOutcomeOptions.rawValue, radix: 16)) this outcome was started with")
        }
        return result
    }

    /// The rows of a batch, up to its size: the part a read-ahead helper
    /// may do, as it touches only the result and `encoder`.
    static func appendBatchRows(of result: MariaDBResult, options: MariaDBResult.PickleOptions,
                                to encoder: inout PickleRowEncoder) -> PoolError? {
        do {
            _ = try result.appendRows(to: &encoder, maxRows: 0, maxBytes: pythonBatchBytes, options: options)
            return nil
        } catch {
            return error
        }
    }

    /// Ends a batch whose rows are in `statementPickle`: None when rows are
    /// left, else the tail (see `afterBatch`).
    private func closeBatch(of result: MariaDBResult, failure: PoolError?, options: MariaDBResult.PickleOptions)
        throws(PoolError)
    {
        if let rows = try afterBatch(of: result, failure: failure, options: options, asObjects: false) {
            appendTail(affectedRows: rows, insertID: nil)
        } else {
            statementPickle.appendNone()
            if pythonOutcomeReadsAhead { pickleBatches.readAhead(result, options: options) }
        }
        statementPickle.endTuple()
        statementPickle.finish()
    }

    /// The next raw batch of `result` (its first when `first`), in
    /// `rawBatches.current`; the row count after the last (see `afterBatch`).
    func nextRawBatch(of result: MariaDBResult, options: MariaDBResult.PickleOptions, first: Bool)
        throws(PoolError) -> UInt64?
    {
        let failure = first ? rawBatches.current.fill(from: result, options: options)
            : rawBatches.next(result, options: options)
        let rows = try afterBatch(of: result, failure: failure, options: options, asObjects: true)
        if rows == nil && pythonOutcomeReadsAhead { rawBatches.readAhead(result, options: options) }
        return rows
    }

    /// Lets a large raw batch go once its outcome has ended and its objects
    /// are built: a batch of a large result holds up to ~1.5 MiB of cells,
    /// which an idle connection need not keep (a small one is kept, so point
    /// queries allocate nothing).
    func trimRawBatches() {
        if pythonOutcome == nil { rawBatches.trim(above: 1 << 16) }
    }

    /// After a batch of an outcome's rows: nil when rows are left (the result
    /// stays open as `pythonOutcome`), else the result's row count. The
    /// result is freed after its last batch or a failure, which is thrown.
    private func afterBatch(of result: MariaDBResult, failure: PoolError?, options: MariaDBResult.PickleOptions,
                            asObjects: Bool) throws(PoolError) -> UInt64?
    {
        if let failure {
            endPythonOutcome(result)
            throw failure
        }
        guard result.isExhausted else {
            if pythonOutcome == nil {
                pythonOutcome = result
                (pythonOutcomeOptions, pythonOutcomeAsObjects) = (options, asObjects)
                pythonOutcomeReadsAhead = ReadAhead.hasSecondCPU
            }
            return nil
        }
        let rows = result.rowCount
        endPythonOutcome(result)
        return rows
    }

    /// executemany's INSERT statements for `request` (see InsertFormatter),
    /// escaped for this connection's sql_mode, as a pickle of a list of bytes
    /// in the buffer `runForPython` uses. No round trip.
    public func formatInsertForPython(_ request: UnsafeRawBufferPointer, maxStatementLength: Int)
        throws(PoolError) -> UnsafeBufferPointer<UInt8>
    {
        // Text is written as its UTF-8 bytes, right only for a UTF-8 session.
        guard strncmp(charsetName, "utf8", 4) == 0 else {
            throw PoolError(.misuse, "formatting rows needs a utf8 or utf8mb4 connection, not '\(String(cString: charsetName))'")
        }
        do throws(InsertFormatter.Failure) {
            try InsertFormatter.format(request: request, maxStatementLength: maxStatementLength,
                                       noBackslashEscapes: serverStatus & statusNoBackslashEscapes != 0,
                                       into: &statementPickle)
        } catch {
            switch error {
            case .malformed(let problem): throw PoolError(.badArgument, "request: \(problem)")
            case .unsupported(let problem): throw PoolError(.misuse, "request: \(problem); format these rows another way")
            }
        }
        return statementPickle.bytes.withUnsafeBufferPointer { $0 }
    }

    /// A stored result's whole outcome as `runForPython` encodes one, in one
    /// batch (its rows are in memory: no I/O), for bindings that stored it
    /// without blocking (pool_store_result_start). The result is freed.
    func outcomeForPython(of result: MariaDBResult, options: MariaDBResult.PickleOptions) throws(PoolError)
        -> UnsafeBufferPointer<UInt8>
    {
        defer { result.free() }
        statementPickle.begin()
        statementPickle.beginTuple()
        let namesAsBytes = options.contains(.textAsBytes)
        statementPickle.appendNestedPickle { result.appendFields(to: &$0, namesAsBytes: namesAsBytes) }
        let rows = try result.appendRows(to: &statementPickle, maxRows: 0, options: options)
        appendTail(affectedRows: rows, insertID: nil)
        statementPickle.endTuple()
        statementPickle.finish()
        return statementPickle.bytes.withUnsafeBufferPointer { $0 }
    }

    private func appendTail(affectedRows: UInt64, insertID: UInt64?) {
        statementPickle.beginTuple()
        statementPickle.appendUInt64(affectedRows)
        if let insertID { statementPickle.appendUInt64(insertID) } else { statementPickle.appendNone() }
        statementPickle.appendUInt64(UInt64(warningCount))
        statementPickle.appendUInt64(UInt64(serverStatus))
        statementPickle.endTuple()
    }

    /// Ends an outcome whose remaining batches were never asked for (the
    /// reader gave up): its rows are read and dropped.
    func abandonPythonOutcome() {
        settle()
        if let result = pythonOutcome { endPythonOutcome(result) }
    }

    private func endPythonOutcome(_ result: MariaDBResult) {
        pythonOutcome = nil
        result.free()
        pickleBatches.end()
        rawBatches.end()
    }

    func forget(_ result: MariaDBResult) {
        // Usually the only one, or the newest: no generic removal for that.
        if liveResults.last === result {
            liveResults.removeLast()
        } else if let index = liveResults.firstIndex(where: { $0 === result }) {
            liveResults.remove(at: index)
        }
    }

    // MARK: Session

    public func commit() throws(PoolError) {
        try ensureIdleWire()
        try check(mysql_commit(mysql) == 0)
    }

    public func rollback() throws(PoolError) {
        try ensureIdleWire()
        try check(mysql_rollback(mysql) == 0)
    }

    public func setAutocommit(_ on: Bool) throws(PoolError) {
        try ensureIdleWire()
        try check(mysql_autocommit(mysql, on ? 1 : 0) == 0)
    }

    public func ping() throws(PoolError) {
        try ensureIdleWire()
        try check(mysql_ping(mysql) == 0)
    }

    public func selectDatabase(_ name: UnsafePointer<CChar>) throws(PoolError) {
        try ensureIdleWire()
        try check(mysql_select_db(mysql, name) == 0)
    }

    public func setCharset(_ name: UnsafePointer<CChar>) throws(PoolError) {
        try ensureIdleWire()
        try check(mysql_set_character_set(mysql, name) == 0)
    }

    /// Escapes for a quoted literal in the connection's charset; honours
    /// NO_BACKSLASH_ESCAPES. `to` must hold 2 * count + 1 bytes.
    public func escape(_ from: UnsafePointer<CChar>, count: Int, into to: UnsafeMutablePointer<CChar>) throws(PoolError) -> Int {
        let written = mysql_real_escape_string(mysql, to, from, UInt(count))
        guard written != UInt.max else {
            throw PoolError(.badArgument, "cannot escape in charset '\(String(cString: mysql_character_set_name(mysql)))'")
        }
        return Int(written)
    }

    // MARK: Facts (no round trip)

    public var serverStatus: UInt32 { mysql.pointee.server_status }
    public var affectedRows: UInt64 { mysql_affected_rows(mysql) }
    public var insertID: UInt64 { mysql_insert_id(mysql) }
    public var warningCount: UInt32 { mysql_warning_count(mysql) }
    public var fieldCount: UInt32 { mysql_field_count(mysql) }
    /// A non-blocking peek at the socket, no round trip: the server closed it
    /// (EOF), it failed, or the server sent something unasked (the error
    /// packet of a killed or timed-out session) all mean dead. Over TLS only
    /// EOF and errors count: pending bytes there may be TLS housekeeping.
    public var isSocketAlive: Bool {
        let socket = mysql_get_socket(mysql)
        guard socket >= 0, !isBroken else { return false }
        var byte: UInt8 = 0
        let received = recv(socket, &byte, 1, Int32(MSG_PEEK | MSG_DONTWAIT))
        if received == 0 { return false }
        if received > 0 { return usesTLS }
        return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR
    }

    /// `@@global.read_only` (or innodb_read_only), asked with a round trip.
    func isReadOnly() throws(PoolError) -> Bool {
        try firstCell("SELECT @@global.read_only OR @@global.innodb_read_only").map { $0 != "0" } ?? false
    }

    /// Galera: whether the node is Synced (wsrep_local_state 4: not a donor,
    /// desynced or joining); nil for a server that is not a Galera node.
    func isGaleraSynced() throws(PoolError) -> Bool? {
        try firstCell("SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'WSREP_LOCAL_STATE'")
            .map { $0 == "4" }
    }

    /// The first column of the first row as text; nil for no row or NULL.
    private func firstCell(_ sql: StaticString) throws(PoolError) -> String? {
        try query(UnsafeRawBufferPointer(start: sql.utf8Start, count: sql.utf8CodeUnitCount))
        guard let result = try storeResult() else { return nil }
        defer { result.free() }
        guard let row = try result.fetch(), let cell = row.values[0] else { return nil }
        return String(cString: cell)
    }

    var socket: Int32 { Int32(mysql_get_socket(mysql)) }

    public var threadID: UInt64 { UInt64(mysql_thread_id(mysql)) }
    public var serverVersion: UInt64 { UInt64(mysql_get_server_version(mysql)) }
    public var protocolVersion: UInt32 { mysql_get_proto_info(mysql) }
    public var charsetName: UnsafePointer<CChar> { mysql_character_set_name(mysql) }
    public var serverInfo: UnsafePointer<CChar> { UnsafePointer(mysql_get_server_info(mysql)!) }
    public var hostInfo: UnsafePointer<CChar> { UnsafePointer(mysql_get_host_info(mysql)!) }

    // MARK: Pool hooks

    private var isClosed = false

    /// Closes this process's copy of an inherited connection's socket and
    /// nothing else: no COM_QUIT (it would end the parent's session), no
    /// mysql_close (it would send one). The MYSQL structure is left behind on
    /// purpose, a few KB per inherited connection.
    func abandonInheritedSession() {
        guard !isClosed else { return }
        isClosed = true
        let socket = mysql_get_socket(mysql)
        if socket >= 0 { Glibc.close(socket) }
    }

    func close() {
        if isInherited { return abandonInheritedSession() }
        guard !isClosed else { return }
        isClosed = true
        settle()
        abortPendingIO()
        for result in liveResults { result.freeResources() }
        liveResults.removeAll()
        returnStatements(dropAll: true)
        mysql_close(mysql)
    }

    /// A connection dropped without close() (a borrower that never gave it
    /// back) must not leak its socket and buffers.
    deinit {
        close()
    }
}

/// A result set: stored (all rows in memory) or streaming (rows read as
/// fetched). Owned by its connection until freed.
public final class MariaDBResult: @unchecked Sendable {
    var raw: UnsafeMutablePointer<MYSQL_RES>?
    /// A prepared statement's result: its rows, as text (see StatementRows).
    private var statement: PreparedStatement?
    private var statementRows: StatementRows?
    let connection: MariaDBConnection
    public let isStreaming: Bool
    /// A streaming result is exhausted once fetch returned its last row; the
    /// connection may then run other statements.
    public internal(set) var isExhausted = false
    public private(set) var isFreed = false
    var fetched: UInt64 = 0
    /// A tag for the embedding layer (the C API keeps its handle here).
    public var embedderTag: UInt = 0

    init(_ raw: UnsafeMutablePointer<MYSQL_RES>, connection: MariaDBConnection, streaming: Bool) {
        self.raw = raw
        self.connection = connection
        self.isStreaming = streaming
        isExhausted = !streaming
    }

    init(statement: PreparedStatement, rows: StatementRows, connection: MariaDBConnection, streaming: Bool) {
        self.statement = statement
        statementRows = rows
        self.connection = connection
        self.isStreaming = streaming
        isExhausted = !streaming
    }

    public var fieldCount: UInt32 {
        if let raw { return mysql_num_fields(raw) }
        return UInt32(statementRows?.columnCount ?? 0)
    }

    public var rowCount: UInt64 {
        if isStreaming { return fetched }
        if let raw { return mysql_num_rows(raw) }
        return statement.map { mysql_stmt_num_rows($0.stmt) } ?? 0
    }

    public func field(_ index: UInt32) -> UnsafeMutablePointer<MYSQL_FIELD>? {
        guard index < fieldCount else { return nil }
        if let raw { return mysql_fetch_field_direct(raw, index) }
        return statement.map { $0.stmt.pointee.fields + Int(index) }
    }

    /// The next row as libmariadb's arrays (valid until the next fetch), or
    /// nil after the last row.
    public func fetch() throws(PoolError) -> (values: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>,
                                              lengths: UnsafeMutablePointer<UInt>)? {
        if isStreaming {
            if connection.isInherited {
                throw PoolError(.misuse, "this result streams from a connection the parent process opened before fork()")
            }
            if connection.pendingIO != nil {
                throw PoolError(.misuse, "a non-blocking operation is in progress on this result's connection: "
                                    + "finish it first")
            }
        }
        guard let raw else { return try fetchStatementRow() }
        guard let row = mysql_fetch_row(raw) else {
            if isStreaming && connection.errorNumber != 0 { throw connection.currentError() }
            if isStreaming { isExhausted = true }
            return nil
        }
        fetched += 1
        return (row, mysql_fetch_lengths(raw))
    }

    private func fetchStatementRow() throws(PoolError) -> (values: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>,
                                                            lengths: UnsafeMutablePointer<UInt>)? {
        guard let rows = statementRows, let statement else {
            throw PoolError(.wrongHandle, "the result was already freed")
        }
        let (row, failed) = rows.fetch()
        if failed {
            statement.failed = true
            throw connection.statementError(statement.stmt)
        }
        guard row else {
            if isStreaming { isExhausted = true }
            return nil
        }
        fetched += 1
        return (rows.values, rows.lengths)
    }

    public func seek(_ row: UInt64) throws(PoolError) {
        guard !isFreed else { throw PoolError(.wrongHandle, "the result was already freed") }
        guard !isStreaming else { throw PoolError(.misuse, "cannot seek in an unbuffered result") }
        guard row <= rowCount else {
            throw PoolError(.badArgument, "row \(row) is past the end of the result (\(rowCount) rows)")
        }
        if let raw { mysql_data_seek(raw, row) } else if let statement { mysql_stmt_data_seek(statement.stmt, row) }
    }

    /// Options of `pickleRows`.
    public struct PickleOptions: OptionSet, Sendable {
        public let rawValue: UInt32
        public init(rawValue: UInt32) { self.rawValue = rawValue }
        /// Every value as bytes, for callers that convert themselves.
        public static let raw = PickleOptions(rawValue: 1)
        /// Text columns as bytes, for connection charsets that are not UTF-8.
        public static let textAsBytes = PickleOptions(rawValue: 2)
    }

    var pickle = PickleRowEncoder()
    /// The non-blocking batch being gathered (see startPickleRows).
    var batchRows: UInt64 = 0
    var batchLimit: UInt64 = 0
    private(set) var pickleKinds: [PythonColumnKind] = []
    private var pickleKindsOptions: PickleOptions?

    /// The next `maxRows` rows (0: all that are left) as a pickle of a list of
    /// tuples holding Python values as PyMySQL would build them. The bytes
    /// stay valid until the next fetch or free.
    public func pickleRows(maxRows: UInt64, options: PickleOptions) throws(PoolError)
        -> (bytes: UnsafeBufferPointer<UInt8>, rows: UInt64)
    {
        guard !isFreed else { throw PoolError(.wrongHandle, "the result was already freed") }
        pickle.begin()
        let rows = try appendRows(to: &pickle, maxRows: maxRows, options: options)
        pickle.finish()
        // The array is not touched again before the next call or free, so
        // its storage stays where it is while the caller reads it.
        return (pickle.bytes.withUnsafeBufferPointer { $0 }, rows)
    }

    /// The columns as a pickle of the tuple `appendFields` writes; the bytes
    /// stay valid until the next fetch or free.
    public func pickleFields(options: PickleOptions) throws(PoolError) -> UnsafeBufferPointer<UInt8> {
        guard !isFreed else { throw PoolError(.wrongHandle, "the result was already freed") }
        pickle.begin()
        appendFields(to: &pickle, namesAsBytes: options.contains(.textAsBytes))
        pickle.finish()
        return pickle.bytes.withUnsafeBufferPointer { $0 }
    }

    /// Writes up to `maxRows` rows (0: all) as a list of tuples.
    /// Stops early once the encoder holds `maxBytes` bytes.
    func appendRows(to encoder: inout PickleRowEncoder, maxRows: UInt64, maxBytes: Int = .max,
                    options: PickleOptions) throws(PoolError) -> UInt64
    {
        preparePickleKinds(options)
        encoder.beginList()
        var rows: UInt64 = 0
        while maxRows == 0 || rows < maxRows, encoder.count < maxBytes, let row = try fetch() {
            encoder.appendRow(row.values, row.lengths, kinds: pickleKinds)
            rows += 1
        }
        encoder.endList()
        return rows
    }

    /// How each column's values are pickled, worked out once per options.
    func preparePickleKinds(_ options: PickleOptions) {
        guard pickleKindsOptions != options else { return }
        pickleKinds = (0..<fieldCount).map { index in
            let field = self.field(index)!.pointee
            if options.contains(.raw) { return .bytes }
            return PythonColumnKind(type: field.type, charsetnr: field.charsetnr,
                                    textAsBytes: options.contains(.textAsBytes))
        }
        pickleKindsOptions = options
    }

    /// The columns as a tuple of (name, type, charsetnr, length, decimals,
    /// flags, table, org_name, org_table, db) tuples.
    func appendFields(to encoder: inout PickleRowEncoder, namesAsBytes: Bool) {
        encoder.beginTuple()
        for index in 0..<fieldCount {
            let field = self.field(index)!.pointee
            encoder.beginTuple()
            encoder.appendString(field.name, count: Int(field.name_length), asBytes: namesAsBytes)
            encoder.appendUInt64(UInt64(field.type.rawValue))
            encoder.appendUInt64(UInt64(field.charsetnr))
            encoder.appendUInt64(UInt64(field.length))
            encoder.appendUInt64(UInt64(field.decimals))
            encoder.appendUInt64(UInt64(field.flags))
            encoder.appendString(field.table, count: Int(field.table_length), asBytes: namesAsBytes)
            encoder.appendString(field.org_name, count: Int(field.org_name_length), asBytes: namesAsBytes)
            encoder.appendString(field.org_table, count: Int(field.org_table_length), asBytes: namesAsBytes)
            encoder.appendString(field.db, count: Int(field.db_length), asBytes: namesAsBytes)
            encoder.endTuple()
        }
        encoder.endTuple()
    }

    /// The whole outcome as a pickle (see MariaDBConnection.outcomeForPython);
    /// frees the result.
    public func outcomeForPython(options: PickleOptions) throws(PoolError) -> UnsafeBufferPointer<UInt8> {
        guard !isFreed else { throw PoolError(.wrongHandle, "the result was already freed") }
        guard !isStreaming else {
            free()  // as promised: the handle is gone
            throw PoolError(.misuse, "only a stored result's outcome can be encoded at once")
        }
        return try connection.outcomeForPython(of: self, options: options)
    }

    /// Frees the result (a streaming one is read to its end by libmariadb).
    public func free() {
        freeResources()
        connection.forget(self)
    }

    /// The libmariadb result of a streaming result with rows still unread,
    /// taken out of this one (which is then freed without reading them):
    /// the reset drains them, without blocking when it must not block.
    func detachUnreadRows() -> UnsafeMutablePointer<MYSQL_RES>? {
        guard isStreaming, !isExhausted, !connection.isInherited, let rows = raw else { return nil }
        raw = nil
        return rows
    }

    func freeResources() {
        guard !isFreed else { return }
        // Freed while a non-blocking fetch of its rows waits: libmariadb is
        // inside that fetch, so the link is given up first.
        if case .fetchRows(let fetching)? = connection.pendingIO, fetching === self { connection.abortPendingIO() }
        // Freeing a streaming result reads its rest from the socket, which
        // after fork() is the parent's: leave it.
        let mayRead = !(isStreaming && connection.isInherited)
        if let raw {
            if mayRead { mysql_free_result(raw) }
            if isStreaming && connection.errorNumber != 0 { _ = connection.currentError() }
        } else if let statement {
            if mayRead && mysql_stmt_free_result(statement.stmt) != 0 { _ = connection.statementError(statement.stmt) }
            statement.liveResult = nil
        }
        raw = nil
        statement = nil
        statementRows = nil
        isExhausted = true
        isFreed = true
    }
}
