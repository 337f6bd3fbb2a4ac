"""Builds libmysqlpool.so with SwiftPM and ships it inside the package, so an
installed pymysqlpool needs no LD_LIBRARY_PATH and no source checkout.

    pip install ./bindings/python             # build and install
    python -m build --wheel bindings/python   # dist/mysqlpool-<version>-py3-none-linux_x86_64.whl

Environment:

MYSQLPOOL_PREBUILT_LIBRARY
    Path of an already built libmysqlpool.so (e.g. the
    .build/release/libmysqlpool.so that `make build` leaves) to ship instead
    of running `swift build -c release`. The Python tests set it so that
    building a wheel does not build the library a second time. Unset, the
    library is built from the checkout this file sits in.

The wheel is tagged py3-none-<platform>: not pure Python (it carries a native
library for one platform), but no CPython extension either, so any Python 3
on that platform can load it. The platform tag is the plain one
(linux_x86_64), not manylinux: the library links the system's
libmariadb.so.3 (Debian's libmariadb3), which the wheel does not carry.
"""

import os
import pathlib
import shutil
import subprocess

from setuptools import Distribution, setup
from setuptools.command.build_py import build_py

try:
    from setuptools.command.bdist_wheel import bdist_wheel  # setuptools >= 70.1
except ImportError:
    try:
        from wheel.bdist_wheel import bdist_wheel  # older setuptools build wheels with the wheel package
    except ImportError:
        bdist_wheel = None

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parents[1]


def built_library():
    """The libmysqlpool.so to ship: MYSQLPOOL_PREBUILT_LIBRARY's, or one
    built now with SwiftPM."""
    prebuilt = os.environ.get("MYSQLPOOL_PREBUILT_LIBRARY")
    if prebuilt:
        library = pathlib.Path(prebuilt)
        if not library.is_file():
            raise RuntimeError(f"MYSQLPOOL_PREBUILT_LIBRARY={prebuilt}: no such file")
        return library
    library = REPO / ".build" / "release" / "libmysqlpool.so"
    if (REPO / "Package.swift").is_file():
        subprocess.run(["swift", "build", "-c", "release", "--package-path", str(REPO)], check=True)
    if not library.is_file():
        raise RuntimeError(f"libmysqlpool.so was not built at {library}")
    return library


class BuildWithLibrary(build_py):
    def run(self):
        # setuptools never empties build/lib: a module since removed (or
        # turned into a package) would ship again in the next wheel.
        shutil.rmtree(pathlib.Path(self.build_lib) / "pymysqlpool", ignore_errors=True)
        super().run()
        library = built_library()
        target = pathlib.Path(self.build_lib) / "pymysqlpool" / "lib"
        target.mkdir(parents=True, exist_ok=True)
        shutil.copy2(library, target / "libmysqlpool.so")


class BinaryDistribution(Distribution):
    """Not pure Python: installed into platlib, and the wheel's root is
    platlib (Root-Is-Purelib: false)."""

    def has_ext_modules(self):
        return True


commands = {"build_py": BuildWithLibrary}

if bdist_wheel is not None:

    class PlatformWheel(bdist_wheel):
        """A py3-none-<platform> wheel (see the module docstring), not the
        cpXY-cpXY one that has_ext_modules() would otherwise give."""

        def get_tag(self):
            _python, _abi, platform = super().get_tag()
            return "py3", "none", platform

    commands["bdist_wheel"] = PlatformWheel


setup(distclass=BinaryDistribution, cmdclass=commands)
