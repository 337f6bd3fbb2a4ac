import CMariaDB
@testable import MySQLPoolCore
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The server named by the MySQL client variables; scripts/server/with-mariadb.sh
/// starts one when none is named. A missing server fails the tests.
private func serverConfiguration(_ extra: [String: String] = [:]) throws -> PoolConfiguration {
    var configuration = PoolConfiguration()
    let environment: [(String, String)] = [
        ("MYSQL_HOST", "host"), ("MYSQL_TCP_PORT", "port"), ("MYSQL_USER", "user"),
        ("MYSQL_PWD", "password"), ("MYSQL_DATABASE", "database"),
    ]
    guard getenv("MYSQL_HOST") != nil else {
        throw PoolError(.badArgument, "MYSQL_HOST is not set: run the tests through scripts/server/with-mariadb.sh")
    }
    for (variable, key) in environment {
        if let value = getenv(variable) { try configuration.set(key, String(cString: value)) }
    }
    for (key, value) in extra { try configuration.set(key, value) }
    return configuration
}

private func makePool(_ extra: [String: String] = [:]) throws -> ConnectionPool<MariaDBFactory> {
    let configuration = try serverConfiguration(extra)
    return try ConnectionPool(settings: try configuration.poolSettings(),
                              factory: MariaDBFactory(configuration: configuration))
}

extension MariaDBConnection {
    func run(_ sql: String) throws {
        var text = sql
        try text.withUTF8 { bytes in try query(UnsafeRawBufferPointer(bytes)) }
        _ = try storeResult()?.free()
    }

    /// The first column of the first row, as text (nil for SQL NULL).
    func value(_ sql: String) throws -> String? {
        var text = sql
        try text.withUTF8 { bytes in try query(UnsafeRawBufferPointer(bytes)) }
        guard let result = try storeResult() else { return nil }
        defer { result.free() }
        guard let row = try result.fetch(), let cell = row.values[0] else { return nil }
        return String(decoding: UnsafeRawBufferPointer(start: cell, count: Int(row.lengths[0])), as: UTF8.self)
    }
}

@Suite(.serialized) struct MariaDBPoolTests {
    @Test func aPooledConnectionRunsQueries() throws {
        let pool = try makePool(["pre_create_num": "1"])
        let slot = try pool.get()
        #expect(try slot.connection.value("SELECT 1+1") == "2")
        #expect(try slot.connection.value("SELECT NULL") == nil)
        try pool.release(slot)
        let stats = pool.stats()
        #expect(stats.created == 1 && stats.idle == 1 && stats.resets == 0)
    }

    @Test func releaseRollsBackAnOpenTransactionAndRestoresAutocommit() throws {
        let pool = try makePool(["size": "1", "maxsize": "1"])
        let slot = try pool.get()
        try slot.connection.run("CREATE TABLE IF NOT EXISTS swift_reset (id INT PRIMARY KEY) ENGINE=InnoDB")
        try slot.connection.run("DELETE FROM swift_reset")
        try slot.connection.setAutocommit(false)
        try slot.connection.run("INSERT INTO swift_reset VALUES (1)")
        #expect(slot.connection.serverStatus & 0x0001 != 0)
        try pool.release(slot)

        let again = try pool.get()
        #expect(again === slot)
        #expect(again.connection.serverStatus & 0x0002 != 0)  // autocommit back on
        #expect(try again.connection.value("SELECT COUNT(*) FROM swift_reset") == "0")
        try again.connection.run("DROP TABLE swift_reset")
        try pool.release(again)
        #expect(pool.stats().resets == 1)
    }

    @Test func aKilledConnectionIsClosedAtRelease() throws {
        let pool = try makePool(["size": "2", "maxsize": "2"])
        let victim = try pool.get(), killer = try pool.get()
        try killer.connection.run("KILL \(victim.connection.threadID)")
        #expect(throws: PoolError.self) { try victim.connection.run("SELECT 1") }
        #expect(victim.connection.isBroken)
        try pool.release(victim)
        try pool.release(killer)
        #expect(pool.stats().closedBroken == 1)
        #expect(pool.stats().total == 1)
    }

    /// A statement the server forgot (closed behind the cache's back, as a
    /// server-side cleanup would) answers 1243 at execute: it is prepared
    /// again once, in place, and the cache keeps serving it.
    @Test func aStatementTheServerForgotIsPreparedAgain() throws {
        let pool = try makePool(["size": "1", "maxsize": "1", "stmt_cache_size": "4"])
        let slot = try pool.get()
        let connection = slot.connection
        var sql = "SELECT ? + 1"
        let statement = try sql.withUTF8 { try connection.prepare(UnsafeRawBufferPointer($0)) }
        try connection.execute(statement, parameters: [.int(41)])
        _ = try connection.storeResult()?.free()
        // COM_STMT_CLOSE for its id, sent as libmariadb sends it (no reply).
        var id = UInt32(truncatingIfNeeded: statement.stmt.pointee.stmt_id).littleEndian
        let sent = withUnsafeBytes(of: &id) { bytes in
            connection.mysql.pointee.methods.pointee.db_command(
                connection.mysql, COM_STMT_CLOSE, bytes.baseAddress!.assumingMemoryBound(to: CChar.self), 4, 1, nil)
        }
        #expect(sent == 0)
        try connection.execute(statement, parameters: [.int(41)])
        let result = try #require(try connection.storeResult())
        let row = try #require(try result.fetch())
        #expect(String(cString: row.values[0]!) == "42")
        result.free()
        connection.closeStatement(statement)
        #expect(connection.statementCounters.snapshot.prepares == 2)
        try pool.release(slot)
    }

    @Test func aWrongPasswordFailsWithTheServersError() throws {
        do {
            _ = try makePool(["password": "definitely-wrong", "pre_create_num": "1"])
            Issue.record("the server should refuse the password")
        } catch let error as PoolError {
            #expect(error.kind == .server && error.serverErrno == 1045 && error.sqlstate == "28000")
            #expect(!error.message.contains("definitely-wrong"))
        }
    }

    @Test func pingOnCheckoutReplacesAConnectionKilledWhileIdle() throws {
        let pool = try makePool(["size": "2", "maxsize": "2"])
        let victim = try pool.get(), killer = try pool.get()
        try killer.connection.run("KILL \(victim.connection.threadID)")
        try pool.release(killer)
        try pool.release(victim)  // clean status: kept without a round trip
        // Most recently used first: the victim's ping fails, the killer's works.
        let slot = try pool.get(ping: true)
        #expect(slot === killer)
        #expect(try slot.connection.value("SELECT 1") == "1")
        try pool.release(slot)
        #expect(pool.stats().closedValidation == 1)
    }

    /// Several MiB of pickle: several batches.
    private static let manyRows = "SELECT seq, REPEAT('x', 100), seq * 0.5 FROM seq_1_to_30000"

    /// Every batch of an outcome, as its bytes.
    private func batches(_ connection: MariaDBConnection, _ sql: String) throws -> [[UInt8]] {
        var all = [try connection.runForPython(sql)]
        while all.count < 100, try connection.continueForPythonOrNil().map({ all.append($0) }) != nil {}
        return all
    }

    @Test func batchesReadAheadAreByteForByteTheBatchesReadInTurn() throws {
        defer { ReadAhead.mode.store(ReadAhead.Mode.auto.rawValue, ordering: .relaxed) }
        let pool = try makePool(["pre_create_num": "1"])
        let slot = try pool.get()
        ReadAhead.mode.store(ReadAhead.Mode.never.rawValue, ordering: .relaxed)
        let inTurn = try batches(slot.connection, Self.manyRows)
        ReadAhead.mode.store(ReadAhead.Mode.always.rawValue, ordering: .relaxed)
        let helpersBefore = ReadAhead.started.load(ordering: .relaxed)
        let readAhead = try batches(slot.connection, Self.manyRows)
        #expect(inTurn.count >= 3)
        #expect(ReadAhead.started.load(ordering: .relaxed) - helpersBefore == inTurn.count - 1)
        #expect(readAhead == inTurn)
        // The connection is idle again: a statement runs.
        #expect(try slot.connection.value("SELECT 7") == "7")
        try pool.release(slot)
        #expect(pool.stats().closedBroken == 0)
    }

    @Test func anOutcomeLeftHalfReadAheadIsDroppedByTheNextStatementOrTheRelease() throws {
        defer { ReadAhead.mode.store(ReadAhead.Mode.auto.rawValue, ordering: .relaxed) }
        ReadAhead.mode.store(ReadAhead.Mode.always.rawValue, ordering: .relaxed)
        let pool = try makePool(["size": "1", "maxsize": "1"])
        let slot = try pool.get()
        _ = try slot.connection.runForPython(Self.manyRows)
        // Other statements wait for the outcome, as with an open unbuffered result.
        let busy = #expect(throws: PoolError.self) { try slot.connection.value("SELECT 1") }
        #expect(busy?.kind == .misuse)
        let otherFlags = #expect(throws: PoolError.self) { _ = try slot.connection.continueForPython(options: .raw) }
        #expect(otherFlags?.kind == .badArgument)
        // The next outcome drops the rest of this one.
        #expect(try batches(slot.connection, "SELECT 42").count == 1)
        _ = try slot.connection.runForPython(Self.manyRows)
        try pool.release(slot)  // while the helper may still be reading
        let again = try pool.get()
        #expect(again === slot)
        #expect(try again.connection.value("SELECT 8") == "8")
        try pool.release(again)
        #expect(pool.stats().closedBroken == 0)
    }
}

extension MariaDBPoolTests {
    @Test func aLinkCutWhileABatchIsReadAheadFailsTheNextBatchAndTheRelease() throws {
        defer { ReadAhead.mode.store(ReadAhead.Mode.auto.rawValue, ordering: .relaxed) }
        ReadAhead.mode.store(ReadAhead.Mode.always.rawValue, ordering: .relaxed)
        let pool = try makePool(["size": "2", "maxsize": "2"])
        let victim = try pool.get(), killer = try pool.get()
        // Far more than the socket buffers hold: the server is still sending.
        _ = try victim.connection.runForPython("SELECT seq, REPEAT('x', 200) FROM seq_1_to_1000000")
        try killer.connection.run("KILL \(victim.connection.threadID)")
        var failure: PoolError?
        for _ in 0..<1000 {
            do throws(PoolError) {
                _ = try victim.connection.continueForPython(options: [])
            } catch {
                failure = error
                break
            }
        }
        #expect(failure?.kind == .server)
        try pool.release(victim)
        try pool.release(killer)
        #expect(pool.stats().closedBroken == 1)
    }
}

extension MariaDBPoolTests {
    /// Every raw batch of `sql`'s outcome (the object builder's), each cell
    /// as its text and what it was read as; and the row count at the end.
    private func rawBatches(_ connection: MariaDBConnection, _ sql: String) throws -> ([[String]], UInt64?) {
        var text = sql
        try text.withUTF8 { bytes in try connection.query(UnsafeRawBufferPointer(bytes)) }
        let result = try #require(try connection.useResult())
        var all: [[String]] = []
        var rows = try connection.nextRawBatch(of: result, options: [], first: true)
        while true {
            let batch = connection.rawBatches.current
            all.append(batch.cells.map { cell in
                cell.count < 0 ? "NULL" : String(decoding: batch.bytes[cell.start..<cell.start + cell.count], as: UTF8.self)
                    + " \(cell.value)"
            })
            guard rows == nil, all.count < 1000 else { return (all, rows) }
            connection.settle()
            rows = try connection.nextRawBatch(of: result, options: [], first: false)
        }
    }

    @Test func rawBatchesReadAheadAreTheRawBatchesReadInTurn() throws {
        defer { ReadAhead.mode.store(ReadAhead.Mode.auto.rawValue, ordering: .relaxed) }
        let sql = "SELECT seq, REPEAT('x', 100), seq * 0.5, CAST('2024-02-29 10:00:00' AS DATETIME) + INTERVAL seq SECOND, "
            + "IF(seq % 7 = 0, NULL, 'y') FROM seq_1_to_30000"
        let pool = try makePool(["pre_create_num": "1"])
        let slot = try pool.get()
        ReadAhead.mode.store(ReadAhead.Mode.never.rawValue, ordering: .relaxed)
        let (inTurn, rowsInTurn) = try rawBatches(slot.connection, sql)
        ReadAhead.mode.store(ReadAhead.Mode.always.rawValue, ordering: .relaxed)
        let helpersBefore = ReadAhead.started.load(ordering: .relaxed)
        let (readAhead, rowsReadAhead) = try rawBatches(slot.connection, sql)
        #expect(inTurn.count >= 3)
        #expect(ReadAhead.started.load(ordering: .relaxed) - helpersBefore == inTurn.count - 1)
        #expect(readAhead == inTurn)
        #expect(rowsInTurn == 30000 && rowsReadAhead == 30000)
        #expect(inTurn.joined().count == 30000 * 5)
        #expect(try slot.connection.value("SELECT 7") == "7")
        try pool.release(slot)
        #expect(pool.stats().closedBroken == 0)
    }
}

extension MariaDBConnection {
    /// The first batch of `sql`'s outcome, as its bytes.
    func runForPython(_ sql: String) throws -> [UInt8] {
        var text = sql
        return try text.withUTF8 { bytes in Array(try runForPython(UnsafeRawBufferPointer(bytes), options: [])) }
    }

    /// The next batch, or nil once the outcome's tail was sent.
    func continueForPythonOrNil() throws -> [UInt8]? {
        do throws(PoolError) {
            return Array(try continueForPython(options: []))
        } catch where error.kind == .misuse {
            return nil
        }
    }
}
