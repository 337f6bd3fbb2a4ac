#!/usr/bin/env bash
# check-docs.sh: the documentation still matches the code. No server needed.
#
#   1. docs/c-api.md is exactly what scripts/check/gen-c-api-doc.py makes from the
#      current include/mysqlpool.h (regenerate: python3 scripts/check/gen-c-api-doc.py);
#   2. docs/errors.md names every value of enum pool_status;
#   3. the relative links of README.md and docs/*.md point at files that
#      exist, and their #anchors at headings or <a id> of the target page.
#
# Prints what is wrong and exits 1 on any mismatch.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

status=0
python3 scripts/check/gen-c-api-doc.py --check || status=1

python3 - <<'PY' || status=1
import pathlib, re, sys

root = pathlib.Path(".").resolve()
problems = []

header = (root / "include/mysqlpool.h").read_text(encoding="utf-8")
enum = re.search(r"enum pool_status \{(.*?)\};", header, re.S)
codes = re.findall(r"^\s*(POOL_[A-Z_]+)\s*=", enum.group(1), re.M) if enum else []
if not codes:
    problems.append("include/mysqlpool.h: no enum pool_status values found")
errors = (root / "docs/errors.md").read_text(encoding="utf-8")
for code in codes:
    if f"`{code}`" not in errors:
        problems.append(f"docs/errors.md: status code {code} is not described")


def anchors(page):
    text = page.read_text(encoding="utf-8")
    found = set(re.findall(r'<a (?:id|name)="([^"]+)"', text))
    for heading in re.findall(r"(?m)^#{1,6}\s+(.*?)\s*#*$", text):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        found.add(slug)
    return found


pages = [root / "README.md", *sorted((root / "docs").glob("*.md"))]
for page in pages:
    text = page.read_text(encoding="utf-8")
    text = re.sub(r"(?ms)^(\s*)(`{3,}|~{3,}).*?^\1\2[`~]*\s*$", "", text)  # not inside code blocks
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+:", target):
            continue
        path, _, anchor = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        name = page.relative_to(root)
        if not linked.exists():
            problems.append(f"{name}: link to {target}: no such file")
        elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
            problems.append(f"{name}: link to {target}: no such anchor in {linked.relative_to(root)}")

for problem in problems:
    print(f"check-docs: {problem}", file=sys.stderr)
if problems:
    sys.exit(1)
print(f"check-docs: OK: {len(codes)} status codes in docs/errors.md; links of {len(pages)} pages resolve")
PY

exit "$status"
