-- mysqlpool.lua: libmysqlpool for LuaJIT, through its FFI (no C module to build).
--
--   local mysqlpool = require("mysqlpool")
--   local pool = mysqlpool.new{ host = "127.0.0.1", user = "app", maxsize = 10 }
--   pool:with_connection(function(conn)
--       local rows = conn:query("SELECT 1, NULL")   -- rows[1] = { "1", nil }
--       conn:query("SELECT * FROM t WHERE name = ? AND id > ?", name, 10)  -- bound, never pasted
--   end)
--   print(pool:stats().gets)
--   pool:destroy()
--
-- The library is loaded from $MYSQLPOOL_LIBRARY, else from the checkout's
-- .build/release/libmysqlpool.so (make build), else as libmysqlpool.so.0 from
-- the system's library path (make install).
--
-- Values come back as the server's text: every column is a Lua string
-- (binary-safe) or nil for SQL NULL; row i, column j is rows[i][j], and
-- rows.columns holds the column names (#rows.columns is the column count,
-- since nil values leave holes in a row).
--
-- Errors are raised as tables (catch them with pcall):
--   { code = 4, name = "POOL_E_SERVER", errno = 1064, sqlstate = "42000",
--     message = "You have an error in your SQL syntax; ..." }
-- tostring(err) gives one line with all of it. code is an enum pool_status
-- value (mysqlpool.status.POOL_E_EXHAUSTED, ...); errno and sqlstate are the
-- server's (0 and "HY000" when the failure was not the server's).
--
-- Threads: LuaJIT states are single-threaded; the library's thread-local last
-- error is read right after each failing call.
local ffi = require("ffi")

local M = {}

-- POOL_VERSION_NUMBER of the include/mysqlpool.h these declarations come from.
M.EXPECTED_VERSION_NUMBER = 1000

-- Copied from include/mysqlpool.h, declaration for declaration, without
-- POOL_API and comments; bindings/luajit/test.lua checks that each one is
-- still in the header, token for token.
M.cdef = [[
int pool_version_number(void);
const char *pool_version(void);

enum pool_status {
    POOL_OK = 0,
    POOL_E_EXHAUSTED = 1,
    POOL_E_CLOSED = 2,
    POOL_E_BAD_ARGUMENT = 3,
    POOL_E_SERVER = 4,
    POOL_E_WRONG_HANDLE = 5,
    POOL_E_UNKNOWN_OPTION = 6,
    POOL_E_NO_MEMORY = 7,
    POOL_E_MISUSE = 8,
    POOL_E_INTERNAL = 9,
    POOL_ROW = 100,
    POOL_DONE = 101,
    POOL_WAIT = 102
};

const char *pool_strerror(int code);
int pool_last_error_code(void);
unsigned int pool_last_errno(void);
const char *pool_last_sqlstate(void);
const char *pool_last_error(void);

typedef struct pool_config_s pool_config_t;
pool_config_t *pool_config_new(void);
int pool_config_set(pool_config_t *config, const char *key, const char *value);
void pool_config_free(pool_config_t *config);

typedef struct pool_s pool_t;
typedef struct pool_conn_s pool_conn_t;
int pool_create(const pool_config_t *config, pool_t **out_pool);
int pool_close(pool_t *pool);
void pool_destroy(pool_t *pool);
int pool_get_conn(pool_t *pool, int64_t timeout_ms, pool_conn_t **out_conn);
int pool_release(pool_t *pool, pool_conn_t *conn);
int pool_discard(pool_t *pool, pool_conn_t *conn);
const char *pool_name(pool_t *pool);

typedef struct pool_stats_s {
    uint64_t struct_size;
    uint64_t total;
    uint64_t idle;
    uint64_t in_use;
    uint64_t opening;
    uint64_t waiting;
    uint64_t size;
    uint64_t maxsize;
    uint64_t created;
    uint64_t connect_failures;
    uint64_t closed_lifetime;
    uint64_t closed_broken;
    uint64_t closed_overflow;
    uint64_t closed_discarded;
    uint64_t closed_shutdown;
    uint64_t gets;
    uint64_t releases;
    uint64_t wait_count;
    uint64_t wait_time_ns;
    uint64_t max_wait_ns;
    uint64_t timeouts;
    uint64_t resets;
    uint64_t closed_idle;
    uint64_t closed_validation;
    uint64_t pings;
    uint64_t leaks;
    uint64_t stmt_prepares;
    uint64_t stmt_cache_hits;
    uint64_t stmt_evictions;
} pool_stats_t;
int pool_stats(pool_t *pool, pool_stats_t *out, size_t out_size);

typedef struct pool_result_s pool_result_t;
int pool_query(pool_conn_t *conn, const char *sql, size_t length);
typedef struct pool_time_s {
    int negative;
    unsigned int year, month, day;
    unsigned int hour, minute, second;
    unsigned int microsecond;
} pool_time_t;
typedef struct pool_param_s {
    int type;
    union {
        int64_t i64;
        uint64_t u64;
        double f64;
        struct {
            const char *data;
            size_t length;
        } bytes;
        pool_time_t time;
    } value;
} pool_param_t;
int pool_query_params(pool_conn_t *conn, const char *sql, size_t sql_len, size_t n_params,
                               const pool_param_t *params);
int pool_store_result(pool_conn_t *conn, pool_result_t **out_result);
int pool_next_result(pool_conn_t *conn);

typedef struct pool_conn_info_s {
    uint64_t struct_size;
    uint64_t affected_rows;
    uint64_t insert_id;
    uint64_t thread_id;
    uint64_t server_version;
    uint32_t warning_count;
    uint32_t server_status;
    uint32_t field_count;
    uint32_t protocol_version;
} pool_conn_info_t;
int pool_conn_info(pool_conn_t *conn, pool_conn_info_t *out, size_t out_size);
int pool_ping(pool_conn_t *conn);
int pool_escape(pool_conn_t *conn, const char *from, size_t from_len,
                char *to, size_t to_size, size_t *out_len);

typedef struct pool_field_s {
    uint64_t struct_size;
    const char *name;
    const char *org_name;
    const char *table;
    const char *org_table;
    const char *db;
    uint64_t name_length;
    uint64_t org_name_length;
    uint64_t table_length;
    uint64_t org_table_length;
    uint64_t db_length;
    uint64_t length;
    uint64_t max_length;
    uint32_t type;
    uint32_t flags;
    uint32_t charsetnr;
    uint32_t decimals;
} pool_field_t;
uint32_t pool_result_field_count(pool_result_t *result);
int pool_result_field(pool_result_t *result, uint32_t index, pool_field_t *out,
                      size_t out_size);
int pool_result_fetch(pool_result_t *result, const char *const **values,
                      const size_t **lengths);
void pool_result_free(pool_result_t *result);
]]

ffi.cdef(M.cdef)

-- Status codes by name and names by code, from the enum above.
M.status = {}
local status_names = {}
for name, value in M.cdef:match("enum pool_status {(.-)}"):gmatch("(POOL_[%u_]+) = (%d+)") do
    M.status[name] = tonumber(value)
    status_names[tonumber(value)] = name
end
local S = M.status

-- Loading -----------------------------------------------------------------------

local function file_exists(path)
    local f = io.open(path, "rb")
    if f then
        f:close()
        return true
    end
    return false
end

local function load_library()
    local override = os.getenv("MYSQLPOOL_LIBRARY")
    if override and override ~= "" then
        local ok, lib = pcall(ffi.load, override)
        if not ok then
            error("mysqlpool: cannot load MYSQLPOOL_LIBRARY=" .. override .. ": " .. tostring(lib), 0)
        end
        return lib, override
    end
    local here = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "."
    local checkout = here .. "/../../.build/release/libmysqlpool.so"
    if file_exists(checkout) then
        return ffi.load(checkout), checkout
    end
    local ok, lib = pcall(ffi.load, "libmysqlpool.so.0")
    if ok then
        return lib, "libmysqlpool.so.0"
    end
    error("mysqlpool: libmysqlpool not found; tried " .. checkout .. " and libmysqlpool.so.0 (" ..
        tostring(lib) .. "). Build it with `make build` (or `make install` it), " ..
        "or point MYSQLPOOL_LIBRARY at it.", 0)
end

local C
C, M.library_path = load_library()
M.C = C -- the raw functions, for what this module does not wrap

if C.pool_version_number() ~= M.EXPECTED_VERSION_NUMBER then
    error(string.format("mysqlpool: written for libmysqlpool %d, %s is %d (%s): rebuild with `make build`",
        M.EXPECTED_VERSION_NUMBER, M.library_path, C.pool_version_number(), ffi.string(C.pool_version())), 0)
end

function M.version()
    return ffi.string(C.pool_version())
end

function M.strerror(code)
    return ffi.string(C.pool_strerror(code))
end

-- Errors ------------------------------------------------------------------------

local Error = {}
Error.__index = Error
Error.__tostring = function(e)
    local s = string.format("mysqlpool: %s (%d): %s", e.name, e.code, e.message)
    if e.errno ~= 0 then
        s = s .. string.format(" [errno %d, SQLSTATE %s]", e.errno, e.sqlstate)
    end
    return s
end
M.Error = Error

function M.is_error(value)
    return getmetatable(value) == Error
end

-- Raises the calling thread's last error, reported by a call that returned `code`.
local function raise(code)
    local errno = tonumber(C.pool_last_errno())
    local sqlstate = ffi.string(C.pool_last_sqlstate())
    local message = ffi.string(C.pool_last_error())
    error(setmetatable({
        code = code,
        name = status_names[code] or "unknown",
        errno = errno,
        sqlstate = sqlstate,
        message = message ~= "" and message or M.strerror(code),
    }, Error), 0)
end

-- An error made on this side (never reaches the library).
local function raise_local(code, message)
    error(setmetatable({ code = code, name = status_names[code], errno = 0, sqlstate = "HY000",
        message = message }, Error), 0)
end

local function check(code)
    if code ~= S.POOL_OK then
        raise(code)
    end
end

-- Struct fields by name, from the declarations above (uint64_t/uint32_t only),
-- for the fields `struct_size` says the library filled in.
local function struct_fields(typedef)
    local body = M.cdef:match("typedef struct [%w_]+ {([^{}]*)} " .. typedef .. ";")
    local fields = {}
    for bits, name in body:gmatch("uint(%d+)_t%s+([%w_]+);") do
        if name ~= "struct_size" then
            fields[#fields + 1] = { name = name, size = tonumber(bits) / 8 }
        end
    end
    return fields
end
local stats_fields = struct_fields("pool_stats_t")
local info_fields = struct_fields("pool_conn_info_t")

local function struct_to_table(ctype, value, fields)
    local filled = tonumber(value.struct_size)
    local t = {}
    for _, field in ipairs(fields) do
        if ffi.offsetof(ctype, field.name) + field.size <= filled then
            t[field.name] = tonumber(value[field.name])
        end
    end
    return t
end

-- Connections ---------------------------------------------------------------------

local Connection = {}
Connection.__index = Connection
M.Connection = Connection

-- Parameter types of pool_query_params (enum pool_param_type).
local PARAM_NULL, PARAM_INT64, PARAM_UINT64, PARAM_DOUBLE, PARAM_TEXT, PARAM_BINARY = 0, 1, 2, 3, 4, 5
local int64_t, uint64_t = ffi.typeof("int64_t"), ffi.typeof("uint64_t")

-- mysqlpool.binary(s): a parameter sent as bytes (X'...'), not as text.
local Binary = {}
function M.binary(bytes)
    return setmetatable({ bytes = bytes }, Binary)
end

-- The C parameters for query's extra arguments: nil is NULL, a boolean 1/0,
-- an integral number (or an int64_t/uint64_t cdata) an integer, another
-- number a double, a string text, mysqlpool.binary(s) bytes.
local function bind(n, ...)
    local params = ffi.new("pool_param_t[?]", n)
    for i = 1, n do
        local value, p = select(i, ...), params[i - 1]
        local kind = type(value)
        if value == nil then
            p.type = PARAM_NULL
        elseif kind == "boolean" then
            p.type, p.value.i64 = PARAM_INT64, value and 1 or 0
        elseif kind == "number" then
            if value == math.floor(value) and math.abs(value) < 2 ^ 53 then
                p.type, p.value.i64 = PARAM_INT64, value
            else
                p.type, p.value.f64 = PARAM_DOUBLE, value
            end
        elseif kind == "string" then
            p.type, p.value.bytes.data, p.value.bytes.length = PARAM_TEXT, value, #value
        elseif kind == "table" and getmetatable(value) == Binary then
            p.type, p.value.bytes.data, p.value.bytes.length = PARAM_BINARY, value.bytes, #value.bytes
        elseif ffi.istype(int64_t, value) then
            p.type, p.value.i64 = PARAM_INT64, value
        elseif ffi.istype(uint64_t, value) then
            p.type, p.value.u64 = PARAM_UINT64, value
        else
            error("query parameter " .. i .. ": cannot bind a " .. kind, 3)
        end
    end
    return params
end

-- Runs one statement; extra arguments are bound to its ? placeholders (see
-- bind), escaped by the connection itself. For a statement with a result
-- set: the rows (an array of arrays of strings/nil, with rows.columns the
-- column names) and the info table; otherwise nil and the info table
-- (affected_rows, insert_id, warning_count, server_status). Extra result
-- sets (multi_statements) are read and dropped.
function Connection:query(sql, ...)
    local ptr = self.ptr
    local n = select("#", ...)
    if n == 0 then
        check(C.pool_query(ptr, sql, #sql))
    else
        local params = bind(n, ...) -- kept alive (and its strings, by the arguments) through the call
        check(C.pool_query_params(ptr, sql, #sql, n, params))
    end
    local out = ffi.new("pool_result_t *[1]")
    check(C.pool_store_result(ptr, out))
    local rows
    local result = out[0]
    if result ~= nil then
        local ncols = tonumber(C.pool_result_field_count(result))
        local field = ffi.new("pool_field_t")
        local columns = {}
        for i = 0, ncols - 1 do
            local rc = C.pool_result_field(result, i, field, ffi.sizeof(field))
            if rc ~= S.POOL_OK then
                C.pool_result_free(result)
                raise(rc)
            end
            columns[i + 1] = ffi.string(field.name, field.name_length)
        end
        rows = { columns = columns }
        local values = ffi.new("const char *const *[1]")
        local lengths = ffi.new("const size_t *[1]")
        while true do
            local rc = C.pool_result_fetch(result, values, lengths)
            if rc == S.POOL_DONE then
                break
            elseif rc ~= S.POOL_ROW then
                C.pool_result_free(result)
                raise(rc)
            end
            local v, l = values[0], lengths[0]
            local row = {}
            for i = 0, ncols - 1 do
                if v[i] ~= nil then
                    row[i + 1] = ffi.string(v[i], l[i])
                end
            end
            rows[#rows + 1] = row
        end
        C.pool_result_free(result)
    end
    local info = self:info()
    while true do
        local rc = C.pool_next_result(ptr)
        if rc == S.POOL_DONE then
            break
        end
        check(rc)
        check(C.pool_store_result(ptr, out))
        if out[0] ~= nil then
            C.pool_result_free(out[0])
        end
    end
    return rows, info
end

-- What the last statement left behind (no round trip).
function Connection:info()
    local info = ffi.new("pool_conn_info_t")
    check(C.pool_conn_info(self.ptr, info, ffi.sizeof(info)))
    return struct_to_table("pool_conn_info_t", info, info_fields)
end

-- `s` escaped for use between quotes in SQL, in the connection's charset.
function Connection:escape(s)
    local size = 2 * #s + 1
    local buffer = ffi.new("char[?]", size)
    local length = ffi.new("size_t[1]")
    check(C.pool_escape(self.ptr, s, #s, buffer, size, length))
    return ffi.string(buffer, length[0])
end

function Connection:ping()
    check(C.pool_ping(self.ptr))
end

-- Give the connection back (an open transaction is rolled back); any later
-- use of it raises POOL_E_WRONG_HANDLE.
function Connection:release()
    self.released = true
    check(C.pool_release(self.pool.ptr, self.ptr))
end

-- Give it back closed (its state is unknown, e.g. after an error mid-transaction).
function Connection:discard()
    self.released = true
    check(C.pool_discard(self.pool.ptr, self.ptr))
end

-- Pools -----------------------------------------------------------------------------

local Pool = {}
Pool.__index = Pool
M.Pool = Pool

local function option_text(key, value)
    local kind = type(value)
    if kind == "string" then
        return value
    elseif kind == "number" then
        if value == math.floor(value) and math.abs(value) < 2 ^ 53 then
            return string.format("%d", value)
        end
        return string.format("%.17g", value)
    elseif kind == "boolean" then
        return value and "1" or "0"
    end
    raise_local(S.POOL_E_BAD_ARGUMENT, string.format("option %s: a %s is not a string, number or boolean",
        tostring(key), kind))
end

-- A pool from a table of the header's configuration keys; values are strings,
-- numbers or booleans ({ host = "db", port = 3306, maxsize = 10, pre_ping = true }).
function M.new(options)
    options = options or {}
    local config = C.pool_config_new()
    if config == nil then
        raise_local(S.POOL_E_NO_MEMORY, "pool_config_new: out of memory")
    end
    local ok, err = pcall(function()
        for key, value in pairs(options) do
            if type(key) ~= "string" then
                raise_local(S.POOL_E_BAD_ARGUMENT, "option names are strings, not " .. type(key))
            end
            check(C.pool_config_set(config, key, option_text(key, value)))
        end
    end)
    if not ok then
        C.pool_config_free(config)
        error(err, 0)
    end
    local out = ffi.new("pool_t *[1]")
    local rc = C.pool_create(config, out)
    if rc ~= S.POOL_OK then
        C.pool_config_free(config) -- cannot fail, so the last error stays
        raise(rc)
    end
    C.pool_config_free(config)
    -- Destroyed when collected, unless destroyed before.
    return setmetatable({ ptr = ffi.gc(out[0], C.pool_destroy) }, Pool)
end

-- Borrow a connection, waiting at most timeout_ms (default: the pool's
-- get_timeout; 0: do not wait). POOL_E_EXHAUSTED when none came free in time.
function Pool:get(timeout_ms)
    local out = ffi.new("pool_conn_t *[1]")
    check(C.pool_get_conn(self.ptr, timeout_ms or -1, out))
    return setmetatable({ ptr = out[0], pool = self, released = false }, Connection)
end

function Pool:release(conn)
    conn.released = true
    check(C.pool_release(self.ptr, conn.ptr))
end

function Pool:discard(conn)
    conn.released = true
    check(C.pool_discard(self.ptr, conn.ptr))
end

local function pack(...)
    return { n = select("#", ...), ... }
end

-- fn(conn) with a borrowed connection that is released afterwards, also when
-- fn raises (the error is raised again, unchanged). Returns fn's results.
function Pool:with_connection(fn, timeout_ms)
    local conn = self:get(timeout_ms)
    local results = pack(pcall(fn, conn))
    if not conn.released then
        local rc = C.pool_release(self.ptr, conn.ptr)
        conn.released = true
        if results[1] and rc ~= S.POOL_OK then
            raise(rc)
        end
    end
    if not results[1] then
        error(results[2], 0)
    end
    return unpack(results, 2, results.n)
end

-- The pool's counters as a table of numbers (total, idle, in_use, gets, ...).
function Pool:stats()
    local stats = ffi.new("pool_stats_t")
    check(C.pool_stats(self.ptr, stats, ffi.sizeof(stats)))
    return struct_to_table("pool_stats_t", stats, stats_fields)
end

function Pool:name()
    local name = C.pool_name(self.ptr)
    return name ~= nil and ffi.string(name) or nil
end

-- Stop handing out connections (waiters get POOL_E_CLOSED); stats still work.
function Pool:close()
    check(C.pool_close(self.ptr))
end

-- Close and invalidate the handle (later calls: POOL_E_WRONG_HANDLE).
function Pool:destroy()
    ffi.gc(self.ptr, nil)
    C.pool_destroy(self.ptr)
end

return M
