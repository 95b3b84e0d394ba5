"""The operator scripts in scripts/: strict bash, a usage text, clear exit codes, and
each one run for real.

test-functionality.sh runs against the real app (on its embedded SQLite database) and
against a stand-in that only answers "ok". The build machines have no cluster, so the
cluster scripts run against a stand-in kubectl that plays the few calls they make:
test-data-persistence.sh with the real app, change-background.sh with a stand-in
/background that shows the configured image a little late, as the kubelet would.
"""

import hashlib
import http.server
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import pytest

from deploy_helpers import ROOT

SCRIPTS = ROOT / "scripts"
OPERATOR_SCRIPTS = [
    "validate-prerequisites.sh",
    "test-functionality.sh",
    "test-data-persistence.sh",
    "change-background.sh",
    "configure-alb-https.sh",
    "configure-rds.sh",
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


def test_image_healthcheck_command_reports_the_app_state(real_app):
    """The Dockerfile's HEALTHCHECK runs `employee-db healthcheck` (no shell in the image)."""
    binary = os.environ["EMPLOYEE_DB_BIN"]
    port = real_app.rsplit(":", 1)[1]
    up = subprocess.run([binary, "healthcheck"], env={"PORT": port}, capture_output=True, timeout=30)
    assert up.returncode == 0, up.stderr
    down = subprocess.run([binary, "healthcheck"], env={"PORT": str(free_port())}, capture_output=True, timeout=30)
    assert down.returncode == 1


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


# --- The cluster scripts, against a stand-in kubectl -----------------------------------

FAKE_KUBECTL = """#!{python}
# A stand-in for the few kubectl calls the operator scripts make; state in a JSON file.
import json, os, sys, uuid

path = os.environ["FAKE_KUBE_STATE"]
with open(path) as f:
    state = json.load(f)
args = sys.argv[1:]
if args[:1] == ["--namespace"]:
    args = args[2:]
state["calls"].append(" ".join(args))
out = sys.stdout.write
if args[:3] == ["get", "pod", "mysql-0"]:
    jsonpath = args[-1]
    if "claimName" in jsonpath:
        out("data-mysql-0")
    elif "metadata.uid" in jsonpath:
        out(state["uid"])
    else:
        state["polls_until_ready"] -= 1
        out("True" if state["polls_until_ready"] <= 0 else "False")
elif args[:3] == ["get", "pvc", "data-mysql-0"]:
    out("pvc-0123")
elif args[:3] == ["delete", "pod", "mysql-0"]:
    state["uid"] = str(uuid.uuid4())
    state["polls_until_ready"] = 2
elif args[:3] == ["get", "deployment", "employee-db"]:
    out("employee-db-config-5h2k9")
elif args[:3] == ["get", "configmap", "employee-db-config-5h2k9"]:
    out(state["url"])
elif args[:3] == ["patch", "configmap", "employee-db-config-5h2k9"]:
    state["url"] = json.loads(args[args.index("--patch") + 1])["data"]["BACKGROUND_IMAGE_URL"]
else:
    sys.exit("fake kubectl: unexpected " + " ".join(args))
with open(path, "w") as f:
    json.dump(state, f)
"""


@pytest.fixture
def fake_kubectl(tmp_path):
    """PATH and state for the stand-in kubectl; returns (environment, read_state)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    kubectl = bin_dir / "kubectl"
    kubectl.write_text(FAKE_KUBECTL.format(python=sys.executable))
    kubectl.chmod(0o755)
    state = tmp_path / "kube.json"
    state.write_text(json.dumps({"calls": [], "uid": "first", "polls_until_ready": 0,
                                 "url": "s3://old-bucket/old.jpg"}))
    environment = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "FAKE_KUBE_STATE": str(state)}
    return environment, lambda: json.loads(state.read_text())


def test_persistence_script_deletes_mysql_and_finds_the_employee_again(real_app, fake_kubectl):
    environment, state = fake_kubectl
    result = run(SCRIPTS / "test-data-persistence.sh", "-u", real_app, "-t", "60", env=environment)
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"PASS  employee \d+ survived the MySQL pod's deletion \(same volume pvc-0123\)", result.stdout)
    assert "delete pod mysql-0 --wait=false" in state()["calls"]
    assert state()["uid"] != "first"


class ShowsConfiguredImage(http.server.BaseHTTPRequestHandler):
    """GET /background as the app answers it, for the stand-in cluster's ConfigMap value:
    the new URL is picked up two requests late (the kubelet's sync delay), then shown,
    or reported as failing when its key says so."""

    state_file = ""
    seen = []

    def do_GET(self):
        with open(self.state_file) as f:
            url = json.load(f)["url"]
        self.seen.append(url)
        url = self.seen[-3] if len(self.seen) >= 3 else self.seen[0]
        source = {"url": url, "from": "BACKGROUND_IMAGE_URL_FILE"}
        if "denied" in url:
            answer = {"state": "failed", "source": source, "image": None,
                      "last_error": {"category": "access", "check": "the app's role may not read the object",
                                     "at": "2026-01-01T00:00:00Z"}}
        else:
            path = f"/background/{hashlib.sha256(url.encode()).hexdigest()[:16]}.jpg"
            answer = {"state": "ready", "source": source, "image": {"path": path, "content_type": "image/jpeg"},
                      "last_error": None}
        body = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def change_background(environment, handler_class, *args, script=SCRIPTS / "change-background.sh"):
    handler = type("Handler", (handler_class,), {"state_file": environment["FAKE_KUBE_STATE"], "seen": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        return run(script, "-u", f"http://127.0.0.1:{server.server_port}", *args, env=environment)
    finally:
        server.shutdown()


def test_change_background_patches_the_live_config_map_and_waits_for_the_new_image(tmp_path, fake_kubectl):
    environment, state = fake_kubectl
    # A copy of the script beside a copy of the env file, so --save edits the copy.
    (tmp_path / "scripts").mkdir()
    script = tmp_path / "scripts" / "change-background.sh"
    script.write_text((SCRIPTS / "change-background.sh").read_text())
    (tmp_path / "scripts" / "lib").mkdir()
    (tmp_path / "scripts" / "lib" / "cluster.sh").write_text((SCRIPTS / "lib" / "cluster.sh").read_text())
    (tmp_path / "k8s-manifests").mkdir()
    env_file = tmp_path / "k8s-manifests" / "app-config.env"
    env_file.write_text("GROUP_NAME=x\nBACKGROUND_IMAGE_URL=\nAPP_COLOR=blue\n")

    result = change_background(environment, ShowsConfiguredImage, "-t", "60", "--save",
                               "s3://new-bucket/backgrounds/new.jpg", script=script)
    assert result.returncode == 0, result.stdout + result.stderr
    assert state()["url"] == "s3://new-bucket/backgrounds/new.jpg"
    assert re.search(r"PASS  the app shows /background/\w+\.jpg for s3://new-bucket/backgrounds/new.jpg, \d+s after",
                     result.stdout)
    assert env_file.read_text() == "GROUP_NAME=x\nBACKGROUND_IMAGE_URL=s3://new-bucket/backgrounds/new.jpg\nAPP_COLOR=blue\n"


def test_change_background_reports_why_the_app_cannot_show_the_image(fake_kubectl):
    environment, _ = fake_kubectl
    result = change_background(environment, ShowsConfiguredImage, "-t", "60", "s3://new-bucket/denied.jpg")
    assert result.returncode == 1
    assert "cannot show s3://new-bucket/denied.jpg: access: the app's role may not read the object" in result.stderr


class ShowsNoImage(Bare):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"state":"none","source":null,"image":null,"last_error":null}')


def test_change_background_gives_up_when_the_app_never_picks_the_change_up(fake_kubectl):
    environment, _ = fake_kubectl
    result = change_background(environment, ShowsNoImage, "-t", "4", "s3://new-bucket/new.jpg")
    assert result.returncode == 1
    assert "did not show s3://new-bucket/new.jpg within 4s" in result.stderr


# --- HTTPS: settings from Terraform, the domain's record, the prerequisites -------------

SETTINGS = {
    "domain_name": "app.example.org",
    "hosted_zone_id": "Z0123456789ABCDEFGHIJ",
    "certificate_arn": "arn:aws:acm:eu-west-1:123456789012:certificate/4b0c6f7e-1111-2222-3333-444455556666",
}
POOL = {"userPoolARN": "arn:aws:cognito-idp:eu-west-1:123456789012:userpool/eu-west-1_Abc",
        "userPoolClientID": "client", "userPoolDomain": "clo835-123456789012"}


def stand_in(bin_dir, name: str, body: str) -> None:
    path = bin_dir / name
    path.write_text(f"#!{sys.executable}\nimport json, os, sys\n{body}")
    path.chmod(0o755)


@pytest.fixture
def checkout(tmp_path):
    """A copy of the script (and the helpers it sources) beside a copy of the overlay,
    with stand-in CLIs on PATH."""
    (tmp_path / "scripts" / "lib").mkdir(parents=True)
    script = tmp_path / "scripts" / "configure-alb-https.sh"
    script.write_text((SCRIPTS / "configure-alb-https.sh").read_text())
    (tmp_path / "scripts" / "lib" / "cluster.sh").write_text((SCRIPTS / "lib" / "cluster.sh").read_text())
    overlay = tmp_path / "k8s-overlays" / "alb-https"
    overlay.mkdir(parents=True)
    (overlay / "settings.env").write_text((ROOT / "k8s-overlays" / "alb-https" / "settings.env").read_text())
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    environment = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "CALLS": str(tmp_path / "calls.jsonl")}
    return script, overlay / "settings.env", bin_dir, environment


def fake_terraform(bin_dir, output) -> None:
    stand_in(bin_dir, "terraform", f"""
assert sys.argv[1].startswith("-chdir=") and sys.argv[2:] == ["output", "-json", "alb_https_settings"], sys.argv
print(json.dumps({output!r}))
""")


def env_file(path) -> dict:
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if line and not line.startswith("#"))


def test_configure_writes_terraforms_values_for_the_overlay(checkout):
    script, settings, bin_dir, environment = checkout
    fake_terraform(bin_dir, {**SETTINGS, "sign_in": None})
    result = run(script, env=environment)
    assert result.returncode == 0, result.stderr
    assert env_file(settings) == {
        "DOMAIN_NAME": "app.example.org",
        "HOSTED_ZONE_ID": "Z0123456789ABCDEFGHIJ",
        "CERTIFICATE_ARN": SETTINGS["certificate_arn"],
        "SIGN_IN_COGNITO": "",
    }
    assert "next: kubectl apply -k k8s-overlays/alb-https\n" in result.stdout


def test_configure_with_sign_in_writes_the_user_pool_and_names_the_sign_in_overlay(checkout):
    script, settings, bin_dir, environment = checkout
    fake_terraform(bin_dir, {**SETTINGS, "sign_in": POOL})
    result = run(script, env=environment)
    assert result.returncode == 0, result.stderr
    assert json.loads(env_file(settings)["SIGN_IN_COGNITO"]) == POOL
    assert "next: kubectl apply -k k8s-overlays/alb-https-sign-in" in result.stdout


def test_configure_without_a_domain_says_what_to_set(checkout):
    script, settings, bin_dir, environment = checkout
    before = settings.read_text()
    fake_terraform(bin_dir, None)
    result = run(script, env=environment)
    assert result.returncode == 1
    assert "set domain_name and hosted_zone_id" in result.stderr
    assert settings.read_text() == before


def dns_stand_ins(bin_dir, hostname: str) -> None:
    stand_in(bin_dir, "kubectl", f"""
assert sys.argv[1:5] == ["--namespace", "clo835", "get", "ingress"], sys.argv
print({hostname!r}, end="")
""")
    stand_in(bin_dir, "aws", """
args = sys.argv[1:]
if args[:2] == ["elbv2", "describe-load-balancers"]:
    print(json.dumps({"LoadBalancers": [
        {"DNSName": "other-1.eu-west-1.elb.amazonaws.com", "CanonicalHostedZoneId": "ZWRONG"},
        {"DNSName": "k8s-clo835-employee-abc.eu-west-1.elb.amazonaws.com", "CanonicalHostedZoneId": "Z32O12XQLNTSW2"},
    ]}))
elif args[:2] == ["route53", "change-resource-record-sets"]:
    with open(os.environ["CALLS"], "a") as f:
        f.write(json.dumps(args) + "\\n")
else:
    sys.exit("fake aws: unexpected " + " ".join(args))
""")


def test_dns_points_the_domain_at_the_ingresss_load_balancer(checkout):
    script, settings, bin_dir, environment = checkout
    fake_terraform(bin_dir, {**SETTINGS, "sign_in": None})
    assert run(script, env=environment).returncode == 0
    dns_stand_ins(bin_dir, "k8s-clo835-employee-abc.eu-west-1.elb.amazonaws.com")
    result = run(script, "--dns", env=environment)
    assert result.returncode == 0, result.stderr
    [call] = [json.loads(line) for line in open(environment["CALLS"])]
    assert call[call.index("--hosted-zone-id") + 1] == "Z0123456789ABCDEFGHIJ"
    [change] = json.loads(call[call.index("--change-batch") + 1])["Changes"]
    assert change["Action"] == "UPSERT"
    record = change["ResourceRecordSet"]
    assert record["Name"] == "app.example.org" and record["Type"] == "A"
    assert record["AliasTarget"] == {"HostedZoneId": "Z32O12XQLNTSW2",
                                     "DNSName": "dualstack.k8s-clo835-employee-abc.eu-west-1.elb.amazonaws.com",
                                     "EvaluateTargetHealth": True}
    assert run(script, "--remove-dns", env=environment).returncode == 0
    assert json.loads(open(environment["CALLS"]).readlines()[1])[-1].count('"DELETE"') == 1


def test_dns_refuses_placeholder_settings(checkout):
    script, _, bin_dir, environment = checkout
    dns_stand_ins(bin_dir, "k8s-clo835-employee-abc.eu-west-1.elb.amazonaws.com")
    result = run(script, "--dns", env=environment)
    assert result.returncode == 1
    assert "placeholders" in result.stderr


CLUSTER = """
state = json.load(open(os.environ["CLUSTER"]))
args = [a for a in sys.argv[1:] if not a.startswith("--request-timeout")]
if args[:2] == ["--namespace", "kube-system"] and args[2:4] == ["get", "deployment"]:
    print(state.get("controller", ""), end="") if state.get("controller") else sys.exit(1)
elif args[:1] == ["version"]:
    print("Client Version: v1.35.0\\nServer Version: v1.35.2")
elif args[:3] == ["config", "current-context"][:3]:
    print("test")
elif args[:2] == ["auth", "can-i"]:
    print("no" if "secrets" in args else "yes")
elif args[:2] == ["get", "apiservice"]:
    print(state.get("metrics", ""), end="") if state.get("metrics") is not None else sys.exit(1)
elif args[:2] == ["get", "ingressclass"]:
    sys.exit(0 if state.get("ingressclass") else 1)
elif "get" in args:
    print("eA==", end="")  # every other object exists; Secrets hold a value
else:
    sys.exit("fake kubectl: unexpected " + " ".join(args))
"""


def prerequisites(tmp_path, *args, **cluster):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    stand_in(bin_dir, "kubectl", CLUSTER)
    stand_in(bin_dir, "aws", """
if sys.argv[1:3] == ["sts", "get-caller-identity"]:
    print("arn:aws:iam::123456789012:user/test")
elif sys.argv[1:3] == ["acm", "describe-certificate"]:
    print("PENDING_VALIDATION")
elif sys.argv[1:2] == ["--version"]:
    print("aws-cli/2.30.0")
else:
    print("")
""")
    (tmp_path / "cluster.json").write_text(json.dumps(cluster))
    environment = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "CLUSTER": str(tmp_path / "cluster.json"),
                   "AWS_REGION": "eu-west-1"}
    return run(SCRIPTS / "validate-prerequisites.sh", *args, env=environment)


def test_prerequisites_pass_with_metrics_api_and_controller(tmp_path):
    result = prerequisites(tmp_path, metrics="True", controller="2")
    assert "PASS  metrics API available" in result.stdout
    assert "PASS  AWS Load Balancer Controller running (2 available)" in result.stdout
    assert result.returncode == 0, result.stdout


def test_prerequisites_fail_without_the_metrics_api(tmp_path):
    for metrics in (None, "False"):
        result = prerequisites(tmp_path, metrics=metrics, controller="2")
        assert result.returncode == 1
        assert "FAIL  no metrics API" in result.stdout


def test_prerequisites_fail_without_the_load_balancer_controller(tmp_path):
    result = prerequisites(tmp_path, metrics="True", controller="")
    assert result.returncode == 1
    assert "FAIL  AWS Load Balancer Controller not running" in result.stdout


def test_prerequisites_for_https_check_the_overlays_settings(tmp_path):
    result = prerequisites(tmp_path, "--https", metrics="True", controller="1", ingressclass=True)
    assert "PASS  IngressClass alb exists" in result.stdout
    # The committed settings.env holds placeholders until configure-alb-https.sh runs.
    assert "FAIL  k8s-overlays/alb-https/settings.env holds placeholders" in result.stdout
    assert result.returncode == 1


def test_prerequisites_for_rds_check_the_overlay_and_ask_for_no_secret(tmp_path):
    result = prerequisites(tmp_path, "--rds", metrics="True", controller="1")
    # The committed files are placeholders until configure-rds.sh runs.
    assert "FAIL  k8s-overlays/rds/settings.env holds placeholders" in result.stdout
    assert "FAIL  k8s-overlays/rds/rds-ca.pem is the placeholder" in result.stdout
    assert "Secret" not in result.stdout.split("Namespace")[1].split("After apply")[0]
    assert result.returncode == 1


# --- The ConfigMap, read by the real app ----------------------------------------------


def status(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_the_config_maps_settings_start_the_app_and_its_shutdown_begins_with_readiness(tmp_path):
    """Every value in the rendered ConfigMap is one the app accepts (it refuses to start
    on an invalid one), and the shutdown settings behave as the manifests assume: on
    SIGTERM /readyz fails at once while the app keeps serving through the delay."""
    binary = os.environ.get("EMPLOYEE_DB_BIN")
    if not binary:
        pytest.skip("EMPLOYEE_DB_BIN is not set: scripts/checks/20-deploy.sh builds the app and sets it")
    from deploy_helpers import one

    data = one("ConfigMap", "employee-db-config")["data"]
    assert int(data["SHUTDOWN_DELAY_SECS"]) >= 5, "the checks below run within the delay"
    port = free_port()
    environment = {
        **data,
        "PATH": os.environ["PATH"],
        # What the pod adds: the Secret's credentials and its own port and folders.
        "DBUSER": "employee_app",
        "DBPWD": "unused",
        "PORT": str(port),
        "BIND_ADDRESS": "127.0.0.1",
        "BACKGROUND_CACHE_DIR": str(tmp_path / "cache"),
        "STATIC_DIR": str(ROOT / "static"),
        # No MySQL here: the app starts anyway and keeps retrying.
        "DBHOST": "mysql.invalid",
    }
    log = (tmp_path / "app.log").open("w")
    process = subprocess.Popen([binary], cwd=tmp_path, env=environment, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for(f"http://127.0.0.1:{port}/healthz")
        process.terminate()
        time.sleep(0.5)
        code, body = status(f"http://127.0.0.1:{port}/readyz")
        assert (code, body.strip()) == (503, "not ready: shutting down")
        assert status(f"http://127.0.0.1:{port}/healthz")[0] == 200
        assert status(f"http://127.0.0.1:{port}/about")[0] == 200
        assert process.poll() is None, "the app must keep serving through SHUTDOWN_DELAY_SECS"
    finally:
        process.kill()
        process.wait(timeout=30)
        log.close()


def test_the_rds_overlays_settings_pass_the_apps_checks_and_the_placeholder_bundle_stops_it(tmp_path):
    """The rds overlay's settings (DB_AUTH=iam with verify-identity TLS) are accepted, and
    the committed CA bundle, a placeholder until configure-rds.sh runs, stops the app at
    start with one line saying so rather than failing every connection later."""
    binary = os.environ.get("EMPLOYEE_DB_BIN")
    if not binary:
        pytest.skip("EMPLOYEE_DB_BIN is not set: scripts/checks/20-deploy.sh builds the app and sets it")
    from deploy_helpers import render

    rendered_rds = render(ROOT / "k8s-overlays" / "rds")
    (data,) = [o["data"] for o in rendered_rds
               if o["kind"] == "ConfigMap" and o["metadata"]["name"].startswith("employee-db-config-")]
    (bundle,) = [o["data"] for o in rendered_rds if o["metadata"]["name"] == "rds-ca-bundle"]
    # The file the pod mounts, at a path of this test's own.
    (name, contents), = bundle.items()
    assert data["DB_SSL_CA"].endswith("/" + name)
    (tmp_path / name).write_text(contents)
    environment = {**data, "PATH": os.environ["PATH"], "PORT": str(free_port()), "BIND_ADDRESS": "127.0.0.1",
                   "DB_SSL_CA": str(tmp_path / name)}
    result = subprocess.run([binary], cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=30)
    assert result.returncode == 1, result.stderr
    assert result.stderr.strip().splitlines() == [
        f"employee-db: cannot open the database: database error: error with configuration: DB_SSL_CA={tmp_path / name}: "
        "holds no PEM certificate"
    ]


# --- configure-rds.sh -----------------------------------------------------------------

RDS_SETTINGS = {
    "host": "clo835-mysql.abcdefghijkl.eu-west-1.rds.amazonaws.com",
    "port": 3306,
    "user": "employee_app",
    "region": "eu-west-1",
    "master_user": "admin",
    "master_user_secret_arn": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!db-1234",
    "connect_resource": "arn:aws:rds-db:eu-west-1:123456789012:dbuser:db-ABCDEFG/employee_app",
}
CREATE_USER_SQL = "CREATE USER IF NOT EXISTS 'employee_app'@'%' IDENTIFIED WITH AWSAuthenticationPlugin AS 'RDS' REQUIRE SSL;\n"
# Stands in for AWS's bundle: the test checks that what is served is what lands in the
# overlay, not what AWS's certificates say.
FAKE_BUNDLE = "-----BEGIN CERTIFICATE-----\nstand-in\n-----END CERTIFICATE-----\n" * 2


@pytest.fixture
def rds_checkout(tmp_path):
    """A copy of the script (and the helpers it sources) beside a copy of the overlay's
    two files, with stand-in CLIs on PATH (curl among them: no download)."""
    (tmp_path / "scripts" / "lib").mkdir(parents=True)
    script = tmp_path / "scripts" / "configure-rds.sh"
    script.write_text((SCRIPTS / "configure-rds.sh").read_text())
    (tmp_path / "scripts" / "lib" / "cluster.sh").write_text((SCRIPTS / "lib" / "cluster.sh").read_text())
    overlay = tmp_path / "k8s-overlays" / "rds"
    overlay.mkdir(parents=True)
    for name in ("settings.env", "rds-ca.pem"):
        (overlay / name).write_text((ROOT / "k8s-overlays" / "rds" / name).read_text())
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    environment = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "CALLS": str(tmp_path / "calls.jsonl")}
    stand_in(bin_dir, "curl", f"""
with open(os.environ["CALLS"], "a") as f:
    f.write(json.dumps(["curl", *sys.argv[1:]]) + "\\n")
out = sys.argv[sys.argv.index("--output") + 1]
open(out, "w").write({FAKE_BUNDLE!r})
""")
    return script, overlay, bin_dir, environment


def fake_rds_terraform(bin_dir, settings) -> None:
    stand_in(bin_dir, "terraform", f"""
args = sys.argv[2:]
assert sys.argv[1].startswith("-chdir="), sys.argv
if args == ["output", "-json", "rds_settings"]:
    print(json.dumps({settings!r}))
elif args == ["output", "-raw", "rds_create_user_sql"]:
    print({CREATE_USER_SQL!r}, end="")
else:
    sys.exit("fake terraform: unexpected " + " ".join(sys.argv[1:]))
""")


def test_configure_rds_writes_terraforms_values_and_the_regions_ca_bundle(rds_checkout):
    script, overlay, bin_dir, environment = rds_checkout
    fake_rds_terraform(bin_dir, RDS_SETTINGS)
    result = run(script, env=environment)
    assert result.returncode == 0, result.stderr
    assert env_file(overlay / "settings.env") == {
        "DBHOST": RDS_SETTINGS["host"], "DBPORT": "3306", "DBUSER": "employee_app", "AWS_REGION": "eu-west-1",
    }
    assert (overlay / "rds-ca.pem").read_text() == FAKE_BUNDLE
    [curl] = [json.loads(line) for line in open(environment["CALLS"])]
    assert "https://truststore.pki.rds.amazonaws.com/eu-west-1/eu-west-1-bundle.pem" in curl
    assert "--fail" in curl and "=https" in curl
    assert "2 certificates for eu-west-1" in result.stdout
    assert "kubectl apply -k k8s-overlays/rds" in result.stdout


def test_configure_rds_without_rds_says_what_to_set_and_changes_nothing(rds_checkout):
    script, overlay, bin_dir, environment = rds_checkout
    before = {p.name: p.read_text() for p in overlay.iterdir()}
    fake_rds_terraform(bin_dir, None)
    result = run(script, env=environment)
    assert result.returncode == 1
    assert 'set database = "rds"' in result.stderr
    assert {p.name: p.read_text() for p in overlay.iterdir()} == before


def test_create_user_sends_the_master_password_on_stdin_only(rds_checkout):
    script, overlay, bin_dir, environment = rds_checkout
    fake_rds_terraform(bin_dir, RDS_SETTINGS)
    password = "Master-Pa55word-from-Secrets-Manager"
    stand_in(bin_dir, "aws", f"""
assert sys.argv[1:3] == ["secretsmanager", "get-secret-value"], sys.argv
assert sys.argv[sys.argv.index("--secret-id") + 1] == {RDS_SETTINGS["master_user_secret_arn"]!r}
print(json.dumps({{"username": "admin", "password": {password!r}}}))
""")
    stand_in(bin_dir, "kubectl", """
with open(os.environ["CALLS"], "a") as f:
    f.write(json.dumps({"argv": sys.argv[1:], "stdin": sys.stdin.read(), "env": dict(os.environ)}) + "\\n")
""")
    result = run(script, "--create-user", env=environment)
    assert result.returncode == 0, result.stderr
    [call] = [json.loads(line) for line in open(environment["CALLS"])]
    assert call["stdin"] == password + "\n"
    assert password not in json.dumps(call["argv"]) and password not in json.dumps(call["env"])
    argv = call["argv"]
    assert argv[:3] == ["--namespace", "default", "run"]
    assert "--rm" in argv and "--restart=Never" in argv and "--image=mysql:8.4" in argv
    assert argv[-4:] == [RDS_SETTINGS["host"], "3306", "admin", CREATE_USER_SQL.rstrip("\n")]
    assert "--ssl-mode=REQUIRED" in " ".join(argv)
