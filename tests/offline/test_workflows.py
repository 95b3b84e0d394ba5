"""What the GitHub Actions workflow must keep promising, checked on the parsed YAML.

Least-privilege token permissions, actions pinned to commits that were checked, one run
per ref, no AWS keys, the README's test command, MySQL 8.4 in the test job, the weekly
advisories, a multi-arch image with attestations signed keylessly, re-runs that respect
ECR's immutable tags, and names that match terraform/ and k8s-manifests/. Run by
scripts/checks/40-workflows.sh.
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

# Every action the workflows use, at the commit its release tag points to and the runtime
# its action.yml declares at that commit, read from each action's own repository on
# 2026-11-28 (`git rev-parse TAG^{commit}` and `git show SHA:action.yml` on a clone).
# GitHub retired the Node 20 runtime, so a JavaScript action must declare node24.
# Moving a pin means checking the new commit the same way and updating this table.
VERIFIED_ACTIONS = {
    "actions/cache": ("27d5ce7f107fe9357f9df03efb73ab90386fccae", "v5.0.5", "node24"),
    "actions/checkout": ("de0fac2e4500dabe0009e67214ff5f5447ce83dd", "v6.0.2", "node24"),
    "actions/download-artifact": ("3e5f45b2cfb9172054b4087a40e8e0b5a5461e7c", "v8.0.1", "node24"),
    "actions/upload-artifact": ("bbbca2ddaa5d8feaa63e36b76fdaad77386f024f", "v7.0.0", "node24"),
    "aws-actions/amazon-ecr-login": ("fa648b43de3d4d023bcb3f89ed6940096949c419", "v2.1.5", "node24"),
    "aws-actions/configure-aws-credentials": ("e7f100cf4c008499ea8adda475de1042d6975c7b", "v6.2.0", "node24"),
    "docker/build-push-action": ("f9f3042f7e2789586610d6e8b85c8f03e5195baf", "v7.2.0", "node24"),
    "docker/setup-buildx-action": ("d7f5e7f509e45cec5c76c4d5afdd7de93d0b3df5", "v4.1.0", "node24"),
    "sigstore/cosign-installer": ("6f9f17788090df1f26f669e9d70d6ae9567deba6", "v4.1.2", "composite"),
    "Swatinem/rust-cache": ("6323deb102c322ba6fcbdcafc7e3dddab59af2b6", "v2.9.2", "node24"),
}


def load(path):
    workflow = yaml.safe_load(path.read_text())
    # YAML 1.1 reads the bare key `on` as the boolean true.
    workflow["on"] = workflow.pop(True, workflow.get("on"))
    return workflow


WORKFLOW = load(CI)
JOBS = WORKFLOW["jobs"]


def steps(job):
    return JOBS[job]["steps"]


def step(job, uses_or_id):
    """The one step of `job` that uses the action `uses_or_id`, or has that id."""
    (found,) = [
        s for s in steps(job) if s.get("uses", "").split("@")[0] == uses_or_id or s.get("id") == uses_or_id
    ]
    return found


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


def test_advisories_are_checked_weekly_and_on_every_run():
    (schedule,) = WORKFLOW["on"]["schedule"]
    minute, hour, day_of_month, month, day_of_week = schedule["cron"].split()
    assert minute.isdigit() and hour.isdigit(), "once a week, not every minute or hour"
    assert (day_of_month, month) == ("*", "*") and day_of_week.isdigit(), "weekly"
    job = JOBS["advisories"]
    assert "if" not in job, "the advisories job runs on pull requests, pushes and the schedule"
    assert re.search(r"^bash scripts/checks/dependencies\.sh advisories$", scripts("advisories"), re.M)
    # Here the check may not be skipped when the database cannot be fetched.
    assert job["env"]["EMPLOYEE_DB_ADVISORIES"] == "required"
    assert "cargo deny --locked check advisories" in (ROOT / "scripts" / "checks" / "dependencies.sh").read_text()


def test_only_the_advisories_job_runs_on_the_schedule():
    for name, job in JOBS.items():
        if name == "advisories":
            continue
        condition = job.get("if", "")
        assert "github.event_name != 'schedule'" in condition or "github.event_name == 'push'" in condition, name
    # The test job leaves advisories to that job, so a new advisory fails one job only.
    assert JOBS["test"]["env"]["EMPLOYEE_DB_ADVISORIES"] == "skip"


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
            # contents: read only where the job checks the repository out.
            checkout = any(step.get("uses", "").startswith("actions/checkout@") for step in job["steps"])
            expected = {"contents": "read", "id-token": "write"} if checkout else {"id-token": "write"}
            assert permissions == expected, name
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
def test_every_action_is_a_pin_that_was_checked_upstream(path):
    for line in path.read_text().splitlines():
        found = re.fullmatch(r"\s*(?:- )?uses: ([^@\s]+)@([0-9a-f]{40}) # (v[\d.]+)", line)
        if not found:
            continue
        action, sha, version = found.groups()
        assert action in VERIFIED_ACTIONS, f"{action}: check its commit and action.yml, then list it"
        verified_sha, verified_version, runtime = VERIFIED_ACTIONS[action]
        assert (sha, version) == (verified_sha, verified_version), f"{action}@{version} is not the checked pin"
        assert runtime in ("node24", "composite"), f"{action} runs on {runtime}"


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


def test_cargo_tools_are_cached_where_the_dependency_check_installs_them():
    script = (ROOT / "scripts" / "checks" / "dependencies.sh").read_text()
    assert 'TOOLS_ROOT="${CACHE_DIR}/tools"' in script
    assert "bash scripts/checks/dependencies.sh" in (ROOT / "scripts" / "test.sh").read_text()
    for job in ("test", "advisories"):
        cache = step(job, "actions/cache")
        # lib.sh's CACHE_DIR is ~/.cache/employee-db unless overridden.
        assert cache["with"]["path"] == "~/.cache/employee-db/tools", job
        # The script pins the versions: a new pin must not restore the old build.
        assert "${{ hashFiles('scripts/checks/dependencies.sh') }}" in cache["with"]["key"], job
        first_script = next(i for i, s in enumerate(steps(job)) if "bash scripts/" in s.get("run", ""))
        assert steps(job).index(cache) < first_script, f"{job}: restore the tools before using them"


def test_test_job_also_runs_the_database_tests_against_mysql_8_4():
    job = JOBS["test"]
    mysql = job["services"]["mysql"]
    assert mysql["image"] == "mysql:8.4"
    # A health check, so the steps start only once the server accepts connections.
    assert "--health-cmd" in mysql["options"]
    password = mysql["env"]["MYSQL_ROOT_PASSWORD"]
    # Without a password, caching_sha2_password never runs the RSA exchange under test.
    assert password
    (mysql_step,) = [s for s in steps("test") if "TEST_MYSQL_URL" in s.get("env", {})]
    # The job runs in a container, so the service is reached by its name.
    assert mysql_step["env"]["TEST_MYSQL_URL"] == f"mysql://root:{password}@mysql:3306"
    assert re.fullmatch(r"cargo test --locked( --test \w+)?", mysql_step["run"].strip())
    # After the MariaDB run, not instead of it.
    (test_sh,) = [s for s in steps("test") if s.get("run") == "bash scripts/test.sh"]
    assert steps("test").index(mysql_step) > steps("test").index(test_sh)


def test_test_job_uses_the_projects_rust_toolchain():
    cargo = (ROOT / "Cargo.toml").read_text()
    rust_version = re.search(r'^rust-version = "([0-9.]+)"', cargo, re.M).group(1)
    assert WORKFLOW["env"]["RUST_TOOLCHAIN"].startswith(rust_version + ".")


MAIN_PUSH = "github.event_name == 'push' && github.ref == 'refs/heads/main'"


def test_image_is_built_after_the_tests_and_advisories_on_main_only():
    assert JOBS["image"]["needs"] == ["test", "advisories"]
    assert JOBS["image"]["if"] == MAIN_PUSH
    assert JOBS["publish"]["needs"] == "image"
    assert JOBS["publish"]["if"] == MAIN_PUSH
    assert "aws-actions/amazon-ecr-login" in uses("image")
    assert "aws-actions/amazon-ecr-login" in uses("publish")


def test_both_architectures_are_built_natively():
    job = JOBS["image"]
    legs = {leg["arch"]: leg["runner"] for leg in job["strategy"]["matrix"]["include"]}
    assert set(legs) == {"amd64", "arm64"}
    assert legs["amd64"] == "ubuntu-24.04"
    # GitHub's arm64 runner by default; a repository variable can name another arm64 runner.
    assert legs["arm64"] == "${{ vars.ARM64_RUNNER || 'ubuntu-24.04-arm' }}"
    assert job["runs-on"] == "${{ matrix.runner }}"
    assert "docker/setup-qemu-action" not in uses("image"), "native runners, no emulation"
    build = step("image", "docker/build-push-action")
    assert build["with"]["platforms"] == "linux/${{ matrix.arch }}"
    # Each architecture keeps a build cache of its own.
    assert "scope=image-${{ matrix.arch }}" in build["with"]["cache-from"]
    assert "scope=image-${{ matrix.arch }}" in build["with"]["cache-to"]


def test_images_carry_provenance_and_sbom_attestations_and_are_pushed_by_digest():
    build = step("image", "docker/build-push-action")
    assert build["with"]["provenance"] == "mode=max"
    assert build["with"]["sbom"] is True
    outputs = dict(part.split("=", 1) for part in build["with"]["outputs"].strip().split(",")[1:])
    assert outputs["push-by-digest"] == "true" and outputs["push"] == "true"
    assert "tags" not in build["with"], "the per-architecture images stay untagged"
    upload = step("image", "actions/upload-artifact")
    assert upload["with"]["name"] == "digest-${{ matrix.arch }}"


def test_publish_tags_one_multi_arch_index_with_the_commit_sha():
    run = scripts("publish")
    assert 'docker buildx imagetools create --tag "${REPOSITORY}:${GITHUB_SHA}" "${sources[@]}"' in run
    assert '"linux/amd64 linux/arm64"' in run, "the index is checked to hold both architectures"
    (digests,) = [s for s in steps("publish") if s.get("with", {}).get("pattern") == "digest-*"]
    assert digests["with"]["merge-multiple"] is True


def test_reruns_skip_what_ecr_already_has():
    for job in ("image", "publish"):
        check = step(job, "existing")
        run = re.sub(r"\\\n\s*", "", check["run"])  # join continued lines
        assert 'aws ecr describe-images --repository-name "$ECR_REPOSITORY" --image-ids imageTag="$GITHUB_SHA"' in run
        # Only "not found" means "push it"; any other error (access, no repository) fails.
        assert "ImageNotFoundException" in check["run"] and "exit 1" in check["run"]
    skipped_when_pushed = {
        "image": ["docker/setup-buildx-action", "docker/build-push-action", "actions/upload-artifact"],
        "publish": ["actions/download-artifact"],
    }
    for job, needing in skipped_when_pushed.items():
        for s in steps(job):
            if s.get("uses", "").split("@")[0] in needing and s.get("with", {}).get("name") != "sbom":
                assert s["if"] == "steps.existing.outputs.pushed == 'false'", (job, s.get("name"))
    (tag,) = [s for s in steps("publish") if "imagetools create" in s.get("run", "")]
    assert tag["if"] == "steps.existing.outputs.pushed == 'false'"
    # Signing and attesting check first, so a re-run adds nothing twice.
    sign = [s["run"] for s in steps("publish") if "cosign sign" in s.get("run", "")]
    attest = [s["run"] for s in steps("publish") if "cosign attest" in s.get("run", "")]
    assert len(sign) == 1 and sign[0].index("cosign verify ") < sign[0].index("cosign sign ")
    assert len(attest) == 1 and attest[0].index("cosign verify-attestation") < attest[0].index("cosign attest ")


def test_signing_is_keyless_through_github_oidc():
    job = JOBS["publish"]
    assert job["permissions"] == {"id-token": "write"}
    assert "sigstore/cosign-installer" in uses("publish")
    run = scripts("publish")
    assert re.search(r'^\s*cosign sign --yes "\$IMAGE"$', run, re.M)
    text = CI.read_text()
    for key_material in ("--key", "COSIGN_PRIVATE_KEY", "COSIGN_PASSWORD", "COSIGN_KEY", "generate-key-pair"):
        assert key_material not in text, key_material
    # Signed and verified as this workflow file on main, as issued by GitHub's OIDC provider.
    assert job["env"]["SIGNER"] == "${{ github.server_url }}/${{ github.workflow_ref }}"
    assert job["env"]["OIDC_ISSUER"] == "https://token.actions.githubusercontent.com"
    assert run.count('--certificate-identity "$SIGNER" --certificate-oidc-issuer "$OIDC_ISSUER"') >= 4
    # Every cosign command names the image by digest: step "image" outputs ref=REPOSITORY@DIGEST.
    assert 'echo "ref=${REPOSITORY}@${digest}" >> "$GITHUB_OUTPUT"' in run
    for s in steps("publish"):
        if "cosign " in s.get("run", ""):
            assert s["env"]["IMAGE"] == "${{ steps.image.outputs.ref }}", s["name"]


def test_the_crate_sbom_from_the_tests_is_attached_to_the_image():
    upload = step("test", "actions/upload-artifact")
    assert upload["if"] == "github.event_name == 'push'"
    assert upload["with"]["name"] == "sbom"
    # The file scripts/checks/dependencies.sh writes, in the test job's target directory.
    assert upload["with"]["path"] == JOBS["test"]["env"]["CARGO_TARGET_DIR"] + "/sbom/employee-db.cdx.json"
    assert '"${sbom_dir}/employee-db.cdx.json"' in (ROOT / "scripts" / "checks" / "dependencies.sh").read_text()
    (download,) = [s for s in steps("publish") if s.get("with", {}).get("name") == "sbom"]
    assert download["uses"].split("@")[0] == "actions/download-artifact"
    run = scripts("publish")
    assert (
        'cosign attest --yes --type cyclonedx --predicate "$RUNNER_TEMP/sbom/employee-db.cdx.json" "$IMAGE"' in run
    )
    assert download["with"]["path"] == "${{ runner.temp }}/sbom"


def test_publish_verifies_what_the_readme_tells_operators_to_verify():
    (run,) = [s["run"] for s in steps("publish") if s.get("name") == "Verify as an operator would"]
    readme = (ROOT / "README.md").read_text()
    for command in ("cosign verify ", "cosign verify-attestation --type cyclonedx", "docker buildx imagetools inspect"):
        assert command in run and command in readme, command
    assert "--certificate-oidc-issuer https://token.actions.githubusercontent.com" in readme
    assert "/.github/workflows/ci.yml@refs/heads/main" in readme


def test_ci_role_may_do_in_ecr_exactly_what_the_image_jobs_do():
    with (ROOT / "terraform" / "iam.tf").open() as f:
        config = hcl2.load(f, serialization_options=hcl2.SerializationOptions(strip_string_quotes=True))
    permissions = {k: v for entry in config["locals"] for k, v in entry.items()}["ci_push_permissions"]
    actions = {action for statement in permissions.values() for action in statement["actions"]}
    assert actions == {
        "ecr:GetAuthorizationToken",  # docker login
        "ecr:BatchCheckLayerAvailability",  # blob uploads: layers, attestations, signatures
        "ecr:InitiateLayerUpload",
        "ecr:UploadLayerPart",
        "ecr:CompleteLayerUpload",
        "ecr:PutImage",  # manifests: images, the index, cosign's referrers
        "ecr:BatchGetImage",  # imagetools, cosign verify, the referrers API
        "ecr:GetDownloadUrlForLayer",
        "ecr:DescribeImages",  # "is the tag already there?" on re-runs
    }


def test_aws_access_assumes_the_ci_role_through_oidc():
    for job in ("image", "publish", "deploy"):
        (assume,) = [s for s in steps(job) if s.get("uses", "").startswith(AWS_CREDENTIALS_ACTION)]
        assert assume["with"]["role-to-assume"] == "${{ vars.AWS_ROLE_ARN }}"
        assert set(assume["with"]) == {"role-to-assume", "role-session-name", "aws-region"}


def test_repository_and_region_defaults_match_terraform():
    for job in ("image", "publish", "deploy"):
        env = JOBS[job]["env"]
        ecr_default = re.fullmatch(r"\$\{\{ vars\.ECR_REPOSITORY \|\| '([^']+)' \}\}", env["ECR_REPOSITORY"]).group(1)
        assert ecr_default == terraform_variable_default("ecr_repository_name")
        region_default = re.fullmatch(r"\$\{\{ vars\.AWS_REGION \|\| '([^']+)' \}\}", env["AWS_REGION"]).group(1)
        assert region_default == terraform_variable_default("region")


def test_deploy_is_optional_behind_an_environment_and_waits_for_the_rollout():
    job = JOBS["deploy"]
    assert job["needs"] == "publish"
    assert "vars.EKS_CLUSTER_NAME != ''" in job["if"]
    assert "github.ref == 'refs/heads/main'" in job["if"]
    # The CI role trusts this environment's OIDC subject by name.
    assert job["environment"] == terraform_variable_default("github_deploy_environment")
    assert job["concurrency"]["cancel-in-progress"] is False
    run = scripts("deploy")
    assert 'kustomize edit set image "employee-db=${image}"' in run
    # The base, or one of the overlays built on it (never a path of the caller's choosing).
    assert 'kubectl apply -k "${target}"' in run
    assert '"") target=k8s-manifests ;;' in run
    for overlay in ("k8s-overlays/alb-https", "k8s-overlays/alb-https-sign-in"):
        assert overlay in run and (ROOT / overlay / "kustomization.yaml").exists()
    assert job["env"]["K8S_OVERLAY"] == "${{ vars.K8S_OVERLAY }}"
    assert "kubectl -n clo835 rollout status deployment/employee-db" in run


def test_deploy_names_match_the_kustomization():
    kustomization = yaml.safe_load((ROOT / "k8s-manifests" / "kustomization.yaml").read_text())
    assert kustomization["namespace"] == "clo835"
    assert "employee-db" in [image["name"] for image in kustomization["images"]]
