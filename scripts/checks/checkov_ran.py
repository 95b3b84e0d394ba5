"""Fail when a checkov JSON report shows that no check ran or a file did not parse.

checkov skips a file it cannot parse (or whose schema it rejects) and still exits 0,
so "zero failed checks" alone can mean "nothing was checked".
Usage: python checkov_ran.py REPORT.json
"""

import json
import sys


def main(path: str) -> int:
    with open(path) as f:
        report = json.load(f)
    reports = report if isinstance(report, list) else [report]
    status = 0
    for one in reports:
        summary = one["summary"]
        ran = summary["passed"] + summary["failed"] + summary["skipped"]
        kind = one.get("check_type", "?")
        if ran == 0 or summary["parsing_errors"]:
            print(f"checkov {kind}: {ran} checks ran, {summary['parsing_errors']} parsing errors", file=sys.stderr)
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
