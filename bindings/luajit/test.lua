-- test.lua: bindings/luajit/mysqlpool.lua against the server in MYSQL_*.
--
--   scripts/server/with-mariadb.sh luajit bindings/luajit/test.lua [NAME-SUBSTRING]
--
-- Also checks that the module's ffi.cdef declarations are still those of
-- include/mysqlpool.h (token for token), that example.lua runs and prints
-- what its comments say, and that README.md's Lua quick start is example.lua.
-- Prints "ok"/"FAIL" per test and a last line "N passed, M failed"; exits 1
-- on any failure, including a missing server.
local here = arg[0]:match("^(.*)/[^/]*$") or "."
package.path = here .. "/?.lua;" .. package.path
local root = here .. "/../.."
local luajit = arg[-1] or "luajit"
local only = arg[1]

local ffi = require("ffi")

local passed, failed = 0, 0

local function read_file(path)
    local f = assert(io.open(path, "rb"))
    local text = f:read("*a")
    f:close()
    return text
end

local function show(v)
    if type(v) == "string" then
        return string.format("%q", v)
    end
    return tostring(v)
end

local function eq(actual, expected, what)
    if actual ~= expected then
        error(string.format("%s: expected %s, got %s", what or "value", show(expected), show(actual)), 2)
    end
end

local function truthy(v, what)
    if not v then
        error((what or "condition") .. " is false", 2)
    end
end

-- err must be a mysqlpool error with this status name (and errno when given).
local function is_pool_error(err, name, errno)
    local mysqlpool = require("mysqlpool")
    if not mysqlpool.is_error(err) then
        error("expected a mysqlpool error " .. name .. ", got " .. show(err), 2)
    end
    eq(err.name, name, "error name (" .. tostring(err) .. ")")
    eq(err.code, mysqlpool.status[name], "error code")
    if errno then
        eq(err.errno, errno, "errno (" .. tostring(err) .. ")")
    end
end

-- fn must raise; returns what it raised.
local function raises(fn, ...)
    local ok, err = pcall(fn, ...)
    if ok then
        error("expected an error, got none", 2)
    end
    return err
end

local function test(name, fn)
    if only and not name:find(only, 1, true) then
        return
    end
    local ok, err = xpcall(fn, function(e)
        return debug.traceback(tostring(e), 2)
    end)
    if ok then
        passed = passed + 1
        print("ok   " .. name)
    else
        failed = failed + 1
        print("FAIL " .. name .. "\n  " .. tostring(err):gsub("\n", "\n  "))
    end
end

local function finish()
    print(string.format("%d passed, %d failed", passed, failed))
    os.exit(failed == 0 and 0 or 1)
end

if not os.getenv("MYSQL_HOST") then
    print("test.lua: MYSQL_HOST is not set; run: scripts/server/with-mariadb.sh luajit " .. arg[0])
    failed = 1
    finish()
end

local mysqlpool = require("mysqlpool")
local S = mysqlpool.status

local function server_options(extra)
    local options = {
        host = os.getenv("MYSQL_HOST"),
        port = os.getenv("MYSQL_TCP_PORT"),
        user = os.getenv("MYSQL_USER"),
        password = os.getenv("MYSQL_PWD"),
        database = os.getenv("MYSQL_DATABASE"),
    }
    for k, v in pairs(extra or {}) do
        options[k] = v
    end
    return options
end

ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } test_timespec;
int clock_gettime(int clock_id, test_timespec *tp);
]]
local function now()
    local ts = ffi.new("test_timespec")
    ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC
    return tonumber(ts.tv_sec) + tonumber(ts.tv_nsec) / 1e9
end

-- --- The declarations -------------------------------------------------------------

-- C tokens of `text`, comments and preprocessor lines (with their
-- continuations) removed, POOL_API dropped.
local function c_tokens(text)
    text = text:gsub("/%*.-%*/", " "):gsub("//[^\n]*", " ")
    local lines, continued = {}, false
    for line in (text .. "\n"):gmatch("([^\n]*)\n") do
        if continued or line:match("^%s*#") then
            continued = line:match("\\%s*$") ~= nil
        else
            lines[#lines + 1] = line
        end
    end
    text = table.concat(lines, "\n")
    local tokens, i = {}, 1
    while i <= #text do
        local s, e = text:find("^%s+", i)
        if not s then
            s, e = text:find("^[%w_]+", i)
        end
        if not s then
            s, e = text:find('^"[^"]*"', i)
        end
        if not s then
            s, e = i, i
        end
        local token = text:sub(s, e)
        if not token:match("^%s") and token ~= "POOL_API" then
            tokens[#tokens + 1] = token
        end
        i = e + 1
    end
    return tokens
end

-- The top-level declarations of `text`, each as its tokens joined by spaces.
local function declarations(text)
    local result, current, depth = {}, {}, 0
    for _, token in ipairs(c_tokens(text)) do
        current[#current + 1] = token
        if token == "{" then
            depth = depth + 1
        elseif token == "}" then
            depth = depth - 1
        elseif token == ";" and depth == 0 then
            result[#result + 1] = table.concat(current, " ")
            current = {}
        end
    end
    return result
end

local header = " " .. table.concat(c_tokens(read_file(root .. "/include/mysqlpool.h")), " ") .. " "
local function in_header(declaration)
    return header:find(" " .. declaration .. " ", 1, true) ~= nil
end

test("every ffi.cdef declaration is the header's, token for token", function()
    local decls = declarations(mysqlpool.cdef)
    truthy(#decls >= 30, "at least 30 declarations (found " .. #decls .. ")")
    local drifted = {}
    for _, declaration in ipairs(decls) do
        if not in_header(declaration) then
            drifted[#drifted + 1] = declaration
        end
    end
    if #drifted > 0 then
        error("not in include/mysqlpool.h (copy them again from the header):\n    " ..
            table.concat(drifted, "\n    "))
    end
    -- The check can fail: a changed type or a missing field is noticed.
    truthy(not in_header((decls[1]:gsub("int", "long", 1))), "a retyped declaration is caught")
    local stats = declarations(mysqlpool.cdef:match("typedef struct pool_stats_s.-pool_stats_t;"))[1]
    truthy(in_header(stats), "pool_stats_t is found")
    truthy(not in_header((stats:gsub(" uint64_t leaks ;", ""))), "a dropped field is caught")
end)

test("version: the module's expected number is the header's and the library's", function()
    local number = tonumber(read_file(root .. "/include/mysqlpool.h"):match("#define POOL_VERSION_NUMBER (%d+)"))
    eq(mysqlpool.EXPECTED_VERSION_NUMBER, number, "EXPECTED_VERSION_NUMBER")
    eq(mysqlpool.C.pool_version_number(), number, "pool_version_number()")
    eq(mysqlpool.version(), read_file(root .. "/include/mysqlpool.h"):match('#define POOL_VERSION_STRING "([^"]+)"'))
    eq(S.POOL_E_EXHAUSTED, 1, "POOL_E_EXHAUSTED")
    eq(S.POOL_E_WRONG_HANDLE, 5, "POOL_E_WRONG_HANDLE")
    eq(S.POOL_DONE, 101, "POOL_DONE")
end)

-- --- Queries -------------------------------------------------------------------------

test("SELECT of several types: strings, binary bytes, NULL as nil, column names", function()
    local pool = mysqlpool.new(server_options { size = 1, maxsize = 2 })
    local rows, info = pool:with_connection(function(conn)
        return conn:query("SELECT 42 AS i, -7 AS neg, 3.14 AS d, 1.5e0 AS f, 'h\195\169llo' AS s, " ..
            "NULL AS n, DATE '2024-02-29' AS dt, TIMESTAMP '2024-02-29 12:34:56' AS ts, " ..
            "X'00FF41' AS b, CAST(18446744073709551615 AS UNSIGNED) AS big, '' AS empty")
    end)
    eq(#rows, 1, "row count")
    eq(table.concat(rows.columns, ","), "i,neg,d,f,s,n,dt,ts,b,big,empty", "columns")
    local row = rows[1]
    eq(row[1], "42")
    eq(row[2], "-7")
    eq(row[3], "3.14")
    eq(row[4], "1.5")
    eq(row[5], "h\195\169llo")
    eq(row[6], nil, "NULL")
    eq(row[7], "2024-02-29")
    eq(row[8], "2024-02-29 12:34:56")
    eq(row[9], "\0\255A", "binary value with a NUL byte")
    eq(row[10], "18446744073709551615")
    eq(row[11], "", "empty string (not NULL)")
    eq(info.affected_rows, 1, "affected_rows of a SELECT")
    pool:destroy()
end)

test("query binds its extra arguments to ? placeholders", function()
    local pool = mysqlpool.new(server_options { size = 1, maxsize = 1 })
    pool:with_connection(function(conn)
        local nasty = "it's \"quoted\" \\ and \0 NUL'; DROP TABLE x; --"
        local rows = conn:query("SELECT ?, ?, ?, ?, ?, ?, HEX(?), '?', ? -- ?", nasty, 42, 2.5, nil, true,
            ffi.new("uint64_t", 18446744073709551615ULL), mysqlpool.binary("\0\255A"), -7)
        local row = rows[1]
        eq(row[1], nasty, "text, unchanged")
        eq(row[2], "42")
        eq(row[3], "2.5")
        eq(row[4], nil, "nil is NULL")
        eq(row[5], "1", "true")
        eq(row[6], "18446744073709551615", "uint64_t cdata")
        eq(row[7], "00FF41", "mysqlpool.binary")
        eq(row[8], "?", "a ? in a string is no placeholder")
        eq(row[9], "-7")
        local ok, err = pcall(conn.query, conn, "SELECT ?, ?", 1)
        truthy(not ok, "refused")
        eq(err.name, "POOL_E_BAD_ARGUMENT")
        truthy(err.message:find("2 placeholder(s) but 1 parameter(s)", 1, true), err.message)
        ok, err = pcall(conn.query, conn, "SELECT ?", {})
        truthy(not ok, "refused")
        truthy(tostring(err):find("cannot bind a table", 1, true), tostring(err))
        eq(conn:query("SELECT ? + 1", 1)[1][1], "2", "the connection still works")
    end)
    pool:destroy()
end)

test("several rows, statements without a result set, info, escaping", function()
    local pool = mysqlpool.new(server_options { size = 1, maxsize = 1 })
    pool:with_connection(function(conn)
        local rows = conn:query("SELECT 1 AS n UNION ALL SELECT NULL UNION ALL SELECT 3")
        eq(#rows, 3, "rows")
        eq(rows[1][1], "1")
        eq(rows[2][1], nil)
        eq(rows[3][1], "3")
        local none, info = conn:query("CREATE TEMPORARY TABLE lua_t (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(20))")
        eq(none, nil, "rows of CREATE")
        none, info = conn:query("INSERT INTO lua_t (v) VALUES ('a'), (NULL)")
        eq(none, nil, "rows of INSERT")
        eq(info.affected_rows, 2, "affected_rows")
        eq(info.insert_id, 1, "insert_id")
        rows = conn:query("SELECT id, v FROM lua_t ORDER BY id")
        eq(#rows, 2)
        eq(rows[1][1], "1")
        eq(rows[1][2], "a")
        eq(rows[2][1], "2")
        eq(rows[2][2], nil)
        local nasty = "it's \"quoted\" \\ and \0 NUL; DROP TABLE lua_t; --"
        local escaped = conn:escape(nasty)
        truthy(escaped:find("\\'", 1, true), "quote escaped")
        eq(conn:query("SELECT '" .. escaped .. "'")[1][1], nasty, "round trip through escape")
        conn:ping()
    end)
    pool:destroy()
end)

test("a syntax error is POOL_E_SERVER with errno 1064; the connection stays usable", function()
    local pool = mysqlpool.new(server_options { size = 1, maxsize = 1 })
    pool:with_connection(function(conn)
        local err = raises(conn.query, conn, "SELEC 1")
        is_pool_error(err, "POOL_E_SERVER", 1064)
        eq(err.sqlstate, "42000", "sqlstate")
        truthy(err.message:find("SQL syntax", 1, true), "message names the syntax error: " .. err.message)
        local text = tostring(err)
        truthy(text:find("1064", 1, true) and text:find("POOL_E_SERVER", 1, true), "tostring: " .. text)
        eq(conn:query("SELECT 2")[1][1], "2", "next statement")
    end)
    local err = raises(pool.with_connection, pool, function(conn)
        conn:query("INSERT INTO no_such_table VALUES (1)")
    end)
    is_pool_error(err, "POOL_E_SERVER", 1146)
    pool:destroy()
end)

test("wrong password: pool_create fails with errno 1045", function()
    local err = raises(mysqlpool.new, server_options { password = "not-the-password", pre_create_num = 1,
        size = 1, maxsize = 1 })
    is_pool_error(err, "POOL_E_SERVER", 1045)
    truthy(not err.message:find("not-the-password", 1, true), "the password is not in the message")
end)

-- --- Pool behaviour ----------------------------------------------------------------

test("with_connection releases on success and on error, and passes results and errors through", function()
    local pool = mysqlpool.new(server_options { size = 1, maxsize = 1 })
    local a, b, c = pool:with_connection(function(conn)
        return conn:query("SELECT 5")[1][1], nil, "third"
    end)
    eq(a, "5")
    eq(b, nil)
    eq(c, "third", "all of fn's results")
    eq(pool:stats().in_use, 0, "in_use after success")

    local marker = { "my error" }
    local err = raises(pool.with_connection, pool, function()
        error(marker)
    end)
    truthy(rawequal(err, marker), "the very error object fn raised")
    eq(pool:stats().in_use, 0, "in_use after an error")
    err = raises(pool.with_connection, pool, function()
        error("plain string", 0)
    end)
    eq(err, "plain string")

    -- An open transaction is rolled back by the release after an error.
    pool:with_connection(function(conn)
        conn:query("CREATE TABLE IF NOT EXISTS lua_tx (v INT)")
        conn:query("DELETE FROM lua_tx")
    end)
    raises(pool.with_connection, pool, function(conn)
        conn:query("START TRANSACTION")
        conn:query("INSERT INTO lua_tx VALUES (1)")
        error("abort")
    end)
    pool:with_connection(function(conn)
        eq(conn:query("SELECT COUNT(*) FROM lua_tx")[1][1], "0", "rows after the rolled-back transaction")
        conn:query("DROP TABLE lua_tx")
    end)

    -- fn may release the connection itself.
    pool:with_connection(function(conn)
        conn:release()
    end)
    local stats = pool:stats()
    eq(stats.in_use, 0)
    eq(stats.gets, stats.releases, "gets == releases")
    pool:destroy()
end)

test("maxsize 1: a second get with a short timeout is POOL_E_EXHAUSTED", function()
    local pool = mysqlpool.new(server_options { size = 1, maxsize = 1 })
    local first = pool:get(5000)
    local started = now()
    local err = raises(pool.get, pool, 200)
    local waited = now() - started
    is_pool_error(err, "POOL_E_EXHAUSTED", 0)
    truthy(waited >= 0.15 and waited < 5, string.format("waited about 200 ms (%.3f s)", waited))
    is_pool_error(raises(pool.get, pool, 0), "POOL_E_EXHAUSTED")
    local stats = pool:stats()
    eq(stats.timeouts, 2, "timeouts")
    eq(stats.in_use, 1, "in_use")
    eq(stats.total, 1, "total")
    first:release()
    local second = pool:get(0)
    eq(second:query("SELECT 1")[1][1], "1")
    pool:release(second)
    pool:destroy()
end)

test("stats counters follow gets, releases, discards and the options", function()
    local pool = mysqlpool.new(server_options { size = 3, maxsize = 4, pre_create_num = 2, name = "luapool" })
    eq(pool:name(), "luapool")
    local stats = pool:stats()
    eq(stats.total, 2, "total")
    eq(stats.idle, 2, "idle")
    eq(stats.created, 2, "created")
    eq(stats.size, 3, "size")
    eq(stats.maxsize, 4, "maxsize")
    eq(stats.gets, 0, "gets")
    eq(stats.struct_size, nil, "struct_size is not a counter")
    for _, name in ipairs { "in_use", "waiting", "timeouts", "leaks", "wait_time_ns", "closed_discarded" } do
        eq(type(stats[name]), "number", name)
    end
    local a, b, c = pool:get(), pool:get(), pool:get()
    stats = pool:stats()
    eq(stats.in_use, 3, "in_use")
    eq(stats.total, 3, "total")
    eq(stats.created, 3, "created")
    a:release()
    pool:release(b)
    c:discard()
    stats = pool:stats()
    eq(stats.gets, 3, "gets")
    eq(stats.releases, 3, "releases")
    eq(stats.closed_discarded, 1, "closed_discarded")
    eq(stats.in_use, 0, "in_use")
    eq(stats.total, 2, "total after the discard")
    pool:close()
    is_pool_error(raises(pool.get, pool, 0), "POOL_E_CLOSED")
    eq(pool:stats().closed_shutdown, 2, "closed_shutdown (stats work after close)")
    pool:destroy()
end)

test("options: numbers and booleans converted, unknown keys and bad values raised", function()
    local pool = mysqlpool.new(server_options { autocommit = false, size = 1, maxsize = 1, port =
        tonumber(os.getenv("MYSQL_TCP_PORT")), lifetime_jitter = 0.25 })
    pool:with_connection(function(conn)
        eq(conn:query("SELECT @@autocommit")[1][1], "0", "autocommit=false")
    end)
    pool:destroy()
    local err = raises(mysqlpool.new, server_options { no_such_option = 1 })
    is_pool_error(err, "POOL_E_UNKNOWN_OPTION", 0)
    truthy(err.message:find("no_such_option", 1, true), "message names the key: " .. err.message)
    err = raises(mysqlpool.new, server_options { maxsize = "lots" })
    is_pool_error(err, "POOL_E_BAD_ARGUMENT")
    truthy(err.message:find("maxsize", 1, true), "message names the key: " .. err.message)
    is_pool_error(raises(mysqlpool.new, server_options { maxsize = {} }), "POOL_E_BAD_ARGUMENT")
    is_pool_error(raises(mysqlpool.new, server_options { size = 5, maxsize = 2 }), "POOL_E_BAD_ARGUMENT")
end)

-- --- Bad handles -------------------------------------------------------------------

test("bad handles give POOL_E_WRONG_HANDLE, not a crash", function()
    local pool = mysqlpool.new(server_options { size = 1, maxsize = 2 })
    local other = mysqlpool.new(server_options { size = 1, maxsize = 1 })
    local conn = pool:get()
    conn:release()
    is_pool_error(raises(conn.query, conn, "SELECT 1"), "POOL_E_WRONG_HANDLE", 0)
    is_pool_error(raises(conn.release, conn), "POOL_E_WRONG_HANDLE")
    is_pool_error(raises(pool.release, pool, conn), "POOL_E_WRONG_HANDLE")

    -- A connection given back to the wrong pool: refused, nothing changes.
    local foreign = other:get()
    is_pool_error(raises(pool.release, pool, foreign), "POOL_E_WRONG_HANDLE")
    foreign:release()

    -- Made-up and NULL handles straight through the FFI.
    local C = mysqlpool.C
    local made_up = ffi.cast("pool_conn_t *", 0x5eed1234)
    eq(C.pool_query(made_up, "SELECT 1", 8), S.POOL_E_WRONG_HANDLE, "pool_query(made-up)")
    eq(C.pool_last_error_code(), S.POOL_E_WRONG_HANDLE, "pool_last_error_code")
    local stats = ffi.new("pool_stats_t")
    eq(C.pool_stats(nil, stats, ffi.sizeof(stats)), S.POOL_E_WRONG_HANDLE, "pool_stats(NULL)")
    eq(C.pool_stats(ffi.cast("pool_t *", 0x7777), stats, ffi.sizeof(stats)), S.POOL_E_WRONG_HANDLE,
        "pool_stats(made-up)")
    eq(C.pool_release(pool.ptr, made_up), S.POOL_E_WRONG_HANDLE, "pool_release(made-up)")
    local fake = setmetatable({ ptr = made_up, pool = pool, released = false }, mysqlpool.Connection)
    is_pool_error(raises(fake.query, fake, "SELECT 1"), "POOL_E_WRONG_HANDLE")

    -- A destroyed pool.
    other:destroy()
    is_pool_error(raises(other.get, other, 0), "POOL_E_WRONG_HANDLE")
    is_pool_error(raises(other.stats, other), "POOL_E_WRONG_HANDLE")
    other:destroy() -- twice: harmless

    eq(pool:get():query("SELECT 'still fine'")[1][1], "still fine")
    pool:destroy()
end)

-- --- Loading, the example, the README ----------------------------------------------

local function shell_quote(s)
    return "'" .. s:gsub("'", "'\\''") .. "'"
end

local function run(command)
    local p = assert(io.popen(command .. " 2>&1"))
    local output = p:read("*a")
    p:close()
    return output
end

test("MYSQLPOOL_LIBRARY names the library; a wrong path is a clear error", function()
    local snippet = "package.path = " .. string.format("%q", here .. "/?.lua;") ..
        " .. package.path; local m = require('mysqlpool'); print('loaded ' .. m.library_path)"
    local output = run("MYSQLPOOL_LIBRARY=/nonexistent/libmysqlpool.so " .. shell_quote(luajit) ..
        " -e " .. shell_quote(snippet))
    truthy(output:find("cannot load MYSQLPOOL_LIBRARY=/nonexistent/libmysqlpool.so", 1, true), output)
    local library = root .. "/.build/release/libmysqlpool.so"
    output = run("MYSQLPOOL_LIBRARY=" .. shell_quote(library) .. " " .. shell_quote(luajit) ..
        " -e " .. shell_quote(snippet))
    eq(output, "loaded " .. library .. "\n")
end)

local example_path = here .. "/example.lua"

test("example.lua prints what its comments say", function()
    local expected = {}
    for line in read_file(example_path):gmatch("[^\n]+") do
        local comment = line:match("^%s*print%(.*%)%s*%-%-%s*(.-)%s*$")
        if comment then
            expected[#expected + 1] = comment:gsub("%s+", " ")
        end
    end
    truthy(#expected >= 3, "print lines with an expected-output comment")
    local output = run("LUA_PATH=" .. shell_quote(here .. "/?.lua;;") .. " " .. shell_quote(luajit) ..
        " " .. shell_quote(example_path))
    local actual = {}
    for line in output:gmatch("[^\n]+") do
        actual[#actual + 1] = line:gsub("%s+", " ")
    end
    eq(table.concat(actual, "\n"), table.concat(expected, "\n"), "output of example.lua")
end)

test("README.md's Lua quick start is example.lua", function()
    local readme = read_file(root .. "/README.md")
    local section = readme:match("\n## Lua %(LuaJIT FFI%)\n(.-)\n## ")
    truthy(section, "README has a '## Lua (LuaJIT FFI)' section")
    local block = section:match("```lua\n(.-)```")
    truthy(block, "the section has a ```lua block")
    eq(block, read_file(example_path), "README block vs bindings/luajit/example.lua")
end)

finish()
