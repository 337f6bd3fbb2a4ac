/// Everything pool_config_set can set, with the documented defaults. Values
/// arrive as strings (so any FFI can fill them) and are checked here, once.
public struct PoolConfiguration: Sendable {
    // Connection
    public var host = "localhost"
    public var port: UInt32 = 3306
    public var unixSocket: String?
    public var user = ""
    public var password = ""
    public var database: String?
    public var charset = "utf8mb4"
    public var connectTimeout: UInt32 = 10
    public var readTimeout: UInt32 = 0
    public var writeTimeout: UInt32 = 0
    public var initCommand: String?
    public var sqlMode: String?
    public var autocommit = true
    public var localInfile = false
    public var multiStatements = false
    public var clientFlag: UInt64 = 0
    public var ssl = false
    public var sslCA: String?
    public var sslCert: String?
    public var sslKey: String?
    public var sslCipher: String?
    public var sslVerifyCert = false
    public var sslVerifyIdentity = false
    // Pool
    /// nil: 10, or maxsize when that is smaller (a pool of maxsize 1 needs no size=1 too).
    public var size: Int?
    public var maxsize = 100
    public var preCreate = 0
    public var lifetimeSeconds: UInt64 = 3600
    public var closeOverflow = true
    public var getTimeoutMillis: UInt64 = 30_000
    public var overflowAfterMillis: UInt64 = 0
    public var name: String?
    // Health
    public var lifetimeJitter = 0.025
    public var idleTimeoutNanos: UInt64 = 0
    /// nil: no connections are opened in the background.
    public var minIdle: Int?
    public var keepaliveNanos: UInt64 = 0
    public var validationIntervalNanos: UInt64 = 30_000_000_000
    public var validateSocket = true
    public var socketCheckAfterNanos: UInt64 = 1_000_000
    public var prePing = false
    public var resetConnection = false
    public var leakThresholdNanos: UInt64 = 0
    /// Prepared statements kept per connection, and the longest one kept.
    public var statementCacheSize = 32
    public var statementCacheSQLLimit = 2048
    // Several hosts
    public var hostMode = HostMode.sequential
    public var hostDenyNanos: UInt64 = 30_000_000_000
    /// How often the hosts of a replication or loadbalance pool are asked
    /// their role (0: only at connect and after a refused write).
    public var roleCheckNanos: UInt64 = 1_000_000_000

    public init() {}

    /// Sets one key. Errors name the key and, except for the password, the value.
    public mutating func set(_ key: String, _ value: String) throws(PoolError) {
        let field = Field(key: key, value: value)
        switch key {
        case "host":
            host = try field.text(maxBytes: 4096, allowEmpty: false)
            _ = try hostAddresses()
        case "ha_mode":
            guard let mode = HostMode(rawValue: value) else {
                throw field.fail("one of sequential, loadbalance, replication")
            }
            hostMode = mode
        case "host_deny_time": hostDenyNanos = try field.seconds()
        case "role_check_interval": roleCheckNanos = try field.seconds()
        case "port": port = UInt32(try field.integer(1...65535))
        case "unix_socket": unixSocket = try field.optionalText(maxBytes: 4096)
        case "user": user = try field.text(maxBytes: 512)
        case "password": password = try field.text(maxBytes: 4096)
        case "database", "db": database = try field.optionalText(maxBytes: 256)
        case "charset": charset = try field.identifier(maxBytes: 64, allowEmpty: false)
        case "connect_timeout": connectTimeout = UInt32(try field.integer(1...3600))
        case "read_timeout": readTimeout = UInt32(try field.integer(0...31_536_000))
        case "write_timeout": writeTimeout = UInt32(try field.integer(0...31_536_000))
        case "init_command": initCommand = try field.optionalText(maxBytes: 65_535)
        case "sql_mode": sqlMode = try field.identifier(maxBytes: 8192)  // "" sets an empty sql_mode
        case "autocommit": autocommit = try field.boolean()
        case "local_infile": localInfile = try field.boolean()
        case "multi_statements": multiStatements = try field.boolean()
        case "client_flag": clientFlag = UInt64(try field.integer(0...Int(UInt32.max)))
        case "ssl": ssl = try field.boolean()
        case "ssl_ca": sslCA = try field.optionalText(maxBytes: 4096)
        case "ssl_cert": sslCert = try field.optionalText(maxBytes: 4096)
        case "ssl_key": sslKey = try field.optionalText(maxBytes: 4096)
        case "ssl_cipher": sslCipher = try field.optionalText(maxBytes: 4096)
        case "ssl_verify_cert": sslVerifyCert = try field.boolean()
        case "ssl_verify_identity": sslVerifyIdentity = try field.boolean()
        case "size": size = try field.integer(0...100_000)
        case "maxsize": maxsize = try field.integer(1...100_000)
        case "pre_create_num": preCreate = try field.integer(0...100_000)
        case "con_lifetime": lifetimeSeconds = UInt64(try field.integer(0...315_360_000))
        case "close_overflow": closeOverflow = try field.boolean()
        case "get_timeout": getTimeoutMillis = UInt64(try field.integer(0...315_360_000_000))
        case "overflow_after": overflowAfterMillis = UInt64(try field.integer(0...315_360_000_000))
        case "name": name = try field.optionalText(maxBytes: 256)
        case "lifetime_jitter": lifetimeJitter = try field.fraction(maximum: 0.5)
        case "idle_timeout": idleTimeoutNanos = try field.seconds()
        case "min_idle": minIdle = try field.integer(0...100_000)
        case "keepalive_interval": keepaliveNanos = try field.seconds()
        case "validation_interval": validationIntervalNanos = try field.seconds()
        case "validate_socket": validateSocket = try field.boolean()
        case "socket_check_after": socketCheckAfterNanos = try field.seconds()
        case "pre_ping": prePing = try field.boolean()
        case "reset_connection": resetConnection = try field.boolean()
        case "leak_detection_threshold": leakThresholdNanos = try field.seconds()
        case "stmt_cache_size": statementCacheSize = try field.integer(0...100_000)
        case "stmt_cache_sql_limit": statementCacheSQLLimit = try field.integer(0...(1 << 30))
        default:
            throw PoolError(.unknownOption, "unknown configuration key '\(Field.printable(key))'")
        }
    }

    /// `host` as a list: "db1:3306,db2,[::1]:3307"; a host without a port
    /// takes `port`.
    public func hostAddresses() throws(PoolError) -> [HostAddress] {
        var addresses: [HostAddress] = []
        for item in host.split(separator: ",", omittingEmptySubsequences: false) {
            let text = item.trimmingCharacters(of: " ")
            var name = Substring(text), portText: Substring?
            if text.hasPrefix("["), let close = text.firstIndex(of: "]") {  // [IPv6]:port
                name = text[text.index(after: text.startIndex)..<close]
                let rest = text[text.index(after: close)...]
                if rest.hasPrefix(":") { portText = rest.dropFirst() } else if !rest.isEmpty { name = "" }
            } else if let colon = text.lastIndex(of: ":"), text.firstIndex(of: ":") == colon {
                name = text[..<colon]
                portText = text[text.index(after: colon)...]
            }
            let hostPort = portText.map { UInt32($0) } ?? port
            guard !name.isEmpty, name.utf8.count <= 255, let hostPort, (1...65535).contains(hostPort) else {
                throw PoolError(.badArgument, "configuration key 'host': expected host[:port][,host[:port]...], "
                                    + "got '\(Field.printable(host))' ('\(Field.printable(String(text)))' is not host[:port])")
            }
            addresses.append(HostAddress(host: String(name), port: hostPort))
        }
        return addresses
    }

    /// "host-port-user-database", pymysql-pool's default pool name.
    public var effectiveName: String {
        name ?? "\(host)-\(port)-\(user)-\(database ?? "")"
    }

    /// Statements that set up every session (run at connect, and again after
    /// a reset_connection): sql_mode, then init_command.
    public var sessionCommands: [String] {
        (sqlMode.map { ["SET SESSION sql_mode='\($0)'"] } ?? []) + (initCommand.map { [$0] } ?? [])
    }

    public var usesTLS: Bool {
        ssl || sslCA != nil || sslCert != nil || sslKey != nil || sslCipher != nil || sslVerifyCert || sslVerifyIdentity
    }

    /// The pool's settings; ConnectionPool checks the limits, this the TLS rule.
    public func poolSettings() throws(PoolError) -> PoolSettings {
        if sslVerifyCert && sslCA == nil {
            throw PoolError(.badArgument, "ssl_verify_cert needs ssl_ca: there is nothing to verify the server against")
        }
        if let minIdle, minIdle > maxsize {
            throw PoolError(.badArgument, "min_idle must not exceed maxsize (\(maxsize)), got \(minIdle)")
        }
        var limits = PoolLimits(size: size ?? Swift.min(10, maxsize), maxsize: maxsize, lifetimeNanos: lifetimeSeconds * 1_000_000_000,
                                closeOverflow: closeOverflow)
        limits.lifetimeJitter = lifetimeJitter
        limits.idleTimeoutNanos = idleTimeoutNanos
        limits.minIdle = minIdle ?? 0
        limits.keepaliveNanos = keepaliveNanos
        limits.validationIntervalNanos = validationIntervalNanos
        limits.validateSocket = validateSocket
        limits.socketCheckAfterNanos = socketCheckAfterNanos
        limits.prePing = prePing
        limits.leakThresholdNanos = leakThresholdNanos
        return PoolSettings(
            limits: limits,
            name: effectiveName,
            preCreate: preCreate,
            defaultTimeoutNanos: getTimeoutMillis * 1_000_000,
            defaultOverflowAfterNanos: overflowAfterMillis * 1_000_000)
    }
}

/// One key/value pair being parsed, so every message is worded the same way.
private struct Field {
    let key: String
    let value: String

    /// Never echo a secret; keep other echoes short and printable.
    private var shownValue: String {
        key == "password" ? "(hidden)" : "'\(Field.printable(value))'"
    }

    static func printable(_ text: String) -> String {
        let clipped = text.utf8.count > 64 ? String(text.prefix(64)) + "..." : text
        return String(clipped.unicodeScalars.map { $0.value < 0x20 || $0.value == 0x7F ? "?" : Character($0) })
    }

    func fail(_ expectation: String) -> PoolError {
        PoolError(.badArgument, "configuration key '\(key)': expected \(expectation), got \(shownValue)")
    }

    func text(maxBytes: Int, allowEmpty: Bool = true) throws(PoolError) -> String {
        if value.utf8.count > maxBytes { throw fail("at most \(maxBytes) bytes (it has \(value.utf8.count))") }
        if !allowEmpty && value.isEmpty { throw fail("a non-empty value") }
        return value
    }

    /// Empty means "not set".
    func optionalText(maxBytes: Int) throws(PoolError) -> String? {
        let checked = try text(maxBytes: maxBytes)
        return checked.isEmpty ? nil : checked
    }

    /// Letters, digits, '_' and ',': safe to put inside a quoted SET statement.
    func identifier(maxBytes: Int, allowEmpty: Bool = true) throws(PoolError) -> String {
        let checked = try text(maxBytes: maxBytes, allowEmpty: allowEmpty)
        let allowed = checked.utf8.allSatisfy { byte in
            (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
                || byte == UInt8(ascii: "_") || byte == UInt8(ascii: ",")
        }
        if !allowed { throw fail("only letters, digits, '_' and ','") }
        return checked
    }

    func integer(_ range: ClosedRange<Int>) throws(PoolError) -> Int {
        guard let number = Int(value.trimmingSpaces), range.contains(number) else {
            throw fail("an integer from \(range.lowerBound) to \(range.upperBound)")
        }
        return number
    }

    /// Decimal seconds ("30", "0.25", at most 9 decimals, up to 10 years),
    /// as nanoseconds; 0 turns the feature off.
    func seconds() throws(PoolError) -> UInt64 {
        let text = value.trimmingSpaces
        let parts = text.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        let expectation = "seconds as a decimal number from 0 to 315360000 (at most 9 decimals)"
        guard let whole = parts.first, !whole.isEmpty || parts.count == 2, whole.allSatisfy(\.isASCIIDigit),
              whole.count <= 9, let wholeSeconds = whole.isEmpty ? 0 : UInt64(whole), wholeSeconds <= 315_360_000
        else { throw fail(expectation) }
        var nanos: UInt64 = 0
        if parts.count == 2 {
            let fraction = parts[1]
            guard !fraction.isEmpty, fraction.count <= 9, fraction.allSatisfy(\.isASCIIDigit) else { throw fail(expectation) }
            nanos = UInt64(fraction)! * [1, 10, 100, 1000, 10_000, 100_000, 1_000_000, 10_000_000, 100_000_000, 1_000_000_000][9 - fraction.count]
        }
        return wholeSeconds * 1_000_000_000 + nanos
    }

    /// A decimal fraction from 0 to `maximum`.
    func fraction(maximum: Double) throws(PoolError) -> Double {
        let text = value.trimmingSpaces
        guard text.allSatisfy({ $0.isASCIIDigit || $0 == "." }), let number = Double(text), number >= 0,
              number <= maximum
        else { throw fail("a fraction from 0 to \(maximum)") }
        return number
    }

    func boolean() throws(PoolError) -> Bool {
        switch value.trimmingSpaces.lowercased() {
        case "1", "true", "on", "yes": return true
        case "0", "false", "off", "no": return false
        default: throw fail("a boolean (1/0, true/false, on/off, yes/no)")
        }
    }
}

extension StringProtocol {
    func trimmingCharacters(of character: Character) -> SubSequence {
        guard let start = firstIndex(where: { $0 != character }) else { return self[endIndex...] }
        let end = lastIndex(where: { $0 != character })!
        return self[start...end]
    }
}

extension String {
    var trimmingSpaces: Substring {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" }
        guard let start = firstIndex(where: { !isSpace($0) }) else { return "" }
        let end = lastIndex(where: { !isSpace($0) })!
        return self[start...end]
    }
}

extension Character {
    var isASCIIDigit: Bool { isASCII && isNumber }
}
