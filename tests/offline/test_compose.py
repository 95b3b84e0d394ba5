"""What docker-compose.yml must keep promising for `docker compose up --build`.

The file's syntax is checked against the Compose specification's JSON schema by
scripts/checks/20-deploy.sh; these tests check that the services fit together.
"""

import os
import re
import subprocess

import yaml

from deploy_helpers import ROOT

COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
APP = SERVICES["app"]
DB = SERVICES["db"]


def default(expression: str) -> str:
    """The value of a `${VAR:-default}` interpolation (or the literal text)."""
    return re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", str(expression))


def test_app_is_built_from_the_dockerfile_and_reachable_on_the_host():
    assert APP["build"] == "."
    [port] = APP["ports"]
    host, container = port.rsplit(":", 1)
    assert container == "81"
    assert default(host) == "8080"


def test_app_waits_for_a_healthy_database_and_a_seeded_bucket():
    assert APP["depends_on"]["db"]["condition"] == "service_healthy"
    assert APP["depends_on"]["objectstore-seed"]["condition"] == "service_completed_successfully"
    seed = SERVICES["objectstore-seed"]
    assert seed["depends_on"]["objectstore"]["condition"] == "service_healthy"
    assert DB["healthcheck"]["test"] and SERVICES["objectstore"]["healthcheck"]["test"]


def test_database_is_mysql_8_on_a_named_volume():
    assert DB["image"].startswith("mysql:8.")
    volume, path = DB["volumes"][0].split(":")[:2]
    assert path == "/var/lib/mysql"
    assert volume in COMPOSE["volumes"], "a named volume survives `docker compose down`"


def test_app_logs_in_as_the_application_user_not_root():
    db_env, app_env = DB["environment"], APP["environment"]
    assert db_env["MYSQL_USER"] == app_env["DBUSER"]
    assert db_env["MYSQL_PASSWORD"] == app_env["DBPWD"]
    assert default(app_env["DBUSER"]) not in ("", "root")
    assert db_env["MYSQL_ROOT_PASSWORD"] != db_env["MYSQL_PASSWORD"]
    assert db_env["MYSQL_DATABASE"] == app_env["DATABASE"] == "employees"
    assert app_env["DBHOST"] == "db"


def test_app_reads_the_seeded_private_bucket_through_the_local_store():
    app_env = APP["environment"]
    store_env = SERVICES["objectstore"]["environment"]
    seed = SERVICES["objectstore-seed"]
    assert app_env["AWS_ENDPOINT_URL"] == "http://objectstore:8333"
    assert app_env["AWS_ACCESS_KEY_ID"] == store_env["AWS_ACCESS_KEY_ID"]
    assert app_env["AWS_SECRET_ACCESS_KEY"] == store_env["AWS_SECRET_ACCESS_KEY"]
    bucket = default(seed["environment"]["S3_BUCKET"])
    assert default(app_env["BACKGROUND_IMAGE_URL"]) == f"s3://{bucket}/sample-background.jpg"
    source = seed["volumes"][0].split(":")[0]
    assert (ROOT / source).is_file(), source
    assert "sample-background.jpg" in " ".join(seed["command"])


def test_app_container_is_hardened_like_the_pod():
    assert APP["read_only"] is True
    assert APP["cap_drop"] == ["ALL"]
    assert "no-new-privileges:true" in APP["security_opt"]
    assert "/var/cache/employee-db" in APP["tmpfs"]


def test_every_image_is_pinned_to_a_version():
    for name, service in SERVICES.items():
        image = service["image"]
        repository, _, tag = image.rpartition(":")
        assert repository and tag not in ("", "latest"), f"{name}: {image}"


def test_the_store_gets_only_its_keys_so_it_creates_no_bucket_itself():
    """SeaweedFS `mini` creates the bucket named by S3_BUCKET at start, racing the seed."""
    store = SERVICES["objectstore"]
    assert set(store["environment"]) == {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}
    assert not any(arg.startswith("-bucket") for arg in store["command"])


def test_the_store_runs_only_the_s3_gateway_and_reports_nothing_home():
    command = SERVICES["objectstore"]["command"]
    assert command[0] == "mini"
    for flag in ("-admin.ui=false", "-webdav=false", "-s3.port.iceberg=0", "-s3.port.lance=0",
                 "-master.telemetry=false"):
        assert flag in command, flag


def run_seed(tmp_path, create_bucket_answer: str, exit_code: int) -> subprocess.CompletedProcess:
    """The seed job's command, under sh, with a stand-in `aws` that answers create-bucket so."""
    fake = tmp_path / "aws"
    fake.write_text(
        "#!/bin/sh\n"
        f'if [ "$2" = create-bucket ]; then echo "{create_bucket_answer}" >&2; exit {exit_code}; fi\n'
        'echo "$@" >> "$CALLS"\n'
    )
    fake.chmod(0o755)
    seed = SERVICES["objectstore-seed"]
    script = seed["command"][0].replace("$$", "$")  # compose's escape for a literal $
    environment = {"PATH": f"{tmp_path}:/usr/bin:/bin", "S3_BUCKET": "b", "CALLS": str(tmp_path / "calls")}
    return subprocess.run([*seed["entrypoint"], script], env=environment, capture_output=True, text=True,
                          timeout=30)


def test_seed_tolerates_a_bucket_that_exists(tmp_path):
    for answer in ("An error occurred (BucketAlreadyOwnedByYou) when calling the CreateBucket operation",
                   "An error occurred (BucketAlreadyExists) when calling the CreateBucket operation"):
        result = run_seed(tmp_path, answer, 254)
        assert result.returncode == 0, result.stderr
        assert "seeded s3://b/sample-background.jpg" in result.stdout
    assert "s3 cp" in (tmp_path / "calls").read_text()


def test_seed_fails_on_any_other_error(tmp_path):
    result = run_seed(tmp_path, "An error occurred (AccessDenied) when calling the CreateBucket operation", 254)
    assert result.returncode == 1
    assert "AccessDenied" in result.stderr
    assert not os.path.exists(tmp_path / "calls"), "nothing is uploaded after a failed create"


def test_seed_entrypoint_is_a_strict_shell():
    assert SERVICES["objectstore-seed"]["entrypoint"] == ["/bin/sh", "-ec"]


def test_mysql_is_the_current_84_patch_release():
    """Docker Hub rebuilds only the newest patch of a series; 8.4.10 was the newest
    8.4 in docker-library/mysql's versions.json when checked (2026-11-28)."""
    assert DB["image"] == "mysql:8.4.10"
    mysql_manifest = (ROOT / "k8s-manifests" / "mysql.yaml").read_text()
    assert f"image: {DB['image']}" in mysql_manifest, "compose and Kubernetes run the same MySQL"


def test_start_interval_names_the_docker_engine_it_needs():
    assert "start_interval" in DB["healthcheck"]
    assert "Docker Engine 25 or later" in (ROOT / "docker-compose.yml").read_text()
    assert "Docker Engine 25" in (ROOT / "README.md").read_text()


def test_local_run_shuts_down_without_a_load_balancer_delay():
    environment = APP["environment"]
    assert environment["SHUTDOWN_DELAY_SECS"] == "0"
    assert int(environment["SHUTDOWN_DRAIN_SECS"]) > 0
