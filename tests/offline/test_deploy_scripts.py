"""The operator scripts in scripts/: strict bash, a usage text, clear exit codes, and
test-functionality.sh run for real against the app and against a broken stand-in.

The cluster scripts (persistence, background change, prerequisites) need a cluster and
AWS, which the build machines do not have; their options and refusals are checked here.
"""

import http.server
import os
import re
import socket
import subprocess
import threading
import time
import urllib.request

import pytest

from deploy_helpers import ROOT

SCRIPTS = ROOT / "scripts"
OPERATOR_SCRIPTS = [
    "validate-prerequisites.sh",
    "test-functionality.sh",
    "test-data-persistence.sh",
    "change-background.sh",
]


def run(*args, timeout=120, **kwargs):
    return subprocess.run(["bash", *map(str, args)], capture_output=True, text=True, timeout=timeout, **kwargs)


@pytest.mark.parametrize("name", OPERATOR_SCRIPTS)
def test_script_is_strict_and_documented(name):
    path = SCRIPTS / name
    text = path.read_text()
    assert text.startswith("#!/usr/bin/env bash\n")
    assert "\nset -euo pipefail\n" in text
    assert os.access(path, os.X_OK)
    result = run(path, "-h")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"Usage: scripts/{name}")


@pytest.mark.parametrize("name", OPERATOR_SCRIPTS)
def test_script_refuses_unknown_options(name):
    result = run(SCRIPTS / name, "--no-such-option")
    assert result.returncode == 2
    assert "Usage:" in result.stderr


def test_functionality_needs_a_url():
    assert run(SCRIPTS / "test-functionality.sh").returncode == 2
    assert run(SCRIPTS / "test-functionality.sh", "localhost:8080").returncode == 2


def test_change_background_refuses_what_is_not_an_s3_url():
    for bad in ["", "http://example.com/a.jpg", "s3://", "s3://bucket", "/tmp/a.jpg"]:
        result = run(SCRIPTS / "change-background.sh", bad)
        assert result.returncode == 2, bad


def test_persistence_refuses_a_bad_timeout():
    assert run(SCRIPTS / "test-data-persistence.sh", "-t", "soon").returncode == 2


def test_prerequisites_tools_only_prints_a_checklist():
    result = run(SCRIPTS / "validate-prerequisites.sh", "--tools-only")
    assert result.returncode in (0, 1)
    assert re.search(r"^  (PASS|FAIL)  kubectl", result.stdout, re.M)
    assert re.search(r"^\d+ passed, \d+ failed, \d+ warnings$", result.stdout, re.M)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.3)


@pytest.fixture
def real_app(tmp_path):
    """The employee-db binary on a free port, with the embedded SQLite database."""
    binary = os.environ.get("EMPLOYEE_DB_BIN")
    if not binary:
        pytest.skip("EMPLOYEE_DB_BIN is not set: scripts/checks/20-deploy.sh builds the app and sets it")
    port = free_port()
    environment = {
        "PATH": os.environ["PATH"],
        "PORT": str(port),
        "BIND_ADDRESS": "127.0.0.1",
        "SQLITE_PATH": str(tmp_path / "employees.db"),
        "STATIC_DIR": str(ROOT / "static"),
        "BACKGROUND_CACHE_DIR": str(tmp_path / "cache"),
        "APP_COLOR": "lime",
        "GROUP_NAME": "Offline Check",
    }
    log = (tmp_path / "app.log").open("w")
    process = subprocess.Popen([binary], cwd=tmp_path, env=environment, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for(f"http://127.0.0.1:{port}/healthz")
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def test_functionality_script_passes_against_the_real_app(real_app):
    result = run(SCRIPTS / "test-functionality.sh", real_app)
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"^\d+ passed, 0 failed$", result.stdout, re.M)
    assert "PASS  add employee" in result.stdout and "PASS  fetch employee" in result.stdout


class Bare(http.server.BaseHTTPRequestHandler):
    """Answers 200 "ok" to everything: no form, no headers, no employees."""

    def do_GET(self):
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")

    do_POST = do_GET

    def log_message(self, *args):
        pass


def test_functionality_script_fails_against_a_stand_in_that_only_says_ok():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Bare)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        result = run(SCRIPTS / "test-functionality.sh", f"http://127.0.0.1:{server.server_port}")
    finally:
        server.shutdown()
    assert result.returncode == 1
    for check in ["home page", "content-security-policy", "fetch employee", "Employee Not Found"]:
        assert re.search(rf"^  FAIL  .*{re.escape(check)}", result.stdout, re.M), check
    assert "PASS  liveness probe /healthz" in result.stdout
