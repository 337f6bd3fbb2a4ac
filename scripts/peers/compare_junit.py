"""compare_junit.py PEER.xml OURS.xml NOT_APPLICABLE.txt: both runs' counts
side by side, then every test that passes with the peer and not with us.
Exit 1 when one of those is not on the not-applicable list."""

import sys
import xml.etree.ElementTree as ET


def outcomes(path):
    """test id -> passed / failed / skipped (an error counts as failed)."""
    result = {}
    for case in ET.parse(path).iter("testcase"):
        test_id = f"{case.get('classname')}::{case.get('name')}"
        if case.find("skipped") is not None:
            result[test_id] = "skipped"
        elif case.find("failure") is not None or case.find("error") is not None:
            result[test_id] = "failed"
        else:
            result[test_id] = "passed"
    return result


def not_applicable(path):
    """Test ids from the list file (text after '#' is the reason)."""
    with open(path) as f:
        return {line.split("#")[0].strip() for line in f if line.split("#")[0].strip()}


def main(peer_path, ours_path, list_path):
    peer, ours, skipped_on_purpose = outcomes(peer_path), outcomes(ours_path), not_applicable(list_path)
    print(f"{'':10}{'PyMySQL':>10}{'pymysqlpool':>14}")
    for state in ("passed", "failed", "skipped"):
        print(f"{state:10}{list(peer.values()).count(state):>10}{list(ours.values()).count(state):>14}")
    # A test missing from our run (the process died) counts as failed.
    regressions = sorted(t for t, state in peer.items() if state == "passed" and ours.get(t) != "passed")
    unexpected = [t for t in regressions if t not in skipped_on_purpose]
    for test_id in regressions:
        mark = "not applicable" if test_id in skipped_on_purpose else "FAILS WITH US"
        print(f"  {mark}: {test_id} ({ours.get(test_id, 'missing')})")
    for test_id in sorted(t for t, state in peer.items() if state == "failed"):
        verdict = "passes with us" if ours.get(test_id) == "passed" else "fails with us too"
        print(f"  fails with PyMySQL, {verdict}: {test_id}")
    stale = sorted(skipped_on_purpose - set(regressions))
    for test_id in stale:
        print(f"  listed as not applicable but passes (or is gone): {test_id}")
    print(f"pymysql-suite: {len(unexpected)} test(s) fail with pymysqlpool only")
    return 1 if unexpected else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
