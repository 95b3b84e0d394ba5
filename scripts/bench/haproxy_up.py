#!/usr/bin/env python3
"""Waits (30 s at most) until HAProxy's statistics page shows a server of backend `app` UP.

Usage: haproxy_up.py STATS_PORT SERVER_NAME
"""

import csv
import io
import sys
import time
import urllib.request


def main() -> int:
    port, name = sys.argv[1:3]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/stats;csv", timeout=1) as page:
                text = page.read().decode()
            rows = csv.DictReader(io.StringIO(text.lstrip("# ")))
            if any(r["pxname"] == "app" and r["svname"] == name and r["status"] == "UP" for r in rows):
                return 0
        except OSError:
            pass
        time.sleep(0.05)
    print(f"HAProxy never saw {name} up", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
