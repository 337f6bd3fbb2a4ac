/// Every failure the core reports. `kind` maps 1:1 onto the C status codes;
/// `serverErrno`/`sqlstate` carry what the server or libmariadb said.
public struct PoolError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Int32, Sendable {
        case exhausted = 1
        case closed = 2
        case badArgument = 3
        case server = 4
        case wrongHandle = 5
        case unknownOption = 6
        case noMemory = 7
        case misuse = 8
        case `internal` = 9
    }

    public var kind: Kind
    public var message: String
    public var serverErrno: UInt32
    public var sqlstate: String

    public init(_ kind: Kind, _ message: String, serverErrno: UInt32 = 0, sqlstate: String = "HY000") {
        self.kind = kind
        self.message = message
        self.serverErrno = serverErrno
        self.sqlstate = sqlstate
    }

    public var description: String {
        serverErrno == 0 ? message : "(\(serverErrno)) \(message)"
    }

    static func exhausted(_ poolName: String, waitedMilliseconds: UInt64) -> PoolError {
        PoolError(.exhausted,
                  "pool '\(poolName)' has no free connection: waited \(waitedMilliseconds) ms, all busy")
    }

    static func closed(_ poolName: String) -> PoolError {
        PoolError(.closed, "pool '\(poolName)' is closed")
    }
}
