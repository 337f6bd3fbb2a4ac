local mysqlpool = require("mysqlpool")

local pool = mysqlpool.new{
    host = os.getenv("MYSQL_HOST") or "127.0.0.1",
    port = tonumber(os.getenv("MYSQL_TCP_PORT")) or 3306,
    user = os.getenv("MYSQL_USER") or "app",
    password = os.getenv("MYSQL_PWD") or "secret",
    database = os.getenv("MYSQL_DATABASE") or "test",
    maxsize = 10,
    pre_create_num = 2,
    name = "mypool",
}

local conn = pool:get(5000)                        -- wait at most 5 s
local rows = conn:query("SELECT 1")
conn:release()
print(rows[1][1])                                  -- 1

pool:with_connection(function(conn)                -- released even if it raises
    local rows = conn:query("SELECT ? + ? AS answer, NULL AS nothing", 20, 22)  -- bound, not pasted
    print(rows.columns[1], rows[1][1], rows[1][2])  -- answer  42  nil
end)

local ok, err = pcall(pool.with_connection, pool, function(conn)
    conn:query("SELEC 1")
end)
print(ok, err.name, err.errno)                     -- false  POOL_E_SERVER  1064

local stats = pool:stats()
print(stats.total, stats.gets, stats.releases)     -- 2  3  3
pool:destroy()
