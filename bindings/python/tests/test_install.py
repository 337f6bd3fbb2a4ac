"""`pip install ./bindings/python` gives a package that works from anywhere:
the library is built and shipped inside it, no LD_LIBRARY_PATH, no checkout."""

import json
import os
import pathlib
import subprocess
import sys

BINDINGS = pathlib.Path(__file__).resolve().parents[1]


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
