"""Shared by the deployment tests: the repository root and the rendered kustomization.

scripts/checks/20-deploy.sh renders k8s-manifests once and passes the file in
RENDERED_MANIFESTS; run on their own, the tests render it with `kubectl kustomize`.
"""

import functools
import os
import pathlib
import subprocess

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
MANIFESTS = ROOT / "k8s-manifests"
NAMESPACE = "clo835"


def render(directory: pathlib.Path = MANIFESTS) -> list[dict]:
    """`kubectl kustomize DIRECTORY`, parsed into a list of objects."""
    out = subprocess.run(
        ["kubectl", "kustomize", str(directory)], check=True, capture_output=True, text=True
    ).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


@functools.cache
def rendered() -> tuple[dict, ...]:
    path = os.environ.get("RENDERED_MANIFESTS")
    if path:
        with open(path) as f:
            return tuple(doc for doc in yaml.safe_load_all(f) if doc)
    return tuple(render())


def objects(kind: str) -> list[dict]:
    return [o for o in rendered() if o["kind"] == kind]


def one(kind: str, name: str | None = None) -> dict:
    """The single object of KIND (named NAME, or whose name starts with it for generated names)."""
    found = [
        o
        for o in objects(kind)
        if name is None or o["metadata"]["name"] == name or o["metadata"]["name"].startswith(name + "-")
    ]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {[o['metadata']['name'] for o in found]}"
    return found[0]


def pod_spec(workload: dict) -> dict:
    return workload["spec"]["template"]["spec"]


def container(workload: dict, name: str | None = None) -> dict:
    containers = pod_spec(workload)["containers"]
    if name is None:
        assert len(containers) == 1
        return containers[0]
    return next(c for c in containers if c["name"] == name)


def named_port(c: dict, port) -> int:
    """Resolves a probe's or Service's port (a number or a container port name)."""
    if isinstance(port, int):
        return port
    return next(p["containerPort"] for p in c["ports"] if p.get("name") == port)


def env(c: dict) -> dict:
    return {e["name"]: e for e in c.get("env", [])}


def load_yaml_documents(path: pathlib.Path) -> list[dict]:
    with path.open() as f:
        return [doc for doc in yaml.safe_load_all(f) if doc]
