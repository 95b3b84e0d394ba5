"""What docker-compose.yml must keep promising for `docker compose up --build`.

The file's syntax is checked against the Compose specification's JSON schema by
scripts/checks/20-deploy.sh; these tests check that the services fit together.
"""

import re

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
