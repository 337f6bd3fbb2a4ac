"""`pip install ./bindings/python` gives a package that works from anywhere:
the library is built and shipped inside it, no LD_LIBRARY_PATH, no checkout.

`python -m build --wheel bindings/python` gives a py3-none-<platform> wheel
with the library, py.typed and the constants package; installed into a fresh
venv it runs from outside the checkout, and its type hints pass `mypy
--strict` on a user's script (typing_check.py). The wheel is built once per
session from the library `make build` left (MYSQLPOOL_PREBUILT_LIBRARY, see
setup.py), so that it does not run swift build a second time.
"""

import hashlib
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import sysconfig
import zipfile

import pytest

BINDINGS = pathlib.Path(__file__).resolve().parents[1]
REPO = BINDINGS.parents[1]
BUILT_LIBRARY = REPO / ".build" / "release" / "libmysqlpool.so"
TYPING_CHECK = pathlib.Path(__file__).resolve().parent / "typing_check.py"
# What must not leak into a run "from outside": the checkout on the path, or a library elsewhere.
LEAKY_VARIABLES = ("PYTHONPATH", "MYSQLPOOL_LIBRARY", "LD_LIBRARY_PATH", "MYPYPATH")


def test_pip_install_into_a_fresh_venv_and_query(tmp_path, server_kw):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps",
                    "--disable-pip-version-check", str(BINDINGS)], check=True, cwd=tmp_path)
    script = (
        "import json, sys, pymysqlpool\n"
        "kw = json.loads(sys.argv[1])\n"
        "pool = pymysqlpool.ConnectionPool(maxsize=2, **kw)\n"
        "with pool.connection() as conn:\n"
        "    cursor = conn.cursor(); cursor.execute('SELECT 40 + 2'); print(cursor.fetchone()[0])\n"
        "print(pymysqlpool._lib.lib._name)\n"
    )
    environment = {key: value for key, value in os.environ.items()
                   if key not in ("PYTHONPATH", "MYSQLPOOL_LIBRARY", "LD_LIBRARY_PATH")}
    completed = subprocess.run([str(python), "-c", script, json.dumps(server_kw)], cwd=tmp_path, env=environment,
                               capture_output=True, text=True, check=True)
    answer, library = completed.stdout.split()
    assert answer == "42"
    assert library.startswith(str(venv)) and library.endswith("pymysqlpool/lib/libmysqlpool.so")


def test_a_missing_library_fails_the_import_with_every_path_tried():
    environment = dict(os.environ, MYSQLPOOL_LIBRARY="/nonexistent/libmysqlpool.so", PYTHONPATH=str(BINDINGS))
    completed = subprocess.run([sys.executable, "-c", "import pymysqlpool"], env=environment,
                               capture_output=True, text=True)
    assert completed.returncode != 0
    assert "ImportError" in completed.stderr
    assert "/nonexistent/libmysqlpool.so" in completed.stderr
    assert "make build" in completed.stderr


# --------------------------------------------------------------------------
# The wheel


def outside_environment():
    return {key: value for key, value in os.environ.items() if key not in LEAKY_VARIABLES}


def platform_tag():
    return re.sub(r"[^A-Za-z0-9]", "_", sysconfig.get_platform())


@pytest.fixture(scope="session")
def wheel(tmp_path_factory):
    """The wheel `python -m build --wheel bindings/python` makes (built once)."""
    outdir = tmp_path_factory.mktemp("dist")
    environment = dict(os.environ)
    if "MYSQLPOOL_PREBUILT_LIBRARY" not in environment and BUILT_LIBRARY.is_file():
        environment["MYSQLPOOL_PREBUILT_LIBRARY"] = str(BUILT_LIBRARY)
    completed = subprocess.run([sys.executable, "-m", "build", "--wheel", "--outdir", str(outdir), str(BINDINGS)],
                               env=environment, cwd=outdir, capture_output=True, text=True, timeout=900)
    assert completed.returncode == 0, completed.stdout[-4000:] + completed.stderr[-4000:]
    wheels = list(outdir.glob("*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


@pytest.fixture(scope="session")
def wheel_venv(wheel, tmp_path_factory):
    """A fresh venv with the wheel installed (offline: it has no dependencies); its python."""
    venv = tmp_path_factory.mktemp("wheel-venv") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-index", "--disable-pip-version-check",
                    str(wheel)], check=True, cwd=venv, env=outside_environment())
    return python


def test_the_wheel_is_py3_none_platform_with_the_library_type_hints_and_constants(wheel):
    import pymysqlpool

    tag = f"py3-none-{platform_tag()}"
    assert wheel.name == f"mysqlpool-{pymysqlpool.__version__}-{tag}.whl"
    dist_info = f"mysqlpool-{pymysqlpool.__version__}.dist-info"
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        metadata = archive.read(f"{dist_info}/WHEEL").decode()
        library = archive.read("pymysqlpool/lib/libmysqlpool.so")
    # Every module of the source tree, nothing stale from an earlier build,
    # all at the wheel's root (platlib), none under .data/purelib.
    sources = {path.relative_to(BINDINGS).as_posix() for path in (BINDINGS / "pymysqlpool").rglob("*.py")}
    assert {"pymysqlpool/constants/__init__.py", "pymysqlpool/constants/CLIENT.py",
            "pymysqlpool/constants/FIELD_TYPE.py"} <= sources
    package = {name for name in names if not name.startswith(dist_info + "/")}
    assert package == sources | {"pymysqlpool/py.typed", "pymysqlpool/lib/libmysqlpool.so"}
    assert {f"{dist_info}/{name}" for name in ("METADATA", "WHEEL", "RECORD", "entry_points.txt")} <= names
    assert f"Tag: {tag}" in metadata.splitlines()
    assert "Root-Is-Purelib: false" in metadata.splitlines()
    assert library[:4] == b"\x7fELF"
    prebuilt = os.environ.get("MYSQLPOOL_PREBUILT_LIBRARY") or str(BUILT_LIBRARY)
    if pathlib.Path(prebuilt).is_file():
        assert hashlib.sha256(library).digest() == hashlib.sha256(pathlib.Path(prebuilt).read_bytes()).digest()


def test_the_wheel_installs_into_a_fresh_venv_and_queries_from_outside_the_checkout(wheel_venv, server_kw,
                                                                                   tmp_path):
    script = (
        "import json, sys, pymysqlpool\n"
        "kw = json.loads(sys.argv[1])\n"
        "pool = pymysqlpool.ConnectionPool(maxsize=2, **kw)\n"
        "with pool.connection() as conn:\n"
        "    cursor = conn.cursor(); cursor.execute('SELECT 40 + %s', (2,)); print(cursor.fetchone()[0])\n"
        "pool.close()\n"
        "print(pymysqlpool.__file__, pymysqlpool._lib.lib._name)\n"
    )
    # -I: neither the current directory nor PYTHON* variables on the path.
    completed = subprocess.run([str(wheel_venv), "-I", "-c", script, json.dumps(server_kw)], cwd=tmp_path,
                               env=outside_environment(), capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr
    answer, module, library = completed.stdout.split()
    assert answer == "42"
    venv = str(wheel_venv.parents[1])
    assert module.startswith(venv) and module.endswith("site-packages/pymysqlpool/__init__.py")
    assert library.startswith(venv) and library.endswith("site-packages/pymysqlpool/lib/libmysqlpool.so")


def run_mypy(python, source, cache):
    """mypy --strict on one file, with the wheel's venv as the place to find
    pymysqlpool (its site-packages), from a directory with no checkout in it."""
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--python-executable", str(python), "--cache-dir", str(cache),
         "--no-color-output", "--show-error-codes", source.name],
        cwd=source.parent, env=outside_environment(), capture_output=True, text=True, timeout=300)


def test_the_public_api_type_checks_with_mypy_strict_and_runs(wheel_venv, tmp_path):
    script = tmp_path / "typing_check.py"
    shutil.copyfile(TYPING_CHECK, script)
    completed = run_mypy(wheel_venv, script, tmp_path / "mypy-cache")
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "Success: no issues found in 1 source file" in completed.stdout
    # What the types say is what happens.
    ran = subprocess.run([str(wheel_venv), "-I", str(script)], cwd=tmp_path, env=outside_environment(),
                         capture_output=True, text=True, timeout=120)
    assert ran.returncode == 0, ran.stderr
    answer, b, total, last_id, thread = ran.stdout.split()
    assert (answer, b, total, last_id, thread) == ("42", "two", "6", "3", "True")


def test_mypy_rejects_misuse_of_the_public_api(wheel_venv, tmp_path):
    """The hints are real types (not Any): each line below is an error."""
    lines = [
        "import pymysqlpool",
        "pool = pymysqlpool.ConnectionPool(maxsize=2)",
        "pool.get_connection(retry_num='3')",  # 3: arg-type
        "count: str = pool.get_connection().cursor().execute('SELECT 1')",  # 4: assignment
        "pool.get_connection().commit(True)",  # 5: call-arg
        "row: int = pool.get_connection().cursor(pymysqlpool.DictCursor).fetchall()",  # 6: assignment
        "idle: str = pool.available_num",  # 7: assignment
        "pymysqlpool.ConnectionPool(size='10')",  # 8: arg-type
    ]
    source = tmp_path / "misuse.py"
    source.write_text("\n".join(lines) + "\n")
    completed = run_mypy(wheel_venv, source, tmp_path / "mypy-cache")
    errors = {(int(line), code) for line, code in
              re.findall(r"^misuse\.py:(\d+): error: .*\[([a-z-]+)\]$", completed.stdout, re.MULTILINE)}
    assert errors == {(3, "arg-type"), (4, "assignment"), (5, "call-arg"), (6, "assignment"), (7, "assignment"),
                      (8, "arg-type")}, completed.stdout + completed.stderr
