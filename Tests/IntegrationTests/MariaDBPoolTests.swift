import MySQLPoolCore
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The server named by the MySQL client variables; scripts/with-mariadb.sh
/// starts one when none is named. A missing server fails the tests.
private func serverConfiguration(_ extra: [String: String] = [:]) throws -> PoolConfiguration {
    var configuration = PoolConfiguration()
    let environment: [(String, String)] = [
        ("MYSQL_HOST", "host"), ("MYSQL_TCP_PORT", "port"), ("MYSQL_USER", "user"),
        ("MYSQL_PWD", "password"), ("MYSQL_DATABASE", "database"),
    ]
    guard getenv("MYSQL_HOST") != nil else {
        throw PoolError(.badArgument, "MYSQL_HOST is not set: run the tests through scripts/with-mariadb.sh")
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
}
