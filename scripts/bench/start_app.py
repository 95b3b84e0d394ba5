#!/usr/bin/env python3
"""Starts the app and times it from process start to the first 200 from /readyz.

Usage: start_app.py BINARY PORT LOG_FILE PID_FILE
The environment is passed on as it is. The app's output goes to LOG_FILE (appended);
its process id is written to PID_FILE at once, so the caller can stop it whatever
happens here. Prints the time to ready in milliseconds, or exits 1 after 30 s.
"""

import http.client
import subprocess
import sys
import time


def main() -> int:
    binary, port, log_file, pid_file = sys.argv[1:5]
    with open(log_file, "ab") as log:
        started = time.monotonic()
        app = subprocess.Popen(
            [binary], stdin=subprocess.DEVNULL, stdout=log, stderr=log
        )
    with open(pid_file, "w", encoding="ascii") as f:
        f.write(f"{app.pid}\n")
    deadline = started + 30
    while time.monotonic() < deadline:
        if app.poll() is not None:
            print(f"the app exited with status {app.returncode}", file=sys.stderr)
            return 1
        try:
            conn = http.client.HTTPConnection("127.0.0.1", int(port), timeout=1)
            conn.request("GET", "/readyz")
            status = conn.getresponse().status
            conn.close()
            if status == 200:
                print(f"{(time.monotonic() - started) * 1000:.1f}")
                return 0
        except OSError:
            pass
        time.sleep(0.001)
    print("the app was not ready within 30 s", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
