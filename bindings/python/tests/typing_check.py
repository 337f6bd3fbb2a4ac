"""A user's script of pymysqlpool's public API, written as a typed
application would be: test_install.py runs ``mypy --strict`` on it against
the installed wheel (so the wheel's py.typed and inline hints are what is
checked), then runs it there against the MYSQL_* server, so the types it
relies on are also what happens. Not a test module: pytest does not collect
it.
"""

from __future__ import annotations

import os
from typing import Any, Dict, Iterator, Optional, Sequence, Tuple

import pymysqlpool
from pymysqlpool import Connection, ConnectionPool, Cursor, DictCursor, SSCursor, SSDictCursor

Row = Tuple[Any, ...]


def server_kwargs() -> Dict[str, Any]:
    return {
        "host": os.environ["MYSQL_HOST"],
        "port": int(os.environ.get("MYSQL_TCP_PORT") or 3306),
        "user": os.environ.get("MYSQL_USER", ""),
        "password": os.environ.get("MYSQL_PWD", ""),
        "database": os.environ.get("MYSQL_DATABASE", ""),
    }


def pooled_answer(pool: ConnectionPool) -> int:
    with pool.connection(retry_num=3, retry_interval=0.1, pre_ping=True) as conn:
        with conn.cursor() as cursor:
            affected: int = cursor.execute("SELECT %s + %s AS answer", (40, 2))
            assert affected == 1 and cursor.rowcount == 1
            description = cursor.description
            assert description is not None and description[0][0] == "answer"
            row: Optional[Row] = cursor.fetchone()
            assert row is not None
            answer: int = row[0]
            return answer


def dict_rows(conn: Connection) -> Sequence[Dict[str, Any]]:
    cursor: DictCursor = conn.cursor(DictCursor)
    cursor.execute("SELECT %(a)s AS a, %(b)s AS b", {"a": 1, "b": "two"})
    rows = cursor.fetchall()
    cursor.close()
    return rows


def streamed(conn: Connection) -> int:
    total = 0
    with conn.cursor(SSCursor) as cursor:
        cursor.execute("SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3")
        rows: Iterator[Row] = cursor.fetchall_unbuffered()
        for row in rows:
            total += int(row[0])
    with conn.cursor(SSDictCursor) as dict_cursor:
        dict_cursor.execute("SELECT 7 AS seven")
        first: Optional[Dict[str, Any]] = dict_cursor.fetchone()
        assert first is not None and first["seven"] == 7
    return total


def private_connection(kw: Dict[str, Any]) -> Tuple[Optional[int], int]:
    conn: Connection = pymysqlpool.connect(autocommit=False, **kw)
    try:
        conn.ping(reconnect=False)
        assert not conn.get_autocommit()
        cursor: Cursor = conn.cursor()
        cursor.execute("CREATE TEMPORARY TABLE typing_check (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(10))")
        inserted: Optional[int] = cursor.executemany("INSERT INTO typing_check (v) VALUES (%s)", [("a",), ("b",)])
        assert inserted == 2
        cursor.execute("INSERT INTO typing_check (v) VALUES (%s)", ("c",))
        last_id: Optional[int] = cursor.lastrowid
        statement: str = cursor.mogrify("SELECT %s", ("it's",))
        assert statement == "SELECT " + conn.escape("it's") and conn.literal(1) == "1"
        conn.begin()
        cursor.execute("UPDATE typing_check SET v = 'z'")
        conn.rollback()
        conn.commit()
        cursor.execute("SELECT id, v FROM typing_check ORDER BY id")
        some: Sequence[Row] = cursor.fetchmany(2)
        cursor.scroll(0, mode="absolute")
        every = [row for row in cursor]
        assert len(some) == 2 and len(every) == 3 and every[2][1] == "c"
        more: Optional[bool] = cursor.nextset()
        assert not more
        conn.autocommit(True)
        if kw["database"]:
            conn.select_db(kw["database"])
        version: str = conn.get_server_info()
        assert version
        thread: int = conn.thread_id()
        cursor.close()
        return last_id, thread
    finally:
        conn.close()


def main() -> None:
    kw = server_kwargs()
    pool = ConnectionPool(size=2, maxsize=4, pre_create_num=1, con_lifetime=600, name="typing-check",
                          idle_timeout=0.0, leak_detection_threshold=0, **kw)
    try:
        answer = pooled_answer(pool)
        conn = pool.get_connection()
        try:
            rows = dict_rows(conn)
            total = streamed(conn)
        finally:
            pool.release(conn)
        stats: Dict[str, int] = pool.stats()
        idle: int = pool.available_num
        opened: int = pool.total_num
        assert stats["idle"] == idle and opened >= 1
    finally:
        pool.close()
    last_id, thread = private_connection(kw)
    print(answer, rows[0]["b"], total, last_id, thread > 0)


if __name__ == "__main__":
    main()
