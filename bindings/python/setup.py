"""Builds libmysqlpool.so with SwiftPM and ships it inside the package, so an
installed pymysqlpool needs no LD_LIBRARY_PATH and no source checkout."""

import pathlib
import shutil
import subprocess

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parents[1]


class BuildWithLibrary(build_py):
    def run(self):
        super().run()
        library = REPO / ".build" / "release" / "libmysqlpool.so"
        if (REPO / "Package.swift").is_file():
            subprocess.run(["swift", "build", "-c", "release", "--package-path", str(REPO)], check=True)
        if not library.is_file():
            raise RuntimeError(f"libmysqlpool.so was not built at {library}")
        target = pathlib.Path(self.build_lib) / "pymysqlpool" / "lib"
        target.mkdir(parents=True, exist_ok=True)
        shutil.copy2(library, target / "libmysqlpool.so")


setup(cmdclass={"build_py": BuildWithLibrary})
