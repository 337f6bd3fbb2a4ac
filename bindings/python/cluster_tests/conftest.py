"""Fixtures for tests against the primary + two replicas that
scripts/cluster/with-replication.sh starts (MYSQLPOOL_CLUSTER_HOSTS, primary first).
These tests fail, never skip, without that cluster."""

import os
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


def cluster_from(variable, script):
    """The hosts a cluster script exported in `variable` (primary first),
    their ports, and the login; a failure, never a skip, without them."""
    hosts = os.environ.get(variable)
    if not hosts:
        pytest.fail(f"{variable} is not set: run under scripts/{script}")
    return {
        "hosts": hosts,
        "ports": [int(item.rsplit(":", 1)[1]) for item in hosts.split(",")],
        "kw": {"user": os.environ["MYSQL_USER"], "password": os.environ["MYSQL_PWD"],
               "database": os.environ["MYSQL_DATABASE"]},
    }


@pytest.fixture(scope="session")
def cluster():
    return cluster_from("MYSQLPOOL_CLUSTER_HOSTS", "with-replication.sh")


def cluster_ctl(*args):
    subprocess.run([str(ROOT / "scripts" / "cluster" / "cluster-ctl.sh"), *args], check=True, timeout=120,
                   stdout=subprocess.DEVNULL)


@pytest.fixture
def restore_cluster():
    """Puts the cluster back as it started (primary first) after a fault test."""
    yield cluster_ctl
    for name in ("primary", "replica1", "replica2"):
        cluster_ctl("start", name)
    cluster_ctl("promote", "primary")


def eventually(condition, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if condition():
                return True
        except Exception:  # noqa: BLE001 - the cluster is settling
            pass
        time.sleep(0.1)
    return condition()
