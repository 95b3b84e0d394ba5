"""What the GitHub Actions workflow must keep promising, checked on the parsed YAML.

Least-privilege token permissions, actions pinned to commits, one run per ref, no
AWS keys, the README's test command, and names that match terraform/ and
k8s-manifests/. Run by scripts/checks/40-workflows.sh.
"""

import pathlib
import re

import hcl2
import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.y*ml"))
CI = ROOT / ".github" / "workflows" / "ci.yml"
AWS_CREDENTIALS_ACTION = "aws-actions/configure-aws-credentials"
PINNED = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_./-]+@[0-9a-f]{40}$")


def load(path):
    workflow = yaml.safe_load(path.read_text())
    # YAML 1.1 reads the bare key `on` as the boolean true.
    workflow["on"] = workflow.pop(True, workflow.get("on"))
    return workflow


WORKFLOW = load(CI)
JOBS = WORKFLOW["jobs"]


def steps(job):
    return JOBS[job]["steps"]


def uses(job):
    return [step["uses"].split("@")[0] for step in steps(job) if "uses" in step]


def scripts(job):
    return "\n".join(step.get("run", "") for step in steps(job))


def terraform_variable_default(name):
    with (ROOT / "terraform" / "variables.tf").open() as f:
        config = hcl2.load(f, serialization_options=hcl2.SerializationOptions(strip_string_quotes=True))
    variables = {k: v for entry in config["variable"] for k, v in entry.items()}
    return variables[name]["default"]


def test_there_is_a_workflow():
    assert CI in WORKFLOWS


def test_runs_on_pull_requests_and_pushes_to_main():
    triggers = WORKFLOW["on"]
    assert "pull_request" in triggers
    assert triggers["push"]["branches"] == ["main"]
    assert "pull_request_target" not in triggers, "pull_request_target runs fork code with a privileged token"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_top_level_token_can_only_read_the_repository(path):
    assert load(path)["permissions"] == {"contents": "read"}


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_id_token_write_only_on_jobs_that_assume_the_aws_role(path):
    for name, job in load(path)["jobs"].items():
        permissions = job.get("permissions", {})
        assert permissions != "write-all", name
        assume_role = any(step.get("uses", "").startswith(AWS_CREDENTIALS_ACTION) for step in job["steps"])
        if assume_role:
            assert permissions == {"contents": "read", "id-token": "write"}, name
        else:
            assert "id-token" not in permissions, name
        writes = {k for k, v in permissions.items() if v == "write"} - {"id-token"}
        assert not writes, f"job {name} may write {writes}"


def test_the_test_job_gets_no_aws_access():
    assert "permissions" not in JOBS["test"], "the test job inherits contents: read"
    assert AWS_CREDENTIALS_ACTION not in uses("test")


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_every_action_is_pinned_to_a_commit_with_its_version_noted(path):
    lines = [line.strip() for line in path.read_text().splitlines() if re.match(r"\s*(- )?uses:", line)]
    assert lines
    for line in lines:
        found = re.fullmatch(r"(?:- )?uses: (\S+) # (v\d+\.\d+\.\d+)", line)
        assert found, f"not pinned with a version comment: {line}"
        assert PINNED.fullmatch(found.group(1)), f"not pinned to a full commit SHA: {line}"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_one_run_per_ref_at_a_time(path):
    concurrency = load(path)["concurrency"]
    assert "github.ref" in concurrency["group"]
    assert concurrency["cancel-in-progress"] is True


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_no_aws_keys_or_other_secrets(path):
    text = path.read_text()
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "aws-access-key-id", "aws-secret-access-key"):
        assert key not in text, key
    assert "secrets." not in text, "the workflow needs no secrets: AWS access goes through OIDC"
    assert not re.search(r"\b(A3T|AKIA|ASIA)[A-Z0-9]{16}\b", text)


def test_checkouts_do_not_keep_the_token():
    for job in JOBS:
        for step in steps(job):
            if step.get("uses", "").startswith("actions/checkout@"):
                assert step["with"]["persist-credentials"] is False, job


def test_every_job_has_a_timeout():
    for name, job in JOBS.items():
        assert 0 < job["timeout-minutes"] <= 90, name


def test_test_job_runs_the_readme_test_command_fmt_and_clippy():
    run = scripts("test")
    assert re.search(r"^bash scripts/test\.sh$", run, re.M)
    assert "cargo fmt --all --check" in run
    assert "cargo clippy --all-targets -- -D warnings" in run
    assert (ROOT / "scripts" / "test.sh").is_file()
    assert "Swatinem/rust-cache" in uses("test")


def test_test_job_uses_the_projects_rust_toolchain():
    cargo = (ROOT / "Cargo.toml").read_text()
    rust_version = re.search(r'^rust-version = "([0-9.]+)"', cargo, re.M).group(1)
    assert WORKFLOW["env"]["RUST_TOOLCHAIN"].startswith(rust_version + ".")


def test_image_is_built_after_the_tests_on_main_only_and_tagged_with_the_commit():
    job = JOBS["image"]
    assert job["needs"] == "test"
    assert job["if"] == "github.event_name == 'push' && github.ref == 'refs/heads/main'"
    (build,) = [s for s in steps("image") if s.get("uses", "").startswith("docker/build-push-action@")]
    assert build["with"]["push"] is True
    assert build["with"]["tags"].endswith(":${{ github.sha }}")
    assert build["with"]["cache-from"] == "type=gha"
    assert "aws-actions/amazon-ecr-login" in uses("image")


def test_aws_access_assumes_the_ci_role_through_oidc():
    for job in ("image", "deploy"):
        (assume,) = [s for s in steps(job) if s.get("uses", "").startswith(AWS_CREDENTIALS_ACTION)]
        assert assume["with"]["role-to-assume"] == "${{ vars.AWS_ROLE_ARN }}"
        assert set(assume["with"]) == {"role-to-assume", "role-session-name", "aws-region"}


def test_repository_and_region_defaults_match_terraform():
    for job in ("image", "deploy"):
        env = JOBS[job]["env"]
        ecr_default = re.fullmatch(r"\$\{\{ vars\.ECR_REPOSITORY \|\| '([^']+)' \}\}", env["ECR_REPOSITORY"]).group(1)
        assert ecr_default == terraform_variable_default("ecr_repository_name")
        region_default = re.fullmatch(r"\$\{\{ vars\.AWS_REGION \|\| '([^']+)' \}\}", env["AWS_REGION"]).group(1)
        assert region_default == terraform_variable_default("region")


def test_deploy_is_optional_behind_an_environment_and_waits_for_the_rollout():
    job = JOBS["deploy"]
    assert job["needs"] == "image"
    assert "vars.EKS_CLUSTER_NAME != ''" in job["if"]
    assert "github.ref == 'refs/heads/main'" in job["if"]
    # The CI role trusts this environment's OIDC subject by name.
    assert job["environment"] == terraform_variable_default("github_deploy_environment")
    assert job["concurrency"]["cancel-in-progress"] is False
    run = scripts("deploy")
    assert 'kustomize edit set image "employee-db=${image}"' in run
    assert "kubectl apply -k k8s-manifests" in run
    assert "kubectl -n clo835 rollout status deployment/employee-db" in run


def test_deploy_names_match_the_kustomization():
    kustomization = yaml.safe_load((ROOT / "k8s-manifests" / "kustomization.yaml").read_text())
    assert kustomization["namespace"] == "clo835"
    assert "employee-db" in [image["name"] for image in kustomization["images"]]
