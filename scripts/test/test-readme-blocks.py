#!/usr/bin/env python3
"""test-readme-blocks.py [-v] [FILE.md ...]

Runs the fenced code blocks of README.md and docs/*.md (or of the files
named), so that what the documentation shows keeps working:

  ```python   run with this Python, PYTHONPATH=bindings/python, in a scratch
              directory, against the server in MYSQL_*; it must exit 0.  When
              every print(...) line of the block ends in a comment
              ("print(x)  # (1,)"), the output must be those comments, in order.
  ```c        with a main(): compiled with cc -std=c99 -Wall -Wextra -pedantic
              -Werror against include/ and .build/release/libmysqlpool.so,
              then run; it must exit 0 and write nothing to stderr
              (examples with short error handling report failures there).  Without a main(): a fragment.  The
              fragments of one file are compiled together, in order, as one
              translation unit after <stddef.h> and <stdint.h>, with
              -fsyntax-only (docs/c-api.md's declarations are such fragments).
  ```sh       (also bash, shell) checked with `bash -n`, never run (they
              include `make test`); every `make TARGET` must name a Makefile
              target, every scripts/..., bindings/..., include/... path must exist.

Any other block (no language, ```text, ...) must opt out.  A block opts out
with an HTML comment as the last non-blank line before it:

    <!-- not-run: why -->

Every opted-out block is printed with its reason.

Placeholder credentials.  Examples are written for a server on 127.0.0.1
with user "app", password "secret" and database "test".  Before a block runs,
these literals, and only these, are replaced by the MYSQL_* values:

    setting    literal in the block           replaced by
    host       '127.0.0.1' or 'localhost'     $MYSQL_HOST, plus port $MYSQL_TCP_PORT
    user       'app'                          $MYSQL_USER
    password   'secret'                       $MYSQL_PWD
    database   'test' (also as db)            $MYSQL_DATABASE

In Python they are matched as keyword arguments (host='127.0.0.1', either
quote); the port is added as port=N next to host= unless the block passes
port= itself.  In C they are matched as pool_config_set(cfg, "host",
"127.0.0.1") calls; a pool_config_set(cfg, "port", "N") call is added after
the host's unless the block sets "port" itself.  Other values are left alone
(a block may also read os.environ itself).  -v prints each substitution.

Exit status: 0 when every block passed, 1 otherwise (or when MYSQL_HOST is
not set: run it as scripts/server/with-mariadb.sh python3 scripts/test/test-readme-blocks.py).
"""

import argparse
import os
import pathlib
import re
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
LIBRARY_DIR = ROOT / ".build" / "release"
CC = os.environ.get("CC", "cc")
C_FLAGS = ["-std=c99", "-Wall", "-Wextra", "-pedantic", "-Werror"]
RUN_TIMEOUT = 120

PYTHON = {"python", "py", "python3"}
C = {"c"}
SHELL = {"sh", "bash", "shell"}

NOT_RUN = re.compile(r"^\s*<!--\s*not-run:\s*(.*?)\s*-->\s*$")
FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})\s*([^\s`]*)")

# setting -> (placeholder literals, MYSQL_* variable)
PLACEHOLDERS = {
    "host": (("127.0.0.1", "localhost"), "MYSQL_HOST"),
    "user": (("app",), "MYSQL_USER"),
    "password": (("secret",), "MYSQL_PWD"),
    "database": (("test",), "MYSQL_DATABASE"),
    "db": (("test",), "MYSQL_DATABASE"),
}


class Block:
    def __init__(self, path, line, language, lines, reason):
        self.path = path
        self.line = line  # of the opening fence, 1-based
        self.language = language
        self.code = "\n".join(lines) + "\n"
        self.reason = reason  # opt-out reason or None

    @property
    def where(self):
        try:
            name = self.path.relative_to(ROOT)
        except ValueError:
            name = self.path
        return f"{name}:{self.line}"


def blocks_of(path):
    lines = path.read_text(encoding="utf-8").split("\n")
    blocks = []
    i = 0
    while i < len(lines):
        match = FENCE.match(lines[i])
        if not match:
            i += 1
            continue
        indent, fence, language = len(match.group(1)), match.group(2), match.group(3).lower()
        body = []
        j = i + 1
        while j < len(lines):
            stripped = lines[j].strip()
            if stripped.startswith(fence[0] * len(fence)) and stripped.strip(fence[0]) == "":
                break
            line = lines[j]
            body.append(line[indent:] if line[:indent].strip() == "" else line.lstrip())
            j += 1
        reason = None
        k = i - 1
        while k >= 0 and not lines[k].strip():
            k -= 1
        if k >= 0:
            marker = NOT_RUN.match(lines[k])
            if marker:
                reason = marker.group(1) or "(no reason given)"
        blocks.append(Block(path, i + 1, language, body, reason))
        i = j + 1
    return blocks


# ---------------------------------------------------------------------------
# Placeholders


def server():
    return {
        "MYSQL_HOST": os.environ["MYSQL_HOST"],
        "MYSQL_TCP_PORT": os.environ.get("MYSQL_TCP_PORT", "3306"),
        "MYSQL_USER": os.environ.get("MYSQL_USER", ""),
        "MYSQL_PWD": os.environ.get("MYSQL_PWD", ""),
        "MYSQL_DATABASE": os.environ.get("MYSQL_DATABASE", ""),
    }


def substitute_python(code, values, notes):
    has_port = re.search(r"\bport\s*=", code) is not None

    def replace(match):
        key, literal = match.group(1), match.group(3)
        literals, variable = PLACEHOLDERS[key]
        if literal not in literals:
            return match.group(0)
        text = f"{key}={values[variable]!r}"
        if key == "host" and not has_port:
            text += f", port={int(values['MYSQL_TCP_PORT'])}"
        notes.append(f"{match.group(0)} -> {text}")
        return text

    return re.sub(r"\b(host|user|password|database|db)\s*=\s*(['\"])([^'\"]*)\2", replace, code)


def c_string(text):
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def substitute_c(code, values, notes):
    has_port = re.search(r'pool_config_set\(\s*\w+\s*,\s*"port"', code) is not None

    def replace(match):
        config, key, literal = match.group(1), match.group(2), match.group(3)
        literals, variable = PLACEHOLDERS[key]
        if literal not in literals:
            return match.group(0)
        text = f"pool_config_set({config}, {c_string(key)}, {c_string(values[variable])})"
        if key == "host" and not has_port:
            text += f"; pool_config_set({config}, \"port\", {c_string(values['MYSQL_TCP_PORT'])})"
        notes.append(f"{match.group(0)} -> {text}")
        return text

    return re.sub(r'pool_config_set\(\s*(\w+)\s*,\s*"(host|user|password|database|db)"\s*,\s*"([^"\\]*)"\s*\)',
                  replace, code)


# ---------------------------------------------------------------------------
# Runners: each returns None on success or a failure message.


def run(command, **kwargs):
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=RUN_TIMEOUT, **kwargs)
    except subprocess.TimeoutExpired as expired:
        return subprocess.CompletedProcess(command, -1, expired.stdout or "", f"timed out after {RUN_TIMEOUT} s")


def output_of(proc):
    text = ""
    if proc.stdout:
        text += "--- stdout\n" + proc.stdout.rstrip() + "\n"
    if proc.stderr:
        text += "--- stderr\n" + proc.stderr.rstrip() + "\n"
    return text


def expected_prints(code):
    """The trailing comments of the print() lines, when every one has one."""
    expected = []
    for line in code.split("\n"):
        if re.match(r"\s*print\(", line):
            comment = re.search(r"\)\s*#\s?(.*)$", line)
            if not comment:
                return None
            expected.append(comment.group(1).rstrip())
    return expected or None


def run_python(block, scratch, values, notes):
    code = substitute_python(block.code, values, notes)
    script = scratch / "block.py"
    script.write_text(code, encoding="utf-8")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "bindings" / "python"), env.get("PYTHONPATH")]))
    proc = run([sys.executable, str(script)], cwd=scratch, env=env)
    if proc.returncode != 0:
        return f"exited with {proc.returncode}\n" + output_of(proc)
    expected = expected_prints(block.code)
    if expected is not None and proc.stdout.rstrip("\n").split("\n") != expected:
        return ("printed something else than its comments say\n--- expected\n" + "\n".join(expected) + "\n"
                + output_of(proc))
    return None


def run_c(block, scratch, values, notes):
    if not (LIBRARY_DIR / "libmysqlpool.so").is_file():
        return f"{LIBRARY_DIR / 'libmysqlpool.so'} is missing: build it first (make build)"
    source = scratch / "block.c"
    source.write_text(substitute_c(block.code, values, notes), encoding="utf-8")
    program = scratch / "block"
    proc = run([CC, *C_FLAGS, f"-I{ROOT / 'include'}", str(source), f"-L{LIBRARY_DIR}", "-lmysqlpool",
                f"-Wl,-rpath,{LIBRARY_DIR}", "-o", str(program)])
    if proc.returncode != 0:
        return "does not compile\n" + output_of(proc)
    proc = run([str(program)], cwd=scratch)
    if proc.returncode != 0:
        return f"exited with {proc.returncode}\n" + output_of(proc)
    if proc.stderr:
        # Examples keep error handling short and report failures on stderr.
        return "wrote to stderr\n" + output_of(proc)
    return None


def check_fragments(fragments, scratch):
    """All main()-less C blocks of one file, as one translation unit."""
    unit = ["#include <stddef.h>", "#include <stdint.h>"]
    for block in fragments:
        unit.append(f"#line {block.line + 1} \"{block.where.rsplit(':', 1)[0]}\"")
        unit.append(block.code)
    source = scratch / "fragments.c"
    source.write_text("\n".join(unit), encoding="utf-8")
    proc = run([CC, *C_FLAGS, "-fsyntax-only", str(source)])
    if proc.returncode != 0:
        return "the C fragments do not compile together\n" + output_of(proc)
    return None


def make_targets():
    makefile = ROOT / "Makefile"
    if not makefile.is_file():
        return None
    return set(re.findall(r"(?m)^([A-Za-z0-9_.-]+)\s*:(?!=)", makefile.read_text(encoding="utf-8")))


def check_shell(block, scratch):
    script = scratch / "block.sh"
    script.write_text(block.code, encoding="utf-8")
    proc = run(["bash", "-n", str(script)])
    if proc.returncode != 0:
        return "bash -n fails\n" + output_of(proc)
    problems = []
    targets = make_targets()
    for line in block.code.split("\n"):
        command = line.split("#", 1)[0]
        for match in re.finditer(r"(?:^|[;&|(]\s*|\s)make((?:\s+[A-Za-z0-9_.-]+)*)", command):
            for target in match.group(1).split():
                if "=" not in target and targets is not None and target not in targets:
                    problems.append(f"`make {target}`: the Makefile has no target {target!r}")
        for match in re.finditer(r"(?<![\w/.-])(?:\./)?((?:scripts|bindings|include|examples|bench|docs|Tests|Sources)"
                                 r"(?:/[\w.+-]+)*)/?", command):
            if not (ROOT / match.group(1)).exists():
                problems.append(f"{match.group(1)}: no such path in the repository")
    return "\n".join(problems) or None


# ---------------------------------------------------------------------------


def main():
    parser = argparse.ArgumentParser(description="Runs the code blocks of README.md and docs/*.md.")
    parser.add_argument("-v", "--verbose", action="store_true", help="print substitutions and passing output")
    parser.add_argument("files", nargs="*", type=pathlib.Path)
    args = parser.parse_args()
    files = args.files or [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    if not os.environ.get("MYSQL_HOST"):
        print("test-readme-blocks: MYSQL_HOST is not set; run it as "
              "scripts/server/with-mariadb.sh python3 scripts/test/test-readme-blocks.py", file=sys.stderr)
        return 1
    values = server()
    started = time.monotonic()
    counts = {"passed": 0, "failed": 0, "not run": 0}
    failures = []

    def report(block, kind, failure, seconds, notes):
        status = "ok  " if failure is None else "FAIL"
        counts["passed" if failure is None else "failed"] += 1
        print(f"{status} {block.where} {kind} ({seconds:.1f} s)")
        if args.verbose:
            for note in notes:
                print(f"       substituted {note}")
        if failure is not None:
            failures.append(block.where)
            print("       " + failure.rstrip().replace("\n", "\n       "))

    for path in files:
        path = path.resolve()
        if not path.is_file():
            print(f"FAIL {path}: no such file")
            counts["failed"] += 1
            failures.append(str(path))
            continue
        fragments = []
        for block in blocks_of(path):
            if block.reason is not None:
                counts["not run"] += 1
                print(f"skip {block.where} {block.language or '(no language)'}: not-run: {block.reason}")
                continue
            notes = []
            begun = time.monotonic()
            with tempfile.TemporaryDirectory(prefix="readme-block.") as scratch:
                scratch = pathlib.Path(scratch)
                if block.language in PYTHON:
                    report(block, "python", run_python(block, scratch, values, notes), time.monotonic() - begun, notes)
                elif block.language in C:
                    if re.search(r"\bint\s+main\s*\(", block.code):
                        report(block, "c program", run_c(block, scratch, values, notes), time.monotonic() - begun,
                               notes)
                    else:
                        fragments.append(block)
                elif block.language in SHELL:
                    report(block, "sh (bash -n)", check_shell(block, scratch), time.monotonic() - begun, notes)
                else:
                    report(block, block.language or "(no language)",
                           "a block in a language this script does not run needs a "
                           "<!-- not-run: reason --> line right before it", 0.0, notes)
        if fragments:
            begun = time.monotonic()
            with tempfile.TemporaryDirectory(prefix="readme-block.") as scratch:
                failure = check_fragments(fragments, pathlib.Path(scratch))
            first = fragments[0]
            label = Block(path, first.line, "c", [], None)
            report(label, f"c fragments ({len(fragments)} blocks, -fsyntax-only)", failure,
                   time.monotonic() - begun, [])

    print(f"readme blocks: {counts['passed']} passed, {counts['failed']} failed, {counts['not run']} not run "
          f"({time.monotonic() - started:.1f} s)")
    for where in failures:
        print(f"FAILED: {where}")
    return 1 if counts["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
