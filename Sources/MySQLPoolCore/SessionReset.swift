import CMariaDB
#if canImport(Glibc)
import Glibc
#endif

/// One round trip of the reset a connection gets when it is given back.
enum ResetStep {
    /// Reads and drops the rest of a result the borrower left unread.
    case drainRows(UnsafeMutablePointer<MYSQL_RES>)
    /// Moves to the next result of a multi-statement query (to drop it).
    case nextResult
    case resetConnection
    case sessionCommand(Int)
    case rollback
    case autocommit(Bool)
    case characterSet
}

/// What is left of a reset: decided one step at a time from what the server
/// said after the previous one, the same way whether the steps block
/// (`prepareForReuse`) or not (`startReset`).
struct ResetPlan {
    let autocommit: Bool
    /// COM_RESET_CONNECTION, then these; nil for no reset.
    let sessionCommands: [String]?
    var unreadRows: UnsafeMutablePointer<MYSQL_RES>?
    var drainFailed = false
    var connectionReset = false
    var commandsSent = 0
    var rolledBack = false
    var autocommitSet = false
    var characterSetRestored = false
    var neededRoundTrip = false
    /// The step's C string while a non-blocking session command runs
    /// (libmariadb may still be sending it after the start call).
    var command: UnsafeMutablePointer<CChar>?
}

extension MariaDBConnection {
    /// Frees what the borrower left open and resets the session as
    /// pymysql-pool does (rollback, autocommit), plus the character set the
    /// borrower changed through the API, with a round trip only for what the
    /// server status (or libmariadb) says is dirty.
    /// `resetThen`: COM_RESET_CONNECTION, then these session commands; nil
    /// for no reset (the array is not even passed on the common path).
    func prepareForReuse(autocommit: Bool, resetThen sessionCommands: [String]?) -> ReturnCondition {
        if let finished = finishedReset {  // startReset did it already
            finishedReset = nil
            return finished
        }
        var plan = beginReset(autocommit: autocommit, resetThen: sessionCommands)
        while let step = nextResetStep(&plan) {
            let succeeded = runBlocking(step, &plan)
            guard finishStep(step, succeeded: succeeded, &plan) else { return .broken }
        }
        return isBroken ? .broken : .reusable(neededRoundTrip: plan.neededRoundTrip)
    }

    /// prepareForReuse without blocking: `.done` when the reset is over
    /// (its outcome is then `finishedReset`, which the release takes), or
    /// the I/O to wait for before `continueOperation`.
    public func startReset(autocommit: Bool, resetThen sessionCommands: [String]?) throws(PoolError) -> IOStep {
        try enableNonBlocking()
        return driveReset(beginReset(autocommit: autocommit, resetThen: sessionCommands), status: 0)
    }

    /// The work before the first round trip: nothing here waits for the
    /// server (COM_STMT_CLOSE has no answer).
    private func beginReset(autocommit: Bool, resetThen sessionCommands: [String]?) -> ResetPlan {
        var plan = ResetPlan(autocommit: autocommit, sessionCommands: sessionCommands)
        abandonPythonOutcome()
        // Given back in the middle of a non-blocking call (a reset too): closed.
        abortPendingIO()
        finishedReset = nil
        if !liveResults.isEmpty {
            for result in liveResults {
                if let rows = result.detachUnreadRows() { plan.unreadRows = rows }
                result.freeResources()
            }
            liveResults.removeAll(keepingCapacity: true)
        }
        if !lentStatements.isEmpty || currentStatement != nil || sessionCommands != nil {
            // COM_RESET_CONNECTION forgets every statement on the server.
            returnStatements(dropAll: sessionCommands != nil)
        }
        return plan
    }

    /// The next round trip the session needs, or nil when it is clean (or
    /// the link is gone). Unread results go first: the wire must be quiet.
    private func nextResetStep(_ plan: inout ResetPlan) -> ResetStep? {
        if let rows = plan.unreadRows {
            plan.unreadRows = nil
            return .drainRows(rows)
        }
        if !plan.drainFailed && !isBroken {
            if resultPending {
                resultPending = false
                if let raw = mysql_use_result(mysql) { return .drainRows(raw) }
                _ = currentError()
            }
            // mysql_more_results, read from the status without a call.
            if serverStatus & statusMoreResults != 0 { return .nextResult }
        }
        if isBroken { return nil }
        if let commands = plan.sessionCommands {
            // COM_RESET_CONNECTION: temporary tables, user variables, session
            // settings and prepared statements go; the pool's own session
            // settings are put back by the commands and the steps below.
            if !plan.connectionReset { return .resetConnection }
            if plan.commandsSent < commands.count { return .sessionCommand(plan.commandsSent) }
        }
        if !plan.rolledBack && serverStatus & statusInTransaction != 0 { return .rollback }
        if !plan.autocommitSet && (serverStatus & statusAutocommit != 0) != plan.autocommit {
            return .autocommit(plan.autocommit)
        }
        let currentCharset = charsetName
        if !plan.characterSetRestored && currentCharset != openingCharsetName
            && strcmp(currentCharset, openingCharset) != 0 {
            return .characterSet
        }
        return nil
    }

    /// Books a finished step; false when the connection cannot be reused.
    private func finishStep(_ step: ResetStep, succeeded: Bool, _ plan: inout ResetPlan) -> Bool {
        switch step {
        case .drainRows:
            if errorNumber != 0 { _ = currentError() }
            return true
        case .nextResult:
            if succeeded {
                resultPending = mysql_field_count(mysql) > 0
            } else {
                _ = currentError()
                plan.drainFailed = true
            }
            return true
        case .resetConnection: plan.connectionReset = true
        case .sessionCommand: plan.commandsSent += 1
        case .rollback: plan.rolledBack = true
        case .autocommit: plan.autocommitSet = true
        case .characterSet: plan.characterSetRestored = true
        }
        plan.neededRoundTrip = true
        return succeeded
    }

    private func runBlocking(_ step: ResetStep, _ plan: inout ResetPlan) -> Bool {
        switch step {
        case .drainRows(let rows):
            mysql_free_result(rows)
            return true
        case .nextResult: return mysql_next_result(mysql) <= 0
        case .resetConnection: return mysql_reset_connection(mysql) == 0
        case .sessionCommand(let index):
            return plan.sessionCommands![index].withCString { mysql_real_query(mysql, $0, UInt(strlen($0))) == 0 }
        case .rollback: return mysql_rollback(mysql) == 0
        case .autocommit(let on): return mysql_autocommit(mysql, on ? 1 : 0) == 0
        case .characterSet: return mysql_set_character_set(mysql, openingCharset) == 0
        }
    }

    /// Starts `step` without blocking: libmariadb's wait bits (0: finished)
    /// and, when finished, whether it succeeded.
    private func start(_ step: ResetStep, _ plan: inout ResetPlan) -> (status: Int32, succeeded: Bool) {
        var ret: Int32 = 0
        var flag: my_bool = 0
        let status: Int32
        switch step {
        case .drainRows(let rows): status = mysql_free_result_start(rows)
        case .nextResult: status = mysql_next_result_start(&ret, mysql)
        case .resetConnection: status = mysql_reset_connection_start(&ret, mysql)
        case .sessionCommand(let index):
            let command = strdup(plan.sessionCommands![index])!
            plan.command = command
            status = mysql_real_query_start(&ret, mysql, command, UInt(strlen(command)))
        case .rollback: status = mysql_rollback_start(&flag, mysql)
        case .autocommit(let on): status = mysql_autocommit_start(&flag, mysql, on ? 1 : 0)
        case .characterSet: status = mysql_set_character_set_start(&ret, mysql, openingCharset)
        }
        return (status, stepSucceeded(step, ret: ret, flag: flag))
    }

    private func resume(_ step: ResetStep, ready: Int32) -> (status: Int32, succeeded: Bool) {
        var ret: Int32 = 0
        var flag: my_bool = 0
        let status: Int32
        switch step {
        case .drainRows(let rows): status = mysql_free_result_cont(rows, ready)
        case .nextResult: status = mysql_next_result_cont(&ret, mysql, ready)
        case .resetConnection: status = mysql_reset_connection_cont(&ret, mysql, ready)
        case .sessionCommand: status = mysql_real_query_cont(&ret, mysql, ready)
        case .rollback: status = mysql_rollback_cont(&flag, mysql, ready)
        case .autocommit: status = mysql_autocommit_cont(&flag, mysql, ready)
        case .characterSet: status = mysql_set_character_set_cont(&ret, mysql, ready)
        }
        return (status, stepSucceeded(step, ret: ret, flag: flag))
    }

    private func stepSucceeded(_ step: ResetStep, ret: Int32, flag: my_bool) -> Bool {
        switch step {
        case .drainRows: true
        case .nextResult: ret <= 0
        case .rollback, .autocommit: flag == 0
        case .resetConnection, .sessionCommand, .characterSet: ret == 0
        }
    }

    /// Runs steps until one has to wait (`status`: the wait bits of the
    /// step in `pendingIO`, 0 when none is in progress).
    private func driveReset(_ plan: consuming ResetPlan, status: Int32, succeeded: Bool = false) -> IOStep {
        var plan = plan
        var status = status
        var succeeded = succeeded
        while true {
            if status == 0, case .reset(let step)? = pendingIO {
                pendingIO = nil
                if let command = plan.command {
                    free(command)
                    plan.command = nil
                }
                guard finishStep(step, succeeded: succeeded, &plan) else {
                    finishedReset = .broken
                    return .done(nil)
                }
            }
            if status != 0 {
                resetPlan = plan
                return .wait(waitFor(status))
            }
            guard let step = nextResetStep(&plan) else {
                finishedReset = isBroken ? .broken : .reusable(neededRoundTrip: plan.neededRoundTrip)
                return .done(nil)
            }
            pendingIO = .reset(step)
            (status, succeeded) = start(step, &plan)
        }
    }

    /// Goes on with the reset's step in progress (from continueOperation).
    func continueReset(_ step: ResetStep, ready: UInt32) -> IOStep {
        let plan = resetPlan!
        resetPlan = nil
        let (status, succeeded) = resume(step, ready: Int32(ready))
        return driveReset(plan, status: status, succeeded: succeeded)
    }
}
