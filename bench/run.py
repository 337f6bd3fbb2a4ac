#!/usr/bin/env python3
"""`make bench`: our pool against its peers on one server, in one run.

    python3 bench/run.py --setup    install what the peers need (Debian
                                    packages, bench/.venv from PyPI); no server
    scripts/server/with-mariadb.sh python3 bench/run.py
                                    set up if needed, then benchmark

Environment:
    BENCH_QUICK=1         smoke run (~1 minute): 1 repetition, small N
    BENCH_REPS=N          repetitions per peer and scenario (default 5, quick 1)
    BENCH_PEERS=a,b       only these peers (names as in bench/worker.py, plus c)
    BENCH_PLACEMENTS=...  pinned,crossed,unpinned (default all three)
    BENCH_OUT=DIR         where latest.json / latest.png go (default bench/results)

Each peer runs in its own process (bench/worker.py, with the venv's Python;
ours with PYTHONPATH=bindings/python), one process per peer and repetition,
the peers' order rotated between repetitions. The C side is bench/c_bench.c.
Prints a table per placement, writes latest.json and draws latest.png.
"""

import ctypes
import datetime
import hashlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
VENV = Path(os.environ.get("BENCH_VENV") or BENCH / ".venv")
VENV_PY = VENV / "bin" / "python"
BIN_DIR = BENCH / ".bin"
C_BENCH = BIN_DIR / "c_bench"
LIB = ROOT / ".build" / "release" / "libmysqlpool.so"
REQUIREMENTS = BENCH / "requirements.txt"

PY_PEERS = ["ours", "ours-objects", "ours-pickle", "bound", "ours-conn", "pymysql", "pymysql-pool", "mysqlclient", "mariadb",
            "mariadb-pool", "sqlalchemy+pymysql", "sqlalchemy+mysqlclient", "dbutils+pymysql"]
# Scenarios a peer runs when not all (ours-conn is a diagnostic: the driver
# path on one held connection, without the pool; ours-objects and
# ours-pickle the A/B of the rows built as Python objects by the library, the
# default, and unpickled; bound the CPython half of the bulk bound).
PEER_SCENARIOS = {"ours-conn": ["point"], "bound": ["bulk_build"], "ours-objects": ["point", "bulk"], "ours-pickle": ["point", "bulk"],
                  "ours-aio": ["async_point"],
                  "aiomysql": ["async_point"],
                  "asyncmy": ["async_point"]}
# The asyncio peers: one scenario, their own rows.
ASYNC_PEERS = ["ours-aio", "aiomysql", "asyncmy"]
# The module each peer needs in the venv (ours needs none: it is imported from bindings/python).
PEER_MODULES = {"aiomysql": "aiomysql", "asyncmy": "asyncmy", "pymysql": "pymysql", "pymysql-pool": "pymysqlpool", "mysqlclient": "MySQLdb",
                "mariadb": "mariadb", "mariadb-pool": "mariadb", "sqlalchemy+pymysql": "sqlalchemy",
                "sqlalchemy+mysqlclient": "MySQLdb", "dbutils+pymysql": "dbutils"}
PEER_EXTRA_MODULES = {"sqlalchemy+pymysql": ["pymysql"], "sqlalchemy+mysqlclient": ["sqlalchemy"],
                      "dbutils+pymysql": ["pymysql"], "pymysql-pool": ["pymysql"]}

LABELS = {
    "ours": "ours (pymysqlpool)",
    "ours-objects": "ours, rows as objects (A/B)",
    "ours-pickle": "ours, rows unpickled (A/B)",
    "bound": "bound (raw C + CPython objects)",
    "ours-conn": "ours, 1 held conn (diagnostic)",
    "ours-aio": "ours (pymysqlpool.aio)",
    "aiomysql": "aiomysql pool",
    "asyncmy": "asyncmy pool",
    "pymysql": "PyMySQL",
    "pymysql-pool": "pymysql-pool 0.5.0",
    "mysqlclient": "mysqlclient",
    "mariadb": "mariadb (Connector/Python)",
    "mariadb-pool": "mariadb ConnectionPool",
    "sqlalchemy+pymysql": "SQLAlchemy QueuePool+PyMySQL",
    "sqlalchemy+mysqlclient": "SQLAlchemy QueuePool+mysqlclient",
    "dbutils+pymysql": "DBUtils PooledDB+PyMySQL",
    "ours-c": "ours from C",
    "raw-c": "raw libmariadb C, 1 conn",
    "raw-c-rotating": "raw libmariadb C, 8 conns rotated",
}

# Table sections: (key, title, unit, higher_is_better, base peer, peers).
POOLS = ["ours", "pymysql-pool", "mariadb-pool", "sqlalchemy+pymysql", "sqlalchemy+mysqlclient", "dbutils+pymysql"]
SECTIONS = [
    ("point", "point (get, SELECT 1+1, fetchone, return)", "q/s", True, "ours", PY_PEERS + ["raw-c"]),
    ("stmt_point", "point with a parameter (SELECT ? + 1; ours: get, prepared cursor, return; "
     "mariadb: prepared cursor; others: client-side)", "q/s", True, "ours", ["ours", "mariadb", "mysqlclient", "pymysql"]),
    ("checkout", "checkout (get + return, no query)", "µs/pair", False, "ours", POOLS + ["ours-c"]),
    ("bulk", "bulk (SELECT * of 100,000 rows, fetchall)", "rows/s", True, "ours", PY_PEERS + ["raw-c", "ours-c"]),
    ("bulk_rss", "bulk peak RSS (process)", "MiB", False, "ours", PY_PEERS + ["raw-c"]),
    ("bulk_rss_growth", "bulk RSS growth (peak - before)", "MiB", False, "ours", PY_PEERS + ["raw-c"]),
    ("threads", "threads (8 threads, one pool, point)", "q/s", True, "ours", POOLS),
    ("executemany", "executemany (10,000 rows + commit)", "rows/s", True, "ours", PY_PEERS),
    ("async_point", "asyncio: 100 tasks on one loop, point queries through a pool of 10", "q/s", True,
     "ours-aio", ASYNC_PEERS),
    ("async_lag", "asyncio: the loop's worst lag meanwhile (a 1 ms ticker)", "ms", False, "ours-aio", ASYNC_PEERS),
    ("c_point", "C point loop", "q/s", True, "ours-c", ["ours-c", "raw-c", "raw-c-rotating"]),
    ("c_stmt_point", "C point through a prepared statement (ours: get, cached prepare, execute, release; "
     "raw: mysql_stmt_execute on one held statement)", "q/s", True, "ours-c", ["ours-c", "raw-c"]),
    ("c_checkout", "C checkout (get + release)", "ns/pair", False, "ours-c", ["ours-c"]),
    ("c_checkout_rss", "C RSS growth over the checkout loop", "KiB", False, "ours-c", ["ours-c"]),
    ("c_bulk", "C bulk walk", "rows/s", True, "ours-c", ["ours-c", "raw-c"]),
]


def _median(sections, key, peer):
    return sections.get(key, {}).get("rows", {}).get(peer, {}).get("median")


def _ratio(sections, key, peer, base="ours"):
    ours, other = _median(sections, key, base), _median(sections, key, peer)
    return ours / other if ours and other else None


def _best_peer(sections, key, exclude=("ours", "ours-objects", "ours-pickle", "bound", "ours-conn", "ours-aio", "ours-c", "raw-c",
                                       "raw-c-rotating")):
    rows = {p: r["median"] for p, r in sections.get(key, {}).get("rows", {}).items() if p not in exclude}
    return max(rows, key=rows.get) if rows else None


# Issue 4's targets: (text, function(sections) -> (measured value, goal, met)).
def _at_least(value, goal):
    return (value, goal, None if value is None else value >= goal)


def _at_most(value, goal):
    return (value, goal, None if value is None else value <= goal)


TARGETS = [
    ("point: ours >= 2.5x pymysql-pool", lambda s: _at_least(_ratio(s, "point", "pymysql-pool"), 2.5)),
    ("point: ours >= 1.15x mysqlclient (1 held conn)", lambda s: _at_least(_ratio(s, "point", "mysqlclient"), 1.15)),
    ("checkout from Python <= 1.5 µs per pair", lambda s: _at_most(_median(s, "checkout", "ours"), 1.5)),
    ("checkout from C <= 150 ns per pair", lambda s: _at_most(_median(s, "c_checkout", "ours-c"), 150)),
    ("C point loop within 1.10x of raw libmariadb (raw/ours)",
     lambda s: _at_most(1 / r if (r := _ratio(s, "c_point", "raw-c", "ours-c")) else None, 1.10)),
    ("bulk: ours >= 4.5x PyMySQL", lambda s: _at_least(_ratio(s, "bulk", "pymysql"), 4.5)),
    ("bulk: ours >= 1.3x mariadb", lambda s: _at_least(_ratio(s, "bulk", "mariadb"), 1.3)),
    ("bulk: ours >= 0.7x raw C", lambda s: _at_least(_ratio(s, "bulk", "raw-c"), 0.7)),
    ("bulk: ours >= 0.9x the bound (raw C walk + CPython building)",
     lambda s: _at_least(_ratio(s, "bulk", "bound"), 0.9)),
    ("bulk: peak RSS <= PyMySQL's (ours/PyMySQL)",
     lambda s: _at_most(_ratio(s, "bulk_rss", "pymysql"), 1.0)),
    ("threads: ours >= 2x pymysql-pool", lambda s: _at_least(_ratio(s, "threads", "pymysql-pool"), 2.0)),
    ("threads: ours >= 1.5x the best peer",
     lambda s: _at_least(_ratio(s, "threads", _best_peer(s, "threads")), 1.5)),
    ("executemany: ours >= 1.5x PyMySQL", lambda s: _at_least(_ratio(s, "executemany", "pymysql"), 1.5)),
    ("executemany: ours >= 1.0x mariadb", lambda s: _at_least(_ratio(s, "executemany", "mariadb"), 1.0)),
    ("prepared point from C >= 0.95x raw mysql_stmt_execute",
     lambda s: _at_least(_ratio(s, "c_stmt_point", "raw-c", "ours-c"), 0.95)),
    ("prepared point: ours >= 1.0x mariadb (binary protocol)",
     lambda s: _at_least(_ratio(s, "stmt_point", "mariadb"), 1.0)),
    ("prepared point: ours >= 1.0x mysqlclient", lambda s: _at_least(_ratio(s, "stmt_point", "mysqlclient"), 1.0)),
    ("asyncio point: ours >= 2x aiomysql",
     lambda s: _at_least(_ratio(s, "async_point", "aiomysql", "ours-aio"), 2.0)),
    ("asyncio point: ours >= 1.3x asyncmy",
     lambda s: _at_least(_ratio(s, "async_point", "asyncmy", "ours-aio"), 1.3)),
    ("get/release from C: no RSS growth (KiB over the loop)",
     lambda s: _at_most(_median(s, "c_checkout_rss", "ours-c"), 64)),
]


def evaluate_targets(sections):
    out = []
    for text, fn in TARGETS:
        try:
            value, goal, met = fn(sections)
        except (KeyError, TypeError, ZeroDivisionError):
            value, goal, met = None, None, None
        out.append({"target": text, "value": value, "goal": goal, "met": met})
    return out


def log(msg):
    print(f"bench: {msg}", file=sys.stderr, flush=True)


def config():
    quick = os.environ.get("BENCH_QUICK", "") not in ("", "0")
    cfg = {
        "quick": quick,
        "reps": 1 if quick else 7,
        "point_n": 500 if quick else 4000,
        "checkout_n": 500 if quick else 4000,
        "threads_n": 50 if quick else 400,  # per thread
        "executemany_n": 10_000,
        "bulk_rows": 20_000 if quick else 100_000,
        "c_point_n": 1000 if quick else 5000,
        "c_checkout_n": 20_000 if quick else 1_000_000,
    }
    if os.environ.get("BENCH_REPS"):
        cfg["reps"] = max(1, int(os.environ["BENCH_REPS"]))
    return cfg


# ---------------------------------------------------------------------------
# Set-up: Debian packages, the venv, c_bench


def _have_deb(name):
    return subprocess.run(["dpkg", "-s", name], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0


def _pkg_config_has(name):
    return shutil.which("pkg-config") is not None and subprocess.run(
        ["pkg-config", "--exists", name], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0


def ensure_debian_packages():
    """mysqlclient and mariadb build from source against libmariadb: they need
    pkg-config (mysqlclient looks for `mysqlclient` or `mariadb`), mariadb_config,
    a C compiler and Python's headers. Installs what is missing, as deps.sh does."""
    missing = []
    if not (_pkg_config_has("mysqlclient") or _pkg_config_has("mariadb")) or not shutil.which("mariadb_config"):
        missing.append("libmariadb-dev")
    if not shutil.which("pkg-config"):
        missing.append("pkg-config")
    if not shutil.which("cc") or not shutil.which("make"):
        missing.append("build-essential")
    import sysconfig

    if not Path(sysconfig.get_paths()["include"], "Python.h").exists():
        missing.append("python3-dev")
    try:
        import ensurepip  # noqa: F401
        import venv  # noqa: F401
    except ImportError:
        missing.append("python3-venv")
    missing = [p for p in missing if not _have_deb(p)]
    if not missing:
        return
    if shutil.which("apt-get") is None:
        log(f"warning: missing {' '.join(missing)} and no apt-get; some peers may not build")
        return
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    log(f"installing Debian packages: {' '.join(missing)}")
    subprocess.run(sudo + ["apt-get", "update", "-qq"], check=False)
    result = subprocess.run(sudo + ["env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "install", "-y", "-qq"]
                            + missing, capture_output=True, text=True)
    if result.returncode != 0:
        log(f"warning: apt-get install failed:\n{result.stdout[-2000:]}{result.stderr[-2000:]}")


def _requirements():
    reqs = []
    for line in REQUIREMENTS.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            reqs.append(line)
    return reqs


def ensure_venv():
    """bench/.venv with the peers from bench/requirements.txt. Each requirement
    is installed on its own so that one that fails to build only removes its
    peer(s); failures are kept in bench/.venv/bench-install.json and tried
    again on the next run."""
    stamp = VENV / "bench-install.json"
    digest = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()
    if VENV_PY.exists() and stamp.exists():
        try:
            state = json.loads(stamp.read_text())
        except ValueError:
            state = {}
        if state.get("requirements_sha256") == digest and not state.get("failures"):
            return state
    ensure_debian_packages()
    if not VENV_PY.exists():
        log(f"creating {VENV.relative_to(ROOT) if VENV.is_relative_to(ROOT) else VENV}")
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(VENV)], check=True)
    failures = {}
    for req in _requirements():
        log(f"pip install {req}")
        result = subprocess.run([str(VENV_PY), "-m", "pip", "install", "-q", "--disable-pip-version-check", req],
                                capture_output=True, text=True)
        if result.returncode != 0:
            tail = (result.stderr or result.stdout).strip().splitlines()[-12:]
            failures[req] = "\n".join(tail)
            log(f"warning: pip install {req} failed:\n  " + "\n  ".join(tail))
    state = {"requirements_sha256": digest, "failures": failures}
    stamp.write_text(json.dumps(state, indent=1))
    return state


def compile_ours():
    """Our package runs from the checkout, the peers from the venv, where pip
    wrote their bytecode. Without ours written too (PYTHONDONTWRITEBYTECODE
    stops imports from writing it), every worker would compile our sources
    at import: 1.3 MiB more RSS and ~0.1 s that no installed copy pays."""
    subprocess.run([str(VENV_PY), "-m", "compileall", "-q", str(ROOT / "bindings" / "python" / "pymysqlpool")],
                   check=True)


def build_c_bench():
    BIN_DIR.mkdir(exist_ok=True)
    source = BENCH / "c_bench.c"
    if C_BENCH.exists() and C_BENCH.stat().st_mtime > max(source.stat().st_mtime, LIB.stat().st_mtime,
                                                            (ROOT / "include" / "mysqlpool.h").stat().st_mtime):
        return
    flags = subprocess.run(["pkg-config", "--cflags", "--libs", "libmariadb"], capture_output=True, text=True,
                           check=True).stdout.split()
    cmd = [os.environ.get("CC", "cc"), "-O2", "-std=c99", "-Wall", "-Wextra", f"-I{ROOT / 'include'}", str(source),
           f"-L{LIB.parent}", "-lmysqlpool", f"-Wl,-rpath,{LIB.parent}", *flags, "-o", str(C_BENCH)]
    log(" ".join(cmd))
    subprocess.run(cmd, check=True)


def peer_availability():
    """Which Python peers can run: {peer: None or the reason it cannot}."""
    names = sorted(set(PEER_MODULES.values()) | {m for ms in PEER_EXTRA_MODULES.values() for m in ms})
    code = ("import importlib, json\nout = {}\n"
            f"for name in {names!r}:\n"
            "    try:\n        importlib.import_module(name); out[name] = None\n"
            "    except Exception as e:\n        out[name] = f'{type(e).__name__}: {e}'\n"
            "print(json.dumps(out))")
    result = subprocess.run([str(VENV_PY), "-c", code], capture_output=True, text=True, cwd=BENCH)
    modules = json.loads(result.stdout) if result.returncode == 0 else {n: result.stderr[-300:] for n in names}
    status = {"ours": None if LIB.exists() else f"{LIB} missing: run make build"}
    for ours in ("ours-conn", "ours-objects", "ours-pickle", "bound", "ours-aio"):
        status[ours] = status["ours"]
    for peer, module in PEER_MODULES.items():
        reasons = [f"{m}: {modules[m]}" for m in [module] + PEER_EXTRA_MODULES.get(peer, []) if modules.get(m)]
        status[peer] = "; ".join(reasons) or None
    return status


# ---------------------------------------------------------------------------
# Machine facts


def machine_facts(worker_facts):
    cpu_model = None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        lib = ctypes.CDLL(str(LIB))
        lib.pool_version.restype = ctypes.c_char_p
        ours_version = lib.pool_version().decode()
    except OSError as error:
        ours_version = f"unknown ({error})"

    def git(*args):
        result = subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True)
        return result.stdout.strip() if result.returncode == 0 else None

    mem = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = f"{int(line.split()[1]) // 1024} MiB"
    except OSError:
        pass
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "nproc": os.cpu_count(),
        "cpus_allowed": sorted(os.sched_getaffinity(0)),
        "cpu_model": cpu_model,
        "memory": mem,
        "kernel": f"{platform.system()} {platform.release()}",
        "mariadb_server": worker_facts.get("server_version"),
        "libmariadb_client": worker_facts.get("libmariadb_client (mysqlclient)"),
        "python": worker_facts.get("python"),
        "ours_version": ours_version,
        "git_commit": git("rev-parse", "--short", "HEAD"),
        "git_dirty": bool(git("status", "--porcelain", "--untracked-files=no")),
        "peer_versions": worker_facts.get("packages", {}),
    }


def loadavg():
    try:
        return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]
    except OSError:
        return None


# ---------------------------------------------------------------------------
# CPU placement


def _server_tids(pid):
    return [int(t) for t in os.listdir(f"/proc/{pid}/task")]


def _cpus_of(tid):
    return os.sched_getaffinity(tid)


def set_server_affinity(pid, cpus):
    """Every thread of the server onto `cpus`; True when every thread reports it."""
    mask = hex(sum(1 << c for c in cpus))
    if shutil.which("taskset"):
        subprocess.run(["taskset", "-a", "-p", mask, str(pid)], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, check=False)
    for tid in _server_tids(pid):
        try:
            if _cpus_of(tid) != set(cpus):
                os.sched_setaffinity(tid, cpus)
        except (ProcessLookupError, FileNotFoundError):
            pass  # a thread that ended meanwhile
    try:
        return all(_cpus_of(tid) == set(cpus) for tid in _server_tids(pid))
    except (OSError, ProcessLookupError):
        return False


def server_pid():
    pidfile = os.environ.get("MYSQLPOOL_TEST_PIDFILE")
    if not pidfile:
        return None, "no MYSQLPOOL_TEST_PIDFILE (server not started by scripts/server/with-mariadb.sh)"
    try:
        pid = int(Path(pidfile).read_text().split()[0])
        os.kill(pid, 0)
        return pid, None
    except (OSError, ValueError, IndexError) as error:
        return None, f"cannot read the server's pid from {pidfile}: {error}"


def plan_placements(all_cpus):
    """[(name, client cpus, server cpus, server pid or None, note)] and why
    pinning is off, if it is. "crossed" pins the client and the server to two
    different CPUs: every round trip then wakes a thread on the other CPU,
    the placement "unpinned" may or may not give a loop (and gives different
    loops different ones), so raw and pooled loops compare fairly there."""
    wanted = [p.strip() for p in os.environ.get("BENCH_PLACEMENTS", "pinned,crossed,unpinned").split(",")
              if p.strip()]
    placements, unavailable = [], None
    pin_cpu = min(all_cpus)
    pid, why = server_pid()
    if "pinned" in wanted:
        if pid is None:
            unavailable = why
        else:
            try:
                os.sched_setaffinity(0, {pin_cpu})
                os.sched_setaffinity(0, all_cpus)
                if not set_server_affinity(pid, {pin_cpu}):
                    unavailable = "the server's threads did not take the new CPU mask"
            except OSError as error:
                unavailable = f"sched_setaffinity failed: {error}"
            finally:
                if pid is not None:
                    set_server_affinity(pid, all_cpus)
        if unavailable is None:
            placements.append(("pinned", {pin_cpu}, {pin_cpu}, pid, f"server threads and client on CPU {pin_cpu}"))
        else:
            log(f"pinning unavailable: {unavailable}")
    other_cpus = sorted(set(all_cpus) - {pin_cpu})
    if "crossed" in wanted and pid is not None and unavailable is None and other_cpus:
        placements.append(("crossed", {pin_cpu}, {other_cpus[0]}, pid,
                           f"client on CPU {pin_cpu}, server threads on CPU {other_cpus[0]}"))
    if "unpinned" in wanted:
        placements.append(("unpinned", set(all_cpus), set(all_cpus), pid, f"no pinning (CPUs {sorted(all_cpus)})"))
    return placements, unavailable


# ---------------------------------------------------------------------------
# Running


def run_worker(peer, cfg, cpus):
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    if peer.startswith("ours") or peer == "bound":  # the bound fetches its rows through ours
        env["PYTHONPATH"] = str(ROOT / "bindings" / "python")
    if peer in ("ours-objects", "ours-pickle"):
        env["PYMYSQLPOOL_ROWS"] = peer.removeprefix("ours-")
    wcfg = {k: cfg[k] for k in ("point_n", "checkout_n", "threads_n", "executemany_n", "bulk_rows")}
    if peer in PEER_SCENARIOS:
        wcfg["scenarios"] = PEER_SCENARIOS[peer]
    result = subprocess.run([str(VENV_PY), str(BENCH / "worker.py"), "run", peer, json.dumps(wcfg)],
                            capture_output=True, text=True, env=env, cwd=BENCH, timeout=300,
                            preexec_fn=lambda: os.sched_setaffinity(0, cpus))
    lines = result.stdout.strip().splitlines()
    try:
        out = json.loads(lines[-1])
    except (IndexError, ValueError):
        out = {"peer": peer, "results": {}, "errors": {"process": f"exit {result.returncode}: "
                                                                   f"{result.stderr.strip()[-600:]}"}}
    if out.get("errors"):
        for scenario, error in out["errors"].items():
            log(f"  {peer} {scenario}: {error}")
    return out


def run_c(cfg, cpus, bulk_table):
    cmd = [str(C_BENCH), "--point", str(cfg["c_point_n"]), "--checkout", str(cfg["c_checkout_n"]),
           "--bulk-table", bulk_table, "--bulk-limit", str(cfg["bulk_rows"])]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300,
                            preexec_fn=lambda: os.sched_setaffinity(0, cpus))
    rows = []
    for line in result.stdout.splitlines():
        try:
            rows.append(json.loads(line))
        except ValueError:
            pass
    if result.returncode != 0:
        log(f"  c_bench exit {result.returncode}: {result.stderr.strip()[-400:]}")
    return rows


def collect(samples, key, value, extra=None):
    entry = samples.setdefault(key, {"samples": [], "extra": []})
    entry["samples"].append(value)
    if extra:
        entry["extra"].append(extra)


def run_placement(name, cpus, server_cpus, pid, cfg, peers, run_c_side):
    if pid is not None:
        ok = set_server_affinity(pid, server_cpus)
        if not ok:
            log(f"warning: server threads not all on CPUs {sorted(server_cpus)}")
    samples = {}  # (section, peer) -> {"samples": [...]}
    errors = {}
    units = [p for p in peers] + (["c"] if run_c_side else [])
    for rep in range(cfg["reps"]):
        shift = rep % len(units)
        for unit in units[shift:] + units[:shift]:
            t0 = time.monotonic()
            if unit == "c":
                for row in run_c(cfg, cpus, "bench_bulk"):
                    peer, scenario, value = row["peer"], row["scenario"], row["value"]
                    if scenario == "stmt_point":
                        collect(samples, ("c_stmt_point", peer), value)
                    elif scenario == "point":
                        collect(samples, ("c_point", peer), value)
                        if peer == "raw-c":
                            collect(samples, ("point", peer), value)
                    elif scenario == "checkout_rss_growth":
                        collect(samples, ("c_checkout_rss", peer), value)
                    elif scenario == "checkout":
                        collect(samples, ("c_checkout", peer), value)
                        collect(samples, ("checkout", peer), value / 1000.0)
                    elif scenario == "bulk":
                        collect(samples, ("c_bulk", peer), value)
                        collect(samples, ("bulk", peer), value)
                        if peer == "raw-c":
                            collect(samples, ("bulk_rss", peer), row["rss_peak_kib"] / 1024.0)
                            collect(samples, ("bulk_rss_growth", peer),
                                    (row["rss_peak_kib"] - row["rss_before_kib"]) / 1024.0)
                log(f"[{name} {rep + 1}/{cfg['reps']}] c_bench {time.monotonic() - t0:.1f}s")
                continue
            out = run_worker(unit, cfg, cpus)
            for scenario, error in out.get("errors", {}).items():
                errors.setdefault(unit, {})[scenario] = error
            for scenario, res in out.get("results", {}).items():
                collect(samples, (scenario, unit), res["value"])
                if scenario == "async_point":
                    collect(samples, ("async_lag", unit), res["worst_lag_ms"])
                if scenario == "bulk":
                    collect(samples, ("bulk_rss", unit), res["rss_peak_kib"] / 1024.0)
                    collect(samples, ("bulk_rss_growth", unit), (res["rss_peak_kib"] - res["rss_before_kib"]) / 1024.0)
            log(f"[{name} {rep + 1}/{cfg['reps']}] {unit} {time.monotonic() - t0:.1f}s")
    return summarize(samples), errors


def summarize(samples):
    sections = {}
    for key, unit, title, higher, base, peers in ((s[0], s[2], s[1], s[3], s[4], s[5]) for s in SECTIONS):
        rows = {}
        for peer in peers:
            entry = samples.get((key, peer))
            if not entry:
                continue
            xs = sorted(entry["samples"])
            q1, q3 = (statistics.quantiles(xs, n=4, method="inclusive")[0::2] if len(xs) >= 2 else (xs[0], xs[0]))
            rows[peer] = {"median": statistics.median(xs), "min": xs[0], "max": xs[-1], "q1": q1, "q3": q3,
                          "samples": [round(x, 4) for x in entry["samples"]]}
        base_median = rows.get(base, {}).get("median")
        for peer, row in rows.items():
            if base_median and row["median"]:
                row["ours_x"] = base_median / row["median"] if higher else row["median"] / base_median
            else:
                row["ours_x"] = None
        sections[key] = {"title": title, "unit": unit, "higher_is_better": higher, "base": base, "rows": rows}
    add_bound(sections, samples)
    return sections


def add_bound(sections, samples):
    """The bulk bound, issue 18: on one CPU a Python fetch pays at least
    raw C's walk of the rows plus CPython building the same objects, so its
    rate is 1 / (1/raw C + 1/build), from the medians of both."""
    bulk = sections.get("bulk", {}).get("rows", {})
    raw, build = bulk.get("raw-c", {}).get("median"), samples.get(("bulk_build", "bound"))
    if not raw or not build:
        return
    bound = 1 / (1 / raw + 1 / statistics.median(build["samples"]))
    base = bulk.get("ours", {}).get("median")
    bulk["bound"] = {"median": bound, "min": bound, "max": bound, "q1": bound, "q3": bound, "samples": [],
                     "ours_x": base / bound if base else None}


# ---------------------------------------------------------------------------
# Output


def fmt_value(x, unit):
    if x is None:
        return "-"
    if unit in ("µs/pair",):
        return f"{x:,.2f}" if x < 100 else f"{x:,.0f}"
    if unit == "MiB":
        return f"{x:,.1f}"
    if unit == "ns/pair":
        return f"{x:,.0f}"
    return f"{x:,.0f}"


def print_table(name, note, sections, file=sys.stdout):
    print(f"\n== {name}: {note} ==", file=file)
    header = f"{'scenario':<16} {'peer':<34} {'median':>11} {'unit':<8} {'ours×':>6}  spread (min–max, ±%)"
    print(header, file=file)
    print("-" * len(header), file=file)
    for key, section in sections.items():
        for peer, row in section["rows"].items():
            unit = section["unit"]
            ratio = f"{row['ours_x']:.2f}" if row.get("ours_x") else "-"
            half = (row["max"] - row["min"]) / 2 / row["median"] * 100 if row["median"] else 0
            spread = f"{fmt_value(row['min'], unit)}–{fmt_value(row['max'], unit)} (±{half:.0f}%)"
            print(f"{key:<16} {LABELS.get(peer, peer):<34} {fmt_value(row['median'], unit):>11} {unit:<8} "
                  f"{ratio:>6}  {spread}", file=file)


def markdown(report):
    """latest.md: the tables in Markdown, ready to paste into the README."""
    m, cfg = report["machine"], report["config"]
    lines = [f"Machine: {m['cpu_model']}, nproc {m['nproc']}, {m['memory']}, {m['kernel']}; MariaDB "
             f"{m['mariadb_server']}, libmariadb {m['libmariadb_client']}; Python {m['python']}; ours "
             f"{m['ours_version']} ({m['git_commit']}{', dirty tree' if m['git_dirty'] else ''}); {m['date']}. "
             f"Median of {cfg['reps']} runs; ours× > 1: ours is better.", ""]
    for name, placement in report["placements"].items():
        lines.append(f"**{name}** ({placement['note']})")
        lines.append("")
        if not placement.get("available"):
            continue
        lines += ["| scenario | peer | median | unit | ours× | min–max |", "| --- | --- | ---: | --- | ---: | --- |"]
        for key, section in placement["sections"].items():
            for peer, row in section["rows"].items():
                unit = section["unit"]
                ratio = f"{row['ours_x']:.2f}" if row.get("ours_x") else "-"
                label = LABELS.get(peer, peer)
                if peer in ("ours", "ours-c"):
                    label = f"**{label}**"
                lines.append(f"| {key} | {label} | {fmt_value(row['median'], unit)} | {unit} | {ratio} | "
                             f"{fmt_value(row['min'], unit)}–{fmt_value(row['max'], unit)} |")
        targets = placement["targets"]
        lines += ["", f"Issue 4 targets met: {sum(1 for t in targets if t['met'])} of {len(targets)}", ""]
        for t in targets:
            value = "-" if t["value"] is None else f"{t['value']:,.2f}"
            lines.append(f"- {({True: 'ok', False: 'MISS'}).get(t['met'], 'n/a')}: {t['target']}: {value} (goal {t['goal']})")
        lines.append("")
    return "\n".join(lines) + "\n"


def print_targets(targets, file=sys.stdout):
    met = sum(1 for t in targets if t["met"])
    print(f"issue 4 targets: {met} of {len(targets)} met", file=file)
    for t in targets:
        mark = {True: "ok  ", False: "MISS", None: "n/a "}[t["met"]]
        value = "-" if t["value"] is None else f"{t['value']:,.2f}"
        print(f"  {mark} {t['target']:<58} {value:>9} (goal {t['goal']})", file=file)


def main(argv):
    if "--help" in argv or "-h" in argv:
        print(__doc__)
        return 0
    state = ensure_venv()
    if "--setup" in argv:
        status = peer_availability()
        for peer, why in status.items():
            if why:
                log(f"peer {peer} unavailable: {why}")
        log(f"venv ready: {VENV}")
        return 0
    if not os.environ.get("MYSQL_HOST"):
        log("MYSQL_HOST is not set: run under scripts/server/with-mariadb.sh (make bench does)")
        return 2
    if not LIB.exists():
        log(f"{LIB} missing: run make build")
        return 2
    cfg = config()
    started = time.monotonic()
    build_c_bench()
    compile_ours()
    status = peer_availability()
    wanted = [p.strip() for p in os.environ.get("BENCH_PEERS", "").split(",") if p.strip()]
    peers = [p for p in PY_PEERS + ASYNC_PEERS if (not wanted or p in wanted) and not status.get(p)]
    run_c_side = not wanted or "c" in wanted
    unavailable = {p: why for p, why in status.items() if why and (not wanted or p in wanted)}
    for peer, why in unavailable.items():
        log(f"peer {peer} unavailable: {why}")

    prep = subprocess.run([str(VENV_PY), str(BENCH / "worker.py"), "prepare"], capture_output=True, text=True,
                          cwd=BENCH, timeout=600)
    if prep.returncode != 0:
        log(f"preparing the bulk table failed:\n{prep.stderr}")
        return 1
    log(f"bulk table: {prep.stdout.strip()}")
    facts_run = subprocess.run([str(VENV_PY), str(BENCH / "worker.py"), "facts"], capture_output=True, text=True,
                               cwd=BENCH, timeout=120)
    facts = machine_facts(json.loads(facts_run.stdout) if facts_run.returncode == 0 else {})
    facts["loadavg_start"] = loadavg()

    all_cpus = os.sched_getaffinity(0)
    placements, pin_unavailable = plan_placements(all_cpus)
    report = {"machine": facts, "config": cfg, "placements": {}, "unavailable_peers": unavailable,
              "install_failures": state.get("failures", {}), "labels": LABELS}
    if pin_unavailable:
        report["placements"]["pinned"] = {"available": False, "note": f"pinning unavailable: {pin_unavailable}"}
    try:
        for name, cpus, server_cpus, pid, note in placements:
            t0 = time.monotonic()
            sections, errors = run_placement(name, cpus, server_cpus, pid, cfg, peers, run_c_side)
            report["placements"][name] = {"available": True, "note": note, "cpus": sorted(cpus),
                                          "seconds": round(time.monotonic() - t0, 1), "sections": sections,
                                          "targets": evaluate_targets(sections), "errors": errors}
    finally:
        pid, _ = server_pid()
        if pid is not None:
            set_server_affinity(pid, all_cpus)
    facts["loadavg_end"] = loadavg()
    facts["seconds"] = round(time.monotonic() - started, 1)

    out_dir = Path(os.environ.get("BENCH_OUT") or BENCH / "results")
    out_dir.mkdir(parents=True, exist_ok=True)
    print(f"mysqlpool benchmark {facts['date']}: {facts['cpu_model']}, nproc {facts['nproc']}, "
          f"{facts['kernel']}, MariaDB {facts['mariadb_server']}, Python {facts['python']}, "
          f"ours {facts['ours_version']} ({facts['git_commit']}{', dirty tree' if facts['git_dirty'] else ''})")
    print(f"median of {cfg['reps']} runs per peer and scenario{' (BENCH_QUICK)' if cfg['quick'] else ''}; "
          "ours× = how many times better ours is (>1: ours wins; for µs and MiB: peer/ours)")
    if facts["loadavg_start"] and facts["loadavg_start"][0] > 1.0:
        print(f"note: load average {facts['loadavg_start'][0]:.2f} at the start: other processes may have been "
              "using the CPUs; the numbers are noisier than on an idle machine")
    for name, placement in report["placements"].items():
        if not placement.get("available"):
            print(f"\n== {name}: {placement['note']} ==")
            continue
        print_table(name, placement["note"], placement["sections"])
        print_targets(placement["targets"])
        for peer, errs in placement.get("errors", {}).items():
            for scenario, error in errs.items():
                print(f"error: {peer} {scenario}: {error}")
    if unavailable:
        print("\nnot run: " + "; ".join(f"{p} ({why})" for p, why in unavailable.items()))
    json_path = out_dir / "latest.json"
    json_path.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n")
    (out_dir / "latest.md").write_text(markdown(report))
    chart = subprocess.run([str(VENV_PY), str(BENCH / "chart.py"), str(json_path), str(out_dir / "latest.png")],
                           capture_output=True, text=True, cwd=BENCH)
    if chart.returncode != 0:
        log(f"chart failed: {chart.stderr.strip()[-800:]}")
    print(f"\nwrote {json_path.relative_to(ROOT) if json_path.is_relative_to(ROOT) else json_path}, latest.md"
          + ("" if chart.returncode else f" and {(out_dir / 'latest.png').name}")
          + f" in {facts['seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
