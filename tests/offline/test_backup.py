"""The nightly backup CronJob (k8s-manifests/backup.yaml) and scripts/restore.sh.

A later edit that lets two backups overlap, drops the history limits, loosens the
pod's security context, gives the backup the app's identity (or any Kubernetes API
token), or points the restore Job at the wrong ServiceAccount fails here. The IAM side
(what each identity may do in S3) is checked in test_terraform.py. Run by
scripts/checks/20-deploy.sh.
"""

import json
import os
import re
import subprocess
import sys

import pytest

from deploy_helpers import ROOT, container, objects, one

BACKUP_SA = "employee-db-backup"
RESTORE_SA = "employee-db-restore"


def cronjob():
    return one("CronJob", "employee-db-backup")


def job_pod(job_spec: dict) -> dict:
    return job_spec["template"]


def backup_pod():
    return job_pod(cronjob()["spec"]["jobTemplate"]["spec"])


def selects(selector: dict, labels: dict) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def test_backup_runs_nightly_one_at_a_time_with_bounded_history():
    spec = cronjob()["spec"]
    minute, hour, *days = spec["schedule"].split()
    assert minute.isdigit() and hour.isdigit() and days == ["*", "*", "*"], spec["schedule"]
    assert spec["timeZone"] == "Etc/UTC"
    assert spec["concurrencyPolicy"] == "Forbid"
    assert 1 <= spec["successfulJobsHistoryLimit"] <= 5
    assert 1 <= spec["failedJobsHistoryLimit"] <= 5
    assert 0 < spec["startingDeadlineSeconds"] <= 6 * 3600
    job = spec["jobTemplate"]["spec"]
    assert 0 < job["activeDeadlineSeconds"] <= 6 * 3600, "a hung backup must end before the next night"
    assert job["backoffLimit"] <= 3
    assert job_pod(job)["spec"]["restartPolicy"] == "Never"


def test_backup_has_its_own_identity_without_an_api_token():
    spec = backup_pod()["spec"]
    assert spec["serviceAccountName"] == BACKUP_SA
    assert spec["automountServiceAccountToken"] is False
    for name in (BACKUP_SA, RESTORE_SA):
        account = one("ServiceAccount", name)
        assert account["automountServiceAccountToken"] is False, name
        assert "annotations" not in account["metadata"], "Pod Identity needs no annotation"
    for binding in objects("RoleBinding") + objects("ClusterRoleBinding"):
        for subject in binding["subjects"]:
            assert subject["name"] not in (BACKUP_SA, RESTORE_SA), "no Kubernetes RBAC for the backup identities"


def test_backup_pod_meets_the_restricted_profile():
    spec = backup_pod()["spec"]
    pod = spec["securityContext"]
    assert pod["runAsNonRoot"] is True
    assert pod["runAsUser"] >= 10000
    assert pod["seccompProfile"]["type"] == "RuntimeDefault"
    for flag in ("hostNetwork", "hostPID", "hostIPC"):
        assert not spec.get(flag)
    assert "volumes" not in spec, "the backup streams: it writes nowhere on disk"
    for c in spec["containers"]:
        sc = c["securityContext"]
        assert sc["allowPrivilegeEscalation"] is False
        assert sc["readOnlyRootFilesystem"] is True
        assert sc["capabilities"] == {"drop": ["ALL"]}
        assert not sc.get("privileged")
        assert c["resources"]["requests"]["memory"] and c["resources"]["limits"]["memory"]


def test_backup_runs_the_apps_image_and_configuration():
    app = one("Deployment", "employee-db")
    backup = container(cronjob()["spec"]["jobTemplate"])
    assert backup["image"] == container(app)["image"], "one image, set once by kustomize"
    assert backup["envFrom"] == container(app)["envFrom"]
    app_secrets = {e["name"]: e for e in container(app)["env"] if "valueFrom" in e}
    assert {e["name"]: e for e in backup["env"] if "valueFrom" in e} == app_secrets
    assert backup["args"] == ["backup", "--to", "$(BACKUP_URL)"]
    config = one("ConfigMap", "employee-db-config")
    assert "BACKUP_URL" in config["data"]
    value = config["data"]["BACKUP_URL"]
    assert value == "" or re.fullmatch(r"s3://[a-z0-9.-]+/backups/", value), value


def test_backup_pods_reach_mysql_but_take_no_app_traffic():
    labels = backup_pod()["metadata"]["labels"]
    service = one("Service", "employee-db")
    assert not selects(service["spec"]["selector"], labels), "the app's Service must not send requests to a backup"
    pdb = one("PodDisruptionBudget", "employee-db")
    assert not selects(pdb["spec"]["selector"]["matchLabels"], labels)
    mysql_policy = one("NetworkPolicy", "mysql-from-employee-db")
    sources = [s["podSelector"]["matchLabels"] for s in mysql_policy["spec"]["ingress"][0]["from"]]
    assert any(selects(s, labels) for s in sources)


# --- scripts/restore.sh, against a stand-in kubectl ----------------------------------

RESTORE = ROOT / "scripts" / "restore.sh"

FAKE_KUBECTL = """#!{python}
# The kubectl calls restore.sh makes, answered from the rendered manifests; state in JSON.
import json, os, sys

path = os.environ["FAKE_KUBE_STATE"]
with open(path) as f:
    state = json.load(f)
args = sys.argv[1:]
assert args[:2] == ["--namespace", "clo835"], args
args = args[2:]
state["calls"].append(" ".join(args))
out = sys.stdout.write
if args[:3] == ["get", "cronjob", "employee-db-backup"]:
    out(json.dumps(state["cronjob"]))
elif args[:2] == ["get", "configmap"] and args[2] == state["configmap"]:
    out(state["backup_url"])
elif args[:3] == ["create", "-f", "-"]:
    state["created"] = json.load(sys.stdin)
elif args[:2] == ["get", "job"]:
    state["polls"] += 1
    out("1/" if state["polls"] >= 2 and state["outcome"] == "ok" else "/" if state["polls"] < 2 else "/1")
elif args[:1] == ["logs"]:
    out(state["logs"] + "\\n")
else:
    sys.exit("fake kubectl: unexpected " + " ".join(args))
with open(path, "w") as f:
    json.dump(state, f)
"""


@pytest.fixture
def cluster(tmp_path):
    """Runs restore.sh against a stand-in cluster holding the rendered CronJob;
    returns run(outcome, *args) -> (result, state)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    kubectl = bin_dir / "kubectl"
    kubectl.write_text(FAKE_KUBECTL.format(python=sys.executable))
    kubectl.chmod(0o755)
    state_file = tmp_path / "kube.json"

    def run(outcome, *args, backup_url="s3://clo835-backups-1-us-east-1/backups/"):
        state_file.write_text(json.dumps({
            "calls": [], "polls": 0, "outcome": outcome, "cronjob": cronjob(),
            "configmap": one("ConfigMap", "employee-db-config")["metadata"]["name"],
            "backup_url": backup_url,
            "logs": "restore: 3 rows read, 3 written, 0 skipped" if outcome == "ok"
            else "employee-db: restore failed, nothing was written: the backup is truncated",
        }))
        environment = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "FAKE_KUBE_STATE": str(state_file)}
        result = subprocess.run(["bash", str(RESTORE), *args], capture_output=True, text=True,
                                timeout=60, env=environment)
        return result, json.loads(state_file.read_text())

    return run


def test_restore_runs_the_cronjobs_pod_as_the_restore_identity(cluster):
    result, state = cluster("ok", "--merge", "20261128T021700Z.jsonl")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "restore: 3 rows read, 3 written, 0 skipped" in result.stdout
    job = state["created"]
    assert job["kind"] == "Job" and job["apiVersion"] == "batch/v1"
    assert re.fullmatch(r"employee-db-restore-\d{8}t\d{6}", job["metadata"]["name"])
    assert "ownerReferences" not in job["metadata"], "the CronJob's history limits must not delete it"
    assert job["spec"]["backoffLimit"] == 0
    pod = job["spec"]["template"]
    assert pod["spec"]["serviceAccountName"] == RESTORE_SA
    assert pod["metadata"]["labels"]["app.kubernetes.io/component"] == "restore"
    [c] = pod["spec"]["containers"]
    assert c["args"] == ["restore", "--from", "s3://clo835-backups-1-us-east-1/backups/20261128T021700Z.jsonl", "--merge"]
    backup = backup_pod()
    assert pod["spec"]["securityContext"] == backup["spec"]["securityContext"]
    assert c["securityContext"] == backup["spec"]["containers"][0]["securityContext"]
    assert c["image"] == backup["spec"]["containers"][0]["image"]
    mysql_policy = one("NetworkPolicy", "mysql-from-employee-db")
    sources = [s["podSelector"]["matchLabels"] for s in mysql_policy["spec"]["ingress"][0]["from"]]
    assert any(selects(s, pod["metadata"]["labels"]) for s in sources), "the restore reaches MySQL"


def test_restore_reports_a_failed_job_with_its_message(cluster):
    result, state = cluster("fail", "s3://clo835-backups-1-us-east-1/backups/x.jsonl")
    assert result.returncode == 1
    assert "the backup is truncated" in result.stdout
    assert "FAIL" in result.stderr and "nothing was written" in result.stderr
    assert "--merge" not in state["created"]["spec"]["template"]["spec"]["containers"][0]["args"]


@pytest.mark.parametrize(
    "backup, backup_url, message",
    [
        ("s3://other-bucket/backups/x.jsonl", "s3://clo835-backups-1-us-east-1/backups/", "is not under"),
        ("nested/x.jsonl", "s3://clo835-backups-1-us-east-1/backups/", "a name under"),
        ("x.jsonl", "", "BACKUP_URL"),
    ],
)
def test_restore_refuses_what_the_restore_role_cannot_read(cluster, backup, backup_url, message):
    result, state = cluster("ok", backup, backup_url=backup_url)
    assert result.returncode == 1
    assert message in result.stderr
    assert "created" not in state, "no Job was created"
