"""TLS end to end, against a MariaDB server of this module's own.

The module generates a CA and certificates with ``scripts/server/make-test-certs.sh``
(the ``openssl`` tool) and starts its own ``mariadbd`` (in a temporary
datadir, on 127.0.0.1, with --ssl-ca/--ssl-cert/--ssl-key), because the
suite's main server (scripts/server/with-mariadb.sh) has no TLS.  The server
presents its certificate through two files, ``active-cert.pem`` and
``active-key.pem``: the wrong-host-name tests copy another certificate over
them and reload it with ``FLUSH SSL`` instead of restarting the server.

What is checked, through ``pymysqlpool.connect`` and ``ConnectionPool``:

* verification with the right CA succeeds and the session is encrypted
  (``Ssl_cipher`` / ``Ssl_version`` in the session status, which is the
  server's view);
* a server certificate from another CA fails with a certificate error;
* a certificate for another host name fails when the host name is checked;
* a ``REQUIRE SSL`` user gets in with TLS only (1045 without), a
  ``REQUIRE X509`` user only with a client certificate;
* when TLS is required and a CA is given, nothing (neither the user name nor
  the password) reaches a server that does not offer TLS, like PyMySQL 1.2.4;
  checked with a fake server on 127.0.0.1 that asks for the password in clear;
* no error message contains the password.

PyMySQL (the comparison peer) runs the same connection settings in several
tests as a control, so that the expectations are PyMySQL's.
"""

import ctypes
import os
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pymysql
import pytest

import pymysqlpool
from helpers import unpooled_connect

fixed_in_mysqlpool = pytest.mark.fixed_in_mysqlpool

REPO = Path(__file__).resolve().parents[3]
MAKE_CERTS = REPO / "scripts" / "server" / "make-test-certs.sh"

HOST = "127.0.0.1"
PLAIN_USER, PLAIN_PW = "tls_plain", "tls-Plain-pw-4b1f!"
REQUIRED_USER, REQUIRED_PW = "tls_required", "tls-Req-pw-93c7!"
X509_USER, X509_PW = "tls_x509", "tls-X509-pw-7e2a!"
PASSWORDS = (PLAIN_PW, REQUIRED_PW, X509_PW)

CR_SSL_CONNECTION_ERROR = 2026
ER_ACCESS_DENIED_ERROR = 1045


# --------------------------------------------------------------------------
# The server


def _tool(name):
    """Path of a MariaDB/openssl program; /usr/sbin is searched even when not on PATH."""
    path = shutil.which(name, path=os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/usr/bin"]))
    if path is None:
        # A failure, not a skip: scripts/deps.sh installs mariadb-server and openssl.
        raise RuntimeError(f"{name} not found: run scripts/deps.sh (needs mariadb-server and openssl)")
    return path


def _mariadbd_alive(pid):
    """True if pid is a live, non-zombie mariadbd (never signal a recycled pid)."""
    try:
        comm = Path(f"/proc/{pid}/comm").read_text().strip()
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return comm == "mariadbd" and state != "Z"


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


class TLSServer:
    """A throwaway mariadbd with TLS, started like scripts/server/lib-mariadb.sh starts
    the suite's server (same flags), plus --ssl-ca/--ssl-cert/--ssl-key."""

    def __init__(self):
        self.base = Path(tempfile.mkdtemp(prefix="mysqlpool-tls."))
        self.certs = self.base / "certs"
        self.datadir = self.base / "data"
        self.tmpdir = self.base / "data.tmp"  # a sibling: inside the datadir it would be a database
        self.socket = self.datadir / "mysqld.sock"
        self.pidfile = self.datadir / "mysqld.pid"
        self.errlog = self.datadir / "err.log"
        self.active_cert = self.base / "active-cert.pem"
        self.active_key = self.base / "active-key.pem"
        self.port = None
        self.process = None

    def cert(self, name):
        return str(self.certs / name)

    # -- set-up

    def make_certs(self):
        subprocess.run(["bash", str(MAKE_CERTS), str(self.certs)], check=True, capture_output=True, text=True,
                       timeout=60)
        self._install_certificate("server")

    def install_db(self):
        self.tmpdir.mkdir(parents=True, exist_ok=True)
        result = subprocess.run(
            [_tool("mariadb-install-db"), "--no-defaults", "--user=root", "--basedir=/usr",
             f"--datadir={self.datadir}", f"--tmpdir={self.tmpdir}", "--auth-root-authentication-method=normal"],
            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120,
        )
        if result.returncode != 0:
            raise RuntimeError(f"mariadb-install-db failed:\n{result.stdout}\n{result.stderr}")

    def start(self):
        # Probing a port and binding it race with other jobs: retry on another
        # port if the server dies because the port was taken.
        for _ in range(5):
            self.port = _free_port()
            self.process = subprocess.Popen(
                [_tool("mariadbd"), "--no-defaults", "--user=root", "--basedir=/usr",
                 f"--datadir={self.datadir}", f"--tmpdir={self.tmpdir}",
                 f"--socket={self.socket}", f"--pid-file={self.pidfile}",
                 f"--port={self.port}", f"--bind-address={HOST}", "--skip-name-resolve",
                 "--character-set-server=utf8mb4", f"--log-error={self.errlog}",
                 "--max-connections=100", "--innodb-buffer-pool-size=64M", "--innodb-log-file-size=48M",
                 f"--ssl-ca={self.cert('ca.pem')}", f"--ssl-cert={self.active_cert}",
                 f"--ssl-key={self.active_key}"],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
            if self._wait_ready(30):
                return
            log = self.errlog.read_text(errors="replace") if self.errlog.exists() else ""
            if self.process.poll() is None or "already in use" not in log.lower():
                break
        raise RuntimeError(f"mariadbd with TLS did not start (datadir {self.datadir}); err.log:\n{log}")

    def _wait_ready(self, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            try:
                self.root_sql("SELECT 1")
                return True
            except pymysql.err.OperationalError:
                time.sleep(0.1)
        return False

    def root_sql(self, *statements):
        """Statements as root over the socket; the last one's rows."""
        conn = pymysql.connect(unix_socket=str(self.socket), user="root", autocommit=True, ssl_disabled=True,
                               connect_timeout=2)
        try:
            with conn.cursor() as cursor:
                for statement in statements:
                    cursor.execute(statement)
                return cursor.fetchall()
        finally:
            conn.close()

    def create_users(self):
        self.root_sql(
            f"CREATE USER '{PLAIN_USER}'@'{HOST}' IDENTIFIED BY '{PLAIN_PW}'",
            f"CREATE USER '{REQUIRED_USER}'@'{HOST}' IDENTIFIED BY '{REQUIRED_PW}' REQUIRE SSL",
            f"CREATE USER '{X509_USER}'@'{HOST}' IDENTIFIED BY '{X509_PW}' REQUIRE X509",
        )

    # -- the served certificate

    def _install_certificate(self, name):
        for source, target in ((f"{name}-cert.pem", self.active_cert), (f"{name}-key.pem", self.active_key)):
            partial = target.with_suffix(".partial")
            shutil.copyfile(self.certs / source, partial)
            os.replace(partial, target)

    def serve_certificate(self, name, expected_cn):
        """Serve certs/NAME-cert.pem from now on (FLUSH SSL, no restart) and
        check, with Python's ssl module via PyMySQL, that it is served."""
        self._install_certificate(name)
        self.root_sql("FLUSH SSL")
        assert self.served_common_name() == expected_cn

    def served_common_name(self):
        """The CN of the certificate the server presents (chain verified, host name not)."""
        conn = pymysql.connect(host=HOST, port=self.port, user=PLAIN_USER, password=PLAIN_PW,
                               ssl={"ca": self.cert("ca.pem"), "check_hostname": False})
        try:
            subject = conn._sock.getpeercert()["subject"]  # PyMySQL's ssl.SSLSocket
        finally:
            conn.close()
        return dict(pair for rdn in subject for pair in rdn)["commonName"]

    # -- tear-down

    def stop(self):
        """Stop the server by the pid in its pid file (our child as a fallback):
        TERM, up to 10 s for a clean shutdown, then KILL."""
        pid = None
        try:
            pid = int(self.pidfile.read_text().strip())
        except (OSError, ValueError):
            if self.process is not None and self.process.poll() is None:
                pid = self.process.pid
        if pid is not None and _mariadbd_alive(pid):
            if not self._signal_and_wait(pid, signal.SIGTERM, 10):
                self._signal_and_wait(pid, signal.SIGKILL, 5)
        if self.process is not None:
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass

    def _signal_and_wait(self, pid, sig, seconds):
        """True once pid is gone after sig."""
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return True
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.process is not None and self.process.pid == pid:
                self.process.poll()  # reap our child, or it stays a zombie
            if not _mariadbd_alive(pid):
                return True
            time.sleep(0.05)
        return False

    def cleanup(self):
        shutil.rmtree(self.base, ignore_errors=True)


@pytest.fixture(scope="module")
def tls_server():
    server = TLSServer()
    try:
        server.make_certs()
        server.install_db()
        server.start()
        server.create_users()
        assert server.root_sql("SHOW GLOBAL VARIABLES LIKE 'have_ssl'") == (("have_ssl", "YES"),)
        assert server.served_common_name() == "127.0.0.1"
        yield server
    finally:
        server.stop()
        server.cleanup()


@pytest.fixture
def wrong_host_server(tls_server):
    """The server presenting a certificate from the right CA for wrong.example only."""
    tls_server.serve_certificate("wrong-host", "wrong.example")
    try:
        yield tls_server
    finally:
        tls_server.serve_certificate("server", "127.0.0.1")


@pytest.fixture
def certs(tls_server):
    return tls_server.cert


def connect_kw(server, user=PLAIN_USER, password=PLAIN_PW, **extra):
    kw = {"host": HOST, "port": server.port, "user": user, "password": password, "connect_timeout": 5}
    kw.update(extra)
    return kw


# --------------------------------------------------------------------------
# Helpers


def session_tls(conn):
    """(Ssl_version, Ssl_cipher) of the session, as the server reports it."""
    cursor = conn.cursor()
    try:
        cursor.execute("SHOW SESSION STATUS WHERE Variable_name IN ('Ssl_version', 'Ssl_cipher')")
        status = dict(cursor.fetchall())
    finally:
        cursor.close()
    return status["Ssl_version"], status["Ssl_cipher"]


def assert_encrypted(conn):
    version, cipher = session_tls(conn)
    assert cipher, "the session is not encrypted (Ssl_cipher is empty)"
    assert version.startswith("TLSv1."), version


def current_user(conn):
    cursor = conn.cursor()
    try:
        cursor.execute("SELECT CURRENT_USER()")
        return cursor.fetchone()[0]
    finally:
        cursor.close()


def assert_no_password(error):
    """No password of this module in the exception, its args, or its chain."""
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        text = f"{error!s} {error!r} {error.args!r}"
        for password in PASSWORDS + (FakeServer.PASSWORD,):
            assert password not in text, f"password in error message: {text}"
        error = error.__cause__ or error.__context__


def expect_operational_error(errno, make, *must_mention):
    """Run make(); it must raise OperationalError(errno, message) whose
    message mentions each of must_mention (case-insensitive) and no password."""
    with pytest.raises(pymysqlpool.OperationalError) as info:
        opened = make()
        opened.close()  # not reached when the test passes
    error = info.value
    assert error.args[0] == errno, error.args
    message = error.args[1]
    for word in must_mention:
        assert word.lower() in message.lower(), message
    assert_no_password(error)
    return message


# Ways of asking for a verified connection, as PyMySQL spells them.
# PyMySQL: a dict with a CA verifies the chain and (check_hostname defaults
# to True) the host name; ssl_verify_identity does both; ssl_verify_cert the
# chain (libmariadb 3.3 then checks the host name too, see mysqlpool.h).
VERIFYING = {
    "ssl-dict-ca": lambda c: {"ssl": {"ca": c("ca.pem")}},
    "ssl-dict-check_hostname": lambda c: {"ssl": {"ca": c("ca.pem"), "check_hostname": True}},
    "ssl_ca+ssl_verify_cert": lambda c: {"ssl_ca": c("ca.pem"), "ssl_verify_cert": True},
    "ssl_ca+ssl_verify_identity": lambda c: {"ssl_ca": c("ca.pem"), "ssl_verify_identity": True},
}
CHECKING_HOST = ["ssl-dict-ca", "ssl-dict-check_hostname", "ssl_ca+ssl_verify_identity"]


# --------------------------------------------------------------------------
# Verification succeeds and the session is encrypted


@pytest.mark.parametrize("way", sorted(VERIFYING))
def test_verified_connection_is_encrypted(tls_server, certs, way):
    conn = unpooled_connect()(**connect_kw(tls_server, **VERIFYING[way](certs)))
    try:
        assert_encrypted(conn)
        assert current_user(conn) == f"{PLAIN_USER}@{HOST}"
    finally:
        conn.close()


def test_host_name_matches_dns_name_localhost(tls_server, certs):
    """The certificate names 'localhost' too (a DNS SAN): connecting by that
    name (still TCP, like PyMySQL) verifies."""
    conn = unpooled_connect()(**connect_kw(tls_server, host="localhost", ssl_ca=certs("ca.pem"),
                                           ssl_verify_identity=True))
    try:
        assert_encrypted(conn)
    finally:
        conn.close()


def test_without_tls_options_the_session_is_plain(tls_server):
    """The control of the status check above, and the premise of the
    REQUIRE SSL refusal below: without TLS keywords the session is plain.
    (PyMySQL 1.2.4 negotiates unverified TLS here when the server offers it;
    mysqlpool does not, hence ours only.)"""
    conn = unpooled_connect()(**connect_kw(tls_server))
    try:
        assert session_tls(conn) == ("", "")
    finally:
        conn.close()


@pytest.mark.parametrize("way", ["ssl-dict-check_hostname", "ssl_ca+ssl_verify_cert"])
def test_pool_connections_are_encrypted(tls_server, certs, way):
    pool = pymysqlpool.ConnectionPool(size=3, maxsize=3, pre_create_num=2, pool_name=f"tls-{way}",
                                      **connect_kw(tls_server, **VERIFYING[way](certs)))
    try:
        borrowed = [pool.get_connection() for _ in range(3)]  # 2 pre-created + 1 opened on demand
        ids = set()
        for conn in borrowed:
            assert_encrypted(conn)
            cursor = conn.cursor()
            cursor.execute("SELECT CONNECTION_ID()")
            ids.add(cursor.fetchone()[0])
            cursor.close()
        assert len(ids) == 3
        for conn in borrowed:
            pool.release(conn)
        again = pool.get_connection()  # reused after the release-time reset
        assert_encrypted(again)
        pool.release(again)
    finally:
        pool.close()


# --------------------------------------------------------------------------
# Verification fails


WRONG_CA = {
    "ssl-dict-ca": lambda c: {"ssl": {"ca": c("other-ca.pem")}},
    "ssl_ca+ssl_verify_cert": lambda c: {"ssl_ca": c("other-ca.pem"), "ssl_verify_cert": True},
    "ssl_ca+ssl_verify_identity": lambda c: {"ssl_ca": c("other-ca.pem"), "ssl_verify_identity": True},
}


@pytest.mark.parametrize("way", sorted(WRONG_CA))
def test_wrong_ca_fails(tls_server, certs, way):
    kw = connect_kw(tls_server, **WRONG_CA[way](certs))
    # The control: PyMySQL refuses this certificate too.
    with pytest.raises(pymysql.err.OperationalError, match="CERTIFICATE_VERIFY_FAILED"):
        pymysql.connect(**kw)
    message = expect_operational_error(CR_SSL_CONNECTION_ERROR, lambda: unpooled_connect()(**kw), "certificate")
    assert "self-signed certificate in certificate chain" in message  # libmariadb's (OpenSSL's) reason


@pytest.mark.parametrize("pre_create_num", [1, 0], ids=["at-create", "at-get"])
def test_wrong_ca_fails_in_pool(tls_server, certs, pre_create_num):
    kw = connect_kw(tls_server, ssl={"ca": certs("other-ca.pem"), "check_hostname": True})
    if pre_create_num:
        expect_operational_error(CR_SSL_CONNECTION_ERROR,
                                 lambda: pymysqlpool.ConnectionPool(pre_create_num=1, **kw), "certificate")
    else:
        pool = pymysqlpool.ConnectionPool(pre_create_num=0, **kw)
        try:
            expect_operational_error(CR_SSL_CONNECTION_ERROR, pool.get_connection, "certificate")
        finally:
            pool.close()


@pytest.mark.parametrize("way", CHECKING_HOST + ["ssl_ca+ssl_verify_cert"])
def test_wrong_host_name_fails(wrong_host_server, certs, way):
    """A certificate from the right CA, for wrong.example: refused when the host
    name is checked.  ssl={'ca': ...} checks it because PyMySQL's
    check_hostname defaults to True when a CA is given; ssl_verify_cert alone
    does not in PyMySQL, but libmariadb 3.3 verifies chain and name under one
    option (documented in mysqlpool.h), so ours refuses it too."""
    kw = connect_kw(wrong_host_server, **VERIFYING[way](certs))
    if way in CHECKING_HOST:
        with pytest.raises(pymysql.err.OperationalError, match="certificate is not valid for '127.0.0.1'"):
            pymysql.connect(**kw)
    expect_operational_error(CR_SSL_CONNECTION_ERROR, lambda: unpooled_connect()(**kw), "certificate")


def test_wrong_host_name_fails_in_pool(wrong_host_server, certs):
    kw = connect_kw(wrong_host_server, ssl_ca=certs("ca.pem"), ssl_verify_identity=True)
    expect_operational_error(CR_SSL_CONNECTION_ERROR,
                             lambda: pymysqlpool.ConnectionPool(pre_create_num=1, **kw), "certificate")
    pool = pymysqlpool.ConnectionPool(pre_create_num=0, **kw)
    try:
        expect_operational_error(CR_SSL_CONNECTION_ERROR, pool.get_connection, "certificate")
    finally:
        pool.close()


def test_wrong_host_name_fails_by_dns_name(wrong_host_server, certs):
    kw = connect_kw(wrong_host_server, host="localhost", ssl_ca=certs("ca.pem"), ssl_verify_identity=True)
    expect_operational_error(CR_SSL_CONNECTION_ERROR, lambda: unpooled_connect()(**kw), "certificate")


# --------------------------------------------------------------------------
# Users that require TLS


def test_require_ssl_user_with_tls(tls_server, certs):
    conn = unpooled_connect()(**connect_kw(tls_server, REQUIRED_USER, REQUIRED_PW,
                                           ssl={"ca": certs("ca.pem")}))
    try:
        assert_encrypted(conn)
        assert current_user(conn) == f"{REQUIRED_USER}@{HOST}"
    finally:
        conn.close()


def test_require_ssl_user_without_tls_is_refused(tls_server):
    kw = connect_kw(tls_server, REQUIRED_USER, REQUIRED_PW)
    message = expect_operational_error(ER_ACCESS_DENIED_ERROR, lambda: unpooled_connect()(**kw), "access denied")
    assert f"'{REQUIRED_USER}'@'{HOST}'" in message


def test_require_ssl_user_in_pool(tls_server, certs):
    plain = connect_kw(tls_server, REQUIRED_USER, REQUIRED_PW)
    expect_operational_error(ER_ACCESS_DENIED_ERROR,
                             lambda: pymysqlpool.ConnectionPool(pre_create_num=1, **plain), "access denied")
    pool = pymysqlpool.ConnectionPool(pre_create_num=0, **plain)
    try:
        expect_operational_error(ER_ACCESS_DENIED_ERROR, pool.get_connection, "access denied")
    finally:
        pool.close()

    pool = pymysqlpool.ConnectionPool(
        size=2, maxsize=2, pre_create_num=1,
        **connect_kw(tls_server, REQUIRED_USER, REQUIRED_PW, ssl_ca=certs("ca.pem"), ssl_verify_identity=True))
    try:
        with pool.get_connection() as conn:
            assert_encrypted(conn)
            assert current_user(conn) == f"{REQUIRED_USER}@{HOST}"
    finally:
        pool.close()


def test_wrong_password_over_tls(tls_server, certs):
    """An authentication failure inside TLS: 1045, and the password given
    (which is not the user's) is not echoed either."""
    kw = connect_kw(tls_server, REQUIRED_USER, PLAIN_PW, ssl={"ca": certs("ca.pem")})
    expect_operational_error(ER_ACCESS_DENIED_ERROR, lambda: unpooled_connect()(**kw), "access denied")


@pytest.mark.parametrize("spelling", ["ssl-dict", "keywords"])
def test_require_x509_user_with_client_certificate(tls_server, certs, spelling):
    if spelling == "ssl-dict":
        tls = {"ssl": {"ca": certs("ca.pem"), "cert": certs("client-cert.pem"), "key": certs("client-key.pem")}}
    else:
        tls = {"ssl_ca": certs("ca.pem"), "ssl_cert": certs("client-cert.pem"), "ssl_key": certs("client-key.pem"),
               "ssl_verify_identity": True}
    conn = unpooled_connect()(**connect_kw(tls_server, X509_USER, X509_PW, **tls))
    try:
        assert_encrypted(conn)
        assert current_user(conn) == f"{X509_USER}@{HOST}"
    finally:
        conn.close()
    kw = connect_kw(tls_server, X509_USER, X509_PW, ssl={"ca": certs("ca.pem")})  # TLS, no client certificate
    expect_operational_error(ER_ACCESS_DENIED_ERROR, lambda: unpooled_connect()(**kw), "access denied")


# --------------------------------------------------------------------------
# TLS required: nothing is sent to a server that does not offer TLS


class FakeServer:
    """One-connection MySQL server on 127.0.0.1 without TLS (no CLIENT_SSL in
    its greeting), as a downgrading man in the middle would present itself.

    mode "clear_password": answers the handshake response with an auth switch
    to mysql_clear_password (so a client that goes on sends the password as
    is), then 1045.  mode "ok": accepts any login.
    Everything the client sends is kept in ``received``."""

    USER = "tls_victim"
    PASSWORD = "tls-Victim-pw-0c4d!"
    # CLIENT_LONG_PASSWORD FOUND_ROWS LONG_FLAG CONNECT_WITH_DB PROTOCOL_41
    # TRANSACTIONS SECURE_CONNECTION MULTI_STATEMENTS MULTI_RESULTS
    # PS_MULTI_RESULTS PLUGIN_AUTH PLUGIN_AUTH_LENENC_CLIENT_DATA; no SSL (0x800).
    CAPABILITIES = 0x1 | 0x2 | 0x4 | 0x8 | 0x200 | 0x2000 | 0x8000 | 1 << 16 | 1 << 17 | 1 << 18 | 1 << 19 | 1 << 21

    def __init__(self, mode):
        self.mode = mode
        self.received = b""
        self.listener = socket.create_server((HOST, 0))
        self.port = self.listener.getsockname()[1]
        self.listener.settimeout(10)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @staticmethod
    def _packet(seq, payload):
        return struct.pack("<I", len(payload))[:3] + bytes([seq]) + payload

    def _read(self, conn):
        data = b""
        while len(data) < 4:
            chunk = conn.recv(4 - len(data))
            if not chunk:
                return None
            data += chunk
        length = int.from_bytes(data[:3], "little")
        body = b""
        while len(body) < length:
            chunk = conn.recv(length - len(body))
            if not chunk:
                return None
            body += chunk
        self.received += data + body
        return body

    def _serve(self):
        try:
            conn, _ = self.listener.accept()
        except OSError:
            return
        with conn:
            conn.settimeout(10)
            try:
                caps = self.CAPABILITIES
                greeting = (b"\x0a" + b"5.5.5-10.11.19-MariaDB\0" + struct.pack("<I", 42) + b"abcdefgh" + b"\0"
                            + struct.pack("<H", caps & 0xFFFF) + bytes([45]) + struct.pack("<H", 2)
                            + struct.pack("<H", caps >> 16) + bytes([21]) + b"\0" * 10 + b"ijklmnopqrst\0"
                            + b"mysql_native_password\0")
                conn.sendall(self._packet(0, greeting))
                if self._read(conn) is None:
                    return
                if self.mode == "ok":
                    conn.sendall(self._packet(2, b"\x00\x00\x00\x02\x00\x00\x00"))  # OK, autocommit
                    while self._read(conn) is not None:  # until COM_QUIT / close
                        pass
                    return
                conn.sendall(self._packet(2, b"\xfe" + b"mysql_clear_password\0"))
                if self._read(conn) is None:
                    return
                conn.sendall(self._packet(4, b"\xff" + struct.pack("<H", 1045) + b"#28000" + b"Access denied (fake)"))
            except OSError:
                pass

    def close(self):
        self.listener.close()
        self.thread.join(10)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def kw(self, **tls):
        return dict({"host": HOST, "port": self.port, "user": self.USER, "password": self.PASSWORD,
                     "connect_timeout": 5}, **tls)

    def assert_nothing_leaked(self):
        assert self.PASSWORD.encode() not in self.received, "the password was sent in clear"
        assert self.USER.encode() not in self.received, "the login was sent in clear before TLS"


# Every way of saying "TLS required, verify against this CA" (PyMySQL 1.2.4
# requires TLS as soon as any ssl_* keyword or an ssl dict is given, and
# refuses a server without TLS before sending anything).
REQUIRING = {
    "ssl-dict-ca": lambda c: {"ssl": {"ca": c("ca.pem")}},
    "ssl-dict-check_hostname": lambda c: {"ssl": {"ca": c("ca.pem"), "check_hostname": True}},
    "ssl-dict-no-check_hostname": lambda c: {"ssl": {"ca": c("ca.pem"), "check_hostname": False}},
    "ssl_ca": lambda c: {"ssl_ca": c("ca.pem")},
    "ssl_ca+ssl_verify_cert": lambda c: {"ssl_ca": c("ca.pem"), "ssl_verify_cert": True},
    "ssl_ca+ssl_verify_identity": lambda c: {"ssl_ca": c("ca.pem"), "ssl_verify_identity": True},
}


@pytest.mark.parametrize("way", sorted(REQUIRING))
def test_tls_required_sends_nothing_to_a_server_without_tls(certs, way):
    tls = REQUIRING[way](certs)
    with FakeServer("clear_password") as control:  # PyMySQL, the expectation
        with pytest.raises(pymysql.err.OperationalError) as info:
            pymysql.connect(**control.kw(**tls))
        assert info.value.args[0] == CR_SSL_CONNECTION_ERROR
    control.assert_nothing_leaked()

    with FakeServer("clear_password") as fake:
        with pytest.raises(pymysqlpool.OperationalError) as info:
            unpooled_connect()(**fake.kw(**tls)).close()
    fake.assert_nothing_leaked()
    assert info.value.args[0] == CR_SSL_CONNECTION_ERROR, info.value.args
    assert "ssl" in info.value.args[1].lower()
    assert_no_password(info.value)


def test_tls_required_refuses_plain_session(certs):
    """ssl={'cert': ..., 'key': ...} without a CA: TLS is required but nothing
    is verified.  Against a server without TLS that lets anyone in, the
    connection is refused (the core's own check after the login)."""
    tls = {"ssl": {"cert": certs("client-cert.pem"), "key": certs("client-key.pem")}}
    with FakeServer("ok") as fake:
        expect_operational_error(CR_SSL_CONNECTION_ERROR, lambda: unpooled_connect()(**fake.kw(**tls)), "TLS")


# --------------------------------------------------------------------------
# The C API's keys (pool_config_set), through ctypes


@fixed_in_mysqlpool
def test_c_api_ssl_keys(tls_server, certs):
    from pymysqlpool import _lib

    fetch = _lib.lib.pool_result_fetch
    fetch.restype = ctypes.c_int
    fetch.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.POINTER(ctypes.c_char_p)),
                      ctypes.POINTER(ctypes.POINTER(ctypes.c_size_t))]

    def create(pairs):
        config = _lib.pool_config_new()
        try:
            for key, value in pairs.items():
                assert _lib.pool_config_set(config, key.encode(), value.encode()) == _lib.POOL_OK, key
            handle = ctypes.c_void_p()
            return _lib.pool_create(config, ctypes.byref(handle)), handle
        finally:
            _lib.pool_config_free(config)

    base = {"host": HOST, "port": str(tls_server.port), "user": PLAIN_USER, "password": PLAIN_PW,
            "pre_create_num": "1"}

    # ssl_verify_cert without ssl_ca is refused up front, with a message naming both.
    code, _ = create(dict(base, ssl_verify_cert="1"))
    assert code == _lib.POOL_E_BAD_ARGUMENT
    message = _lib.last_error()[2]
    assert "ssl_verify_cert" in message and "ssl_ca" in message and PLAIN_PW not in message

    # The wrong CA: POOL_E_SERVER, errno 2026.
    code, _ = create(dict(base, ssl_ca=certs("other-ca.pem"), ssl_verify_cert="1"))
    assert code == _lib.POOL_E_SERVER
    _, errno, message, _ = _lib.last_error()
    assert errno == CR_SSL_CONNECTION_ERROR and "certificate" in message and PLAIN_PW not in message

    # The right CA: an encrypted session.
    code, pool = create(dict(base, ssl="1", ssl_ca=certs("ca.pem"), ssl_verify_cert="1"))
    assert code == _lib.POOL_OK, _lib.last_error()
    try:
        conn = _lib.pool_borrow(pool, 5000, 5000, 0)
        assert conn is not None, _lib.last_error()
        sql = b"SHOW SESSION STATUS LIKE 'Ssl_cipher'"
        assert _lib.pool_query(conn, sql, len(sql)) == _lib.POOL_OK
        result = ctypes.c_void_p()
        assert _lib.pool_store_result(conn, ctypes.byref(result)) == _lib.POOL_OK
        values = ctypes.POINTER(ctypes.c_char_p)()
        lengths = ctypes.POINTER(ctypes.c_size_t)()
        assert fetch(result, ctypes.byref(values), ctypes.byref(lengths)) == _lib.POOL_ROW
        assert values[0] == b"Ssl_cipher" and values[1]
        _lib.pool_result_free(result)
        assert _lib.pool_release(pool, conn) == _lib.POOL_OK
    finally:
        _lib.pool_destroy(pool)
