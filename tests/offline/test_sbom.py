"""The CycloneDX SBOM that scripts/checks/dependencies.sh writes (and the workflow attaches
to the image) lists exactly the crates that go into the binary, each with the version and
checksum Cargo.lock pins, its licence and its package URL.

The expected crate set is worked out here independently of cargo-cyclonedx: the crates
reachable from employee-db through normal and build dependencies (dev-dependencies are
test-only and never ship), on both image platforms. Run by scripts/checks/dependencies.sh
with SBOM set to the document's path.
"""

import json
import os
import pathlib
import subprocess
import tomllib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
CRATES_IO = "registry+https://github.com/rust-lang/crates.io-index"
IMAGE_TARGETS = ("x86_64-unknown-linux-gnu", "aarch64-unknown-linux-gnu")


@pytest.fixture(scope="module")
def sbom():
    path = os.environ.get("SBOM")
    assert path, "set SBOM to the CycloneDX file (scripts/checks/dependencies.sh does)"
    return json.loads(pathlib.Path(path).read_text())


@pytest.fixture(scope="module")
def lock():
    """(name, version) -> checksum, for every crates.io package in Cargo.lock."""
    packages = tomllib.loads((ROOT / "Cargo.lock").read_text())["package"]
    return {(p["name"], p["version"]): p["checksum"] for p in packages if p.get("source") == CRATES_IO}


def metadata(target):
    output = subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--locked", "--filter-platform", target],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(output)


def shipped_crates(target):
    """(name, version) -> licence of every crate employee-db needs to build for `target`."""
    meta = metadata(target)
    packages = {p["id"]: p for p in meta["packages"]}
    nodes = {n["id"]: n for n in meta["resolve"]["nodes"]}
    (root,) = [p["id"] for p in meta["packages"] if p["name"] == "employee-db"]
    seen, todo = set(), [root]
    while todo:
        node = nodes[todo.pop()]
        for dep in node["deps"]:
            # kind None is a normal dependency; "dev" ones are test-only.
            if any(k["kind"] in (None, "build") for k in dep["dep_kinds"]) and dep["pkg"] not in seen:
                seen.add(dep["pkg"])
                todo.append(dep["pkg"])
    return {(packages[i]["name"], packages[i]["version"]): packages[i]["license"] for i in seen}


@pytest.fixture(scope="module")
def shipped():
    per_target = {target: shipped_crates(target) for target in IMAGE_TARGETS}
    amd64, arm64 = per_target.values()
    # One SBOM describes the multi-arch image because both builds use the same crates;
    # if that ever changes, the workflow needs one SBOM per platform.
    assert amd64 == arm64, f"the platforms differ: {set(amd64) ^ set(arm64)}"
    return amd64


def components(sbom):
    return {(c["name"], c["version"]): c for c in sbom["components"]}


def licence_of(component):
    (licence,) = component["licenses"]
    return licence.get("expression") or licence["license"]["id"]


def normalised(expression):
    # Cargo still accepts the deprecated "MIT/Apache-2.0"; the SBOM writes SPDX "OR".
    return " ".join(expression.replace("/", " OR ").split())


def test_is_a_cyclonedx_document_about_employee_db(sbom):
    assert sbom["bomFormat"] == "CycloneDX"
    assert sbom["specVersion"] == "1.5"
    cargo = tomllib.loads((ROOT / "Cargo.toml").read_text())["package"]
    subject = sbom["metadata"]["component"]
    assert (subject["name"], subject["version"]) == (cargo["name"], cargo["version"])
    assert [licence_of(subject)] == [cargo["license"]]
    assert sbom["metadata"]["tools"][0]["name"] == "cargo-cyclonedx"


def test_lists_exactly_the_crates_the_binary_is_built_from(sbom, shipped):
    listed = set(components(sbom))
    assert listed - set(shipped) == set(), "listed but not built into the binary (a dev-dependency?)"
    assert set(shipped) - listed == set(), "built into the binary but missing from the SBOM"
    assert len(sbom["components"]) == len(listed), "a crate is listed twice"
    # Sanity: the crates this app is made of are there.
    names = {name for name, _ in listed}
    assert {"axum", "sqlx-core", "aws-sdk-s3", "askama", "tokio", "rustls", "aws-lc-sys"} <= names
    assert not {"fantoccini", "proptest", "s3s", "tempfile"} & names, "dev-dependencies must not be listed"


def test_versions_and_checksums_are_the_ones_cargo_lock_pins(sbom, lock):
    for (name, version), component in components(sbom).items():
        assert (name, version) in lock, f"{name} {version} is not a crates.io package in Cargo.lock"
        assert component["purl"] == f"pkg:cargo/{name}@{version}"
        hashes = {h["alg"]: h["content"] for h in component["hashes"]}
        assert hashes == {"SHA-256": lock[(name, version)]}, name


def test_every_crate_has_its_declared_licence(sbom, shipped):
    for key, component in components(sbom).items():
        declared = shipped[key]
        assert declared, f"{key[0]} declares no licence"
        assert normalised(licence_of(component)) == normalised(declared), key
