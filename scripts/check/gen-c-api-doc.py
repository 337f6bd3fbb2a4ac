#!/usr/bin/env python3
"""gen-c-api-doc.py [--check] [--header FILE] [--output FILE]

Writes docs/c-api.md, the C API reference, from include/mysqlpool.h (the
header is the specification; this page is a rendering of it).  With --check
nothing is written: the exit status is 1 when the page differs from what the
current header gives (run without --check to regenerate).

What the page holds, in the header's order:
  - the header's opening comment, split at its ALL-CAPS headings;
  - one "##" heading per header section (a comment starting with a line of
    dashes; its next line is the title, the rest its introduction);
  - one "###" entry per declaration group: declarations on consecutive lines
    with the comment right above them (no blank line in between).  Each entry
    shows the declarations verbatim in a ```c block (trailing comments of
    enum members, struct fields and defines included), then the comment.

Comment text is rendered as Markdown paragraphs; lists ("- ...") as lists;
column-aligned or indented text as <pre>; text starting with #include as a
```c block.  Identifiers (pool_*, POOL_*, snake_case) become code spans,
linked when the page has an entry for them.

The generator refuses (exit 2) to write a page that misses a POOL_API
function, a #define, an enum or a typedef of the header, and refuses
declarations it cannot name.  Python 3 standard library only.
"""

import argparse
import difflib
import html
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
DEFAULT_HEADER = ROOT / "include" / "mysqlpool.h"
DEFAULT_OUTPUT = ROOT / "docs" / "c-api.md"


class HeaderError(Exception):
    pass


# ---------------------------------------------------------------------------
# Tokens: comments, declarations, directives, blank lines.


class Token:
    def __init__(self, kind, lines, first):
        self.kind = kind  # "comment", "code", "blank"
        self.lines = lines
        self.first = first  # 1-based line number

    @property
    def text(self):
        return "\n".join(line.rstrip() for line in self.lines)


def _scan_code(text, start, stop_at_semicolon):
    """Where the C statement starting at `start` ends.  A declaration ends
    at the first ';' at brace depth 0 outside comments and literals: the
    index after it is returned.  A directive (stop_at_semicolon=False) ends
    at the first newline not escaped by a backslash and not inside a
    comment: its index is returned."""
    i, depth, n = start, 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("/*", i):
            end = text.find("*/", i + 2)
            if end < 0:
                raise HeaderError(f"unterminated comment at line {text.count(chr(10), 0, i) + 1}")
            i = end + 2
            continue
        if text.startswith("//", i):
            end = text.find("\n", i)
            i = n if end < 0 else end
            continue
        if c in "\"'":
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            i = j + 1
            continue
        if not stop_at_semicolon:
            if c == "\\" and text.startswith("\n", i + 1):
                i += 2
                continue
            if c == "\n":
                return i
        elif c in "{(":
            depth += 1
        elif c in "})":
            depth -= 1
        elif c == ";" and depth == 0:
            return i + 1
        i += 1
    if stop_at_semicolon:
        raise HeaderError(f"declaration at line {text.count(chr(10), 0, start) + 1} has no ';'")
    return n


def _line_end_with_trailing_comment(text, index):
    """From `index` (just after a statement), the end of that line, extended
    to the end of a comment that starts on it."""
    end = text.find("\n", index)
    end = len(text) if end < 0 else end
    rest = text[index:end]
    opening = rest.find("/*")
    if opening >= 0 and rest.find("*/", opening + 2) < 0:
        close = text.find("*/", index + opening + 2)
        if close < 0:
            raise HeaderError("unterminated trailing comment")
        end = text.find("\n", close)
        end = len(text) if end < 0 else end
    return end


def tokenize(text):
    """The header as a list of Tokens, with the include guard, #include
    lines and the `extern "C"` wrapper left out."""
    tokens = []
    lines = text.split("\n")
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line) + 1)

    def line_of(index):
        lo, hi = 0, len(offsets) - 1
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if offsets[mid] <= index:
                lo = mid
            else:
                hi = mid - 1
        return lo

    directive_names = [(m.group(1), m.group(2)) for m in re.finditer(r"(?m)^\s*#\s*(\w+)\s*(\S*)", text)]
    guard = None
    if len(directive_names) >= 2 and directive_names[0][0] == "ifndef" and directive_names[1] == ("define", directive_names[0][1]):
        guard = directive_names[0][1]

    skip_lines = set()
    i = 0
    while i < len(lines):
        stripped = lines[i].strip()
        if i in skip_lines:
            i += 1
            continue
        if not stripped:
            tokens.append(Token("blank", [lines[i]], i + 1))
            i += 1
            continue
        if stripped.startswith("/*"):
            start = offsets[i] + lines[i].index("/*")
            close = text.find("*/", start + 2)
            if close < 0:
                raise HeaderError(f"unterminated comment at line {i + 1}")
            last = line_of(close)
            if text[close + 2:offsets[last + 1] - 1].strip():
                raise HeaderError(f"code after a comment on line {last + 1}")
            tokens.append(Token("comment", lines[i:last + 1], i + 1))
            i = last + 1
            continue
        if stripped.startswith("#"):
            word = re.match(r"#\s*(\w+)\s*(\S*)", stripped)
            name, argument = word.group(1), word.group(2)
            if name in ("if", "ifdef", "ifndef"):
                end = _matching_endif(lines, i)
                if guard and name == "ifndef" and argument == guard:
                    skip_lines.add(end)
                    # the guard's #define is the next directive line
                    j = i + 1
                    while not lines[j].strip().startswith("#"):
                        j += 1
                    skip_lines.add(j)
                    i += 1
                    continue
                if name == "ifdef" and argument == "__cplusplus":
                    i = end + 1
                    continue
                tokens.append(Token("code", lines[i:end + 1], i + 1))
                i = end + 1
                continue
            if name == "include":
                i += 1
                continue
            # Comments are skipped whole, so a trailing comment that spans
            # lines stays with its directive.
            stop = _scan_code(text, offsets[i], stop_at_semicolon=False)
            last = line_of(stop) if stop < len(text) else len(lines) - 1
            tokens.append(Token("code", lines[i:last + 1], i + 1))
            i = last + 1
            continue
        stop = _scan_code(text, offsets[i], stop_at_semicolon=True)
        stop = _line_end_with_trailing_comment(text, stop)
        last = line_of(stop) if stop < len(text) else len(lines) - 1
        tokens.append(Token("code", lines[i:last + 1], i + 1))
        i = last + 1
    return tokens


def _matching_endif(lines, start):
    depth = 0
    for j in range(start, len(lines)):
        word = re.match(r"\s*#\s*(\w+)", lines[j])
        if not word:
            continue
        if word.group(1) in ("if", "ifdef", "ifndef"):
            depth += 1
        elif word.group(1) == "endif":
            depth -= 1
            if depth == 0:
                return j
    raise HeaderError(f"#{lines[start].strip()} at line {start + 1} has no #endif")


# ---------------------------------------------------------------------------
# What a declaration declares.


def _strip_comments(code):
    return re.sub(r"/\*.*?\*/", " ", code, flags=re.S)


def declared_names(code):
    """[(name, kind)] declared by one statement or directive group."""
    bare = _strip_comments(code).strip()
    if bare.startswith("#if"):
        names = [(m.group(1), "macro") for m in re.finditer(r"(?m)^\s*#\s*define\s+(\w+)", bare)]
        if not names:
            raise HeaderError(f"conditional block declares nothing: {bare.splitlines()[0]}")
        # the same macro defined on both branches is one name
        return list(dict.fromkeys(names))
    match = re.match(r"#\s*define\s+(\w+)", bare)
    if match:
        return [(match.group(1), "macro")]
    if bare.startswith("#"):
        raise HeaderError(f"unexpected directive: {bare.splitlines()[0]}")
    if re.match(r"POOL_API\b", bare):
        match = re.search(r"([A-Za-z_]\w*)\s*\(", _undecorated(bare[len("POOL_API"):]))
        if not match:
            raise HeaderError(f"cannot find the function name in: {bare}")
        return [(match.group(1), "function")]
    match = re.match(r"typedef\s+struct\s+\w+\s*\{.*\}\s*(\w+)\s*;$", bare, re.S)
    if match:
        return [(match.group(1), "struct")]
    match = re.match(r"typedef\s+(?:struct|union|enum)\s+\w+\s+(\w+)\s*;$", bare)
    if match:
        return [(match.group(1), "type")]
    match = re.match(r"typedef\s.*\(\s*\*\s*(\w+)\s*\)\s*\(.*\)\s*;$", bare, re.S)
    if match:
        return [(match.group(1), "type")]
    match = re.match(r"typedef\s+[\w\s\*]+?\b(\w+)\s*;$", bare)
    if match:
        return [(match.group(1), "type")]
    match = re.match(r"enum\s+(\w+)\s*\{(.*)\}\s*;$", bare, re.S)
    if match:
        return [(f"enum {match.group(1)}", "enum")]
    raise HeaderError(f"cannot tell what this declares:\n{code}")


def _undecorated(code):
    """Without __attribute__((...)) and ALL_CAPS_MACRO(...) decorations, so
    the first identifier before '(' is the function's name."""
    nested = r"\((?:[^()]|\((?:[^()]|\([^()]*\))*\))*\)"
    code = re.sub(r"\b__attribute__\s*" + nested, " ", code)
    return re.sub(r"\b[A-Z][A-Z0-9_]*\s*" + nested, " ", code)


def enumerators(code):
    body = re.search(r"\{(.*)\}", _strip_comments(code), re.S)
    return re.findall(r"(?:^|,)\s*([A-Za-z_]\w*)", body.group(1)) if body else []


# ---------------------------------------------------------------------------
# Sections and entries.


class Entry:
    def __init__(self, comment):
        self.comment = comment  # list of text lines, or None
        self.code = []  # Tokens

    @property
    def names(self):
        return [name for token in self.code for name, _ in declared_names(token.text)]


class Section:
    def __init__(self, title, intro):
        self.title = title
        self.intro = intro  # text lines
        self.items = []  # Entry, or ("note", lines)


SECTION_RULE = re.compile(r"^-{10,}$")


def comment_text(token):
    """The lines of a comment without /*, */ and the leading ' * '."""
    raw = token.text
    body = raw.strip()
    assert body.startswith("/*") and body.endswith("*/")
    body = body[2:-2]
    out = []
    for index, line in enumerate(body.split("\n")):
        if index == 0:
            out.append(line.strip())
            continue
        match = re.match(r"^\s*\*(?: ?)(.*)$", line)
        out.append(match.group(1).rstrip() if match else line.strip())
    while out and not out[-1].strip():
        out.pop()
    while out and not out[0].strip():
        out.pop(0)
    return out


def parse(text):
    """(opening comment lines or None, [Section])."""
    tokens = tokenize(text)
    preamble = None
    position = 0
    while position < len(tokens) and tokens[position].kind == "blank":
        position += 1
    if position < len(tokens) and tokens[position].kind == "comment":
        preamble = comment_text(tokens[position])
        position += 1
    sections = [Section(None, [])]
    pending = None  # a comment not yet known to describe code
    entry = None  # the entry consecutive code lines join
    for token in tokens[position:]:
        if token.kind == "blank":
            if pending is not None:
                sections[-1].items.append(("note", pending))
                pending = None
            entry = None
        elif token.kind == "comment":
            if pending is not None:
                sections[-1].items.append(("note", pending))
                pending = None
            entry = None
            lines = comment_text(token)
            if lines and SECTION_RULE.match(lines[0]):
                rest = lines[1:]
                while rest and not rest[0].strip():
                    rest.pop(0)
                if not rest:
                    raise HeaderError(f"section comment at line {token.first} has no title")
                sections.append(Section(rest[0].strip(), rest[1:]))
            else:
                pending = lines
        else:
            if entry is None:
                entry = Entry(pending)
                pending = None
                sections[-1].items.append(entry)
            entry.code.append(token)
    if pending is not None:
        sections[-1].items.append(("note", pending))
    if not sections[0].items:
        sections.pop(0)
    return preamble, sections


# ---------------------------------------------------------------------------
# Comment text -> Markdown.

HEADING = re.compile(r"^([A-Z][A-Z0-9-]{2,}(?: [A-Z][A-Z0-9-]*)*)(:.*|\s*\(.*\))?$")
IDENTIFIER = re.compile(
    r"(?<![\w`*])(?:(\*)([A-Za-z_]\w*)|()((?:pool|POOL)_\w*(?:(?<=_)\*)?|[a-z][a-z0-9]*(?:_[a-z0-9]+)+))"
    r"(\(\))?(?![\w`])"
)
LABEL = re.compile(r"(^|(?<=\. ))(Return|Ownership|Thread-safety):")


def sentence_case(title):
    match = HEADING.match(title)
    if not match:
        return title
    words = match.group(1)
    return words[:1] + words[1:].lower() + (match.group(2) or "")


def _escape_plain(text):
    text = text.replace("\\", "\\\\")
    for char in "*_[]<|":
        text = text.replace(char, "\\" + char)
    return text


def inline(text, anchors):
    """One paragraph of header prose as Markdown."""
    parts = re.split(r"(`[^`]*`)", text) if text.count("`") % 2 == 0 else [text]
    out = []
    for index, part in enumerate(parts):
        if index % 2 == 1:
            out.append(part)
            continue
        pieces = []
        last = 0
        for match in IDENTIFIER.finditer(part):
            pieces.append(_escape_plain(part[last:match.start()]))
            star = match.group(1) or ""
            name = match.group(2) or match.group(4)
            call = match.group(5) or ""
            span = f"`{star}{name}{call}`"
            if not star and not name.endswith("*") and name in anchors:
                span = f"[{span}](#{anchors[name]})"
            pieces.append(span)
            last = match.end()
        pieces.append(_escape_plain(part[last:]))
        out.append("".join(pieces))
    result = "".join(out)
    result = LABEL.sub(lambda m: f"{m.group(1)}**{m.group(2)}:**", result)
    if re.match(r"[#>+\-=]|\d+[.)]\s", result):
        result = "\\" + result
    return result


def _indent(line):
    return len(line) - len(line.lstrip(" "))


def _paragraphs(lines):
    paragraphs, current = [], []
    for line in lines:
        if line.strip():
            current.append(line)
        elif current:
            paragraphs.append(current)
            current = []
    if current:
        paragraphs.append(current)
    return paragraphs


def _is_list(paragraph):
    base = _indent(paragraph[0])
    if not paragraph[0].lstrip().startswith("- "):
        return False
    for line in paragraph:
        if _indent(line) == base and line.lstrip().startswith("- "):
            continue
        if _indent(line) >= base + 2:
            continue
        return False
    return True


def _is_prose(paragraph):
    base = _indent(paragraph[0])
    return all(_indent(line) == base and not re.search(r"\S {3,}\S", line) for line in paragraph)


def _brace_balance(lines):
    text = _strip_comments("\n".join(lines))
    text = re.sub(r'"(?:\\.|[^"\\])*"', '""', text)
    return text.count("{") - text.count("}")


def _dedent(lines):
    base = min((_indent(line) for line in lines if line.strip()), default=0)
    return [line[base:] for line in lines]


def render_text(lines, anchors):
    """Comment lines -> Markdown blocks (a list of strings)."""
    blocks = []
    paragraphs = _paragraphs(_dedent(lines))
    previous_pre = False
    index = 0
    while index < len(paragraphs):
        paragraph = paragraphs[index]
        index += 1
        if any(line.lstrip().startswith("#include") for line in paragraph):
            code = list(paragraph)
            depth = _brace_balance(paragraph)
            # A C example continues over blank lines until its braces close
            # and no function body follows.
            while index < len(paragraphs):
                following = paragraphs[index]
                starts_body = re.match(r"\s*[A-Za-z_][\w\s\*]*\([^;]*\)\s*\{?\s*$", following[0])
                if depth <= 0 and not starts_body:
                    break
                code.append("")
                code.extend(following)
                depth += _brace_balance(following)
                index += 1
            blocks.append("```c\n" + "\n".join(_dedent(code)) + "\n```")
        elif _is_list(paragraph):
            base = _indent(paragraph[0])
            items = []
            for line in paragraph:
                if _indent(line) == base and line.lstrip().startswith("- "):
                    items.append(line.strip()[2:])
                else:
                    items[-1] += " " + line.strip()
            blocks.append("\n".join("- " + inline(item, anchors) for item in items))
        elif _is_prose(paragraph):
            blocks.append(inline(" ".join(line.strip() for line in paragraph), anchors))
        else:
            text = html.escape("\n".join(_dedent(paragraph)), quote=False)
            if blocks and blocks[-1].startswith("<pre>\n") and previous_pre:
                blocks[-1] = blocks[-1][: -len("\n</pre>")] + "\n\n" + text + "\n</pre>"
            else:
                blocks.append("<pre>\n" + text + "\n</pre>")
            previous_pre = True
            continue
        previous_pre = False
    return blocks


def split_preamble(lines):
    """[(title or None, lines)] at the ALL-CAPS headings of the opening comment."""
    parts = [(None, [])]
    for line in lines:
        stripped = line.strip()
        if SECTION_RULE.match(stripped):
            continue
        if _indent(line) == 0 and HEADING.match(stripped) and stripped.upper() != stripped.lower():
            parts.append((stripped, []))
            continue
        parts[-1][1].append(line)
    return [(title, body) for title, body in parts if title or any(line.strip() for line in body)]


# ---------------------------------------------------------------------------
# The page.


def anchor_id(name, kind):
    """Functions and types by their name; macros and enums with a prefix, so
    POOL_VERSION_NUMBER and pool_version_number get different ids."""
    bare = name.split()[-1]
    prefix = {"macro": "define-", "enum": "enum-"}.get(kind, "")
    return prefix + bare.lower()


def render(header_text, header_label):
    preamble, sections = parse(header_text)
    entries = [item for section in sections for item in section.items if isinstance(item, Entry)]
    anchors = {}  # name -> anchor id (ids never differ only in case)
    for entry in entries:
        for token in entry.code:
            for name, kind in declared_names(token.text):
                anchors.setdefault(name, anchor_id(name, kind))
                if kind == "enum":
                    anchors.setdefault(name.split()[-1], anchor_id(name, kind))
                    for member in enumerators(token.text):
                        anchors.setdefault(member, anchor_id(name, kind))
    check_complete(header_text, entries)

    out = [
        "<!-- Generated by scripts/check/gen-c-api-doc.py from include/mysqlpool.h: do not edit.",
        "     Regenerate: python3 scripts/check/gen-c-api-doc.py; check: python3 scripts/check/gen-c-api-doc.py --check -->",
        "# libmysqlpool C API reference",
        "",
        f"Generated from [`{header_label}`](../{header_label}), which is the specification: "
        "every declaration below is copied from it verbatim, followed by its comment. "
        "Regenerate this page with `python3 scripts/check/gen-c-api-doc.py` after editing the header; "
        "`python3 scripts/check/gen-c-api-doc.py --check` (run by `make test`) fails while it is out of date.",
        "",
        "## Contents",
        "",
    ]
    if preamble:
        out.append("- [Overview](#overview)")
    for section in sections:
        title = sentence_case(section.title) if section.title else "Top of the header"
        names = []
        for item in section.items:
            if isinstance(item, Entry):
                for name in item.names:
                    names.append(f"[`{name}`](#{anchors[name]})")
        out.append(f"- [{title}](#{github_slug(title)})" + (": " + ", ".join(names) if names else ""))
    out.append("")

    if preamble:
        out += ["## Overview", ""]
        for title, body in split_preamble(preamble):
            if title:
                out += [f"### {sentence_case(title)}", ""]
            for block in render_text(body, anchors):
                out += [block, ""]

    for section in sections:
        title = sentence_case(section.title) if section.title else "Top of the header"
        out += [f"## {title}", ""]
        for block in render_text(section.intro, anchors):
            out += [block, ""]
        for item in section.items:
            if not isinstance(item, Entry):
                for block in render_text(item[1], anchors):
                    out += [block, ""]
                continue
            names = item.names
            ids = list(dict.fromkeys(anchors[name] for name in names))
            out.append("".join(f'<a id="{anchor}"></a>' for anchor in ids))
            out += ["### " + ", ".join(f"`{name}`" for name in names), ""]
            out.append("```c")
            for token in item.code:
                out += [line.rstrip() for line in token.lines]
            out += ["```", ""]
            if item.comment:
                for block in render_text(item.comment, anchors):
                    out += [block, ""]
    while out and out[-1] == "":
        out.pop()
    return "\n".join(out) + "\n"


def github_slug(title):
    """The anchor GitHub gives a heading."""
    text = title.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def check_complete(header_text, entries):
    """Every API name of the header has an entry."""
    documented = {name for entry in entries for name in entry.names}
    code = _strip_comments(header_text)
    wanted = set()
    for line in header_text.split("\n"):
        if re.match(r"^POOL_API\s", line):
            match = re.search(r"([A-Za-z_]\w*)\s*\(", _undecorated(line[len("POOL_API"):]))
            if match:
                wanted.add(match.group(1))
    guard = re.search(r"(?m)^#ifndef\s+(\w+)\s*\n#define\s+\1\b", header_text)
    for match in re.finditer(r"(?m)^\s*#\s*define\s+(\w+)", code):
        if not guard or match.group(1) != guard.group(1):
            wanted.add(match.group(1))
    for match in re.finditer(r"\benum\s+(\w+)\s*\{", code):
        wanted.add(f"enum {match.group(1)}")
    for match in re.finditer(r"\btypedef\s+(?:struct|union|enum)\s*\w*\s*\{", code):
        depth, index = 0, match.end() - 1
        while index < len(code):
            depth += {"{": 1, "}": -1}.get(code[index], 0)
            if depth == 0:
                break
            index += 1
        name = re.match(r"\}\s*(\w+)\s*;", code[index:])
        if name:
            wanted.add(name.group(1))
    for match in re.finditer(r"typedef\s+struct\s+\w+\s+(\w+)\s*;", code):
        wanted.add(match.group(1))
    missing = sorted(wanted - documented)
    if missing:
        raise HeaderError("names of the header missing from the page: " + ", ".join(missing))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="exit 1 when the page is not what the header gives")
    parser.add_argument("--header", type=pathlib.Path, default=DEFAULT_HEADER)
    parser.add_argument("--output", type=pathlib.Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args()
    try:
        label = args.header.resolve().relative_to(ROOT).as_posix()
    except ValueError:
        label = args.header.name
    try:
        page = render(args.header.read_text(encoding="utf-8"), label)
    except HeaderError as error:
        print(f"gen-c-api-doc: {args.header}: {error}", file=sys.stderr)
        return 2
    if args.check:
        current = args.output.read_text(encoding="utf-8") if args.output.exists() else ""
        if current == page:
            print(f"gen-c-api-doc: OK: {args.output.relative_to(ROOT) if args.output.is_relative_to(ROOT) else args.output} matches {label}")
            return 0
        diff = list(difflib.unified_diff(current.splitlines(), page.splitlines(), str(args.output), "generated", lineterm=""))
        print("\n".join(diff[:80]), file=sys.stderr)
        if len(diff) > 80:
            print(f"... ({len(diff) - 80} more diff lines)", file=sys.stderr)
        print(f"gen-c-api-doc: {args.output} is out of date with {label}: run python3 scripts/check/gen-c-api-doc.py",
              file=sys.stderr)
        return 1
    args.output.parent.mkdir(parents=True, exist_ok=True)
    if not args.output.exists() or args.output.read_text(encoding="utf-8") != page:
        args.output.write_text(page, encoding="utf-8")
    print(f"gen-c-api-doc: wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
