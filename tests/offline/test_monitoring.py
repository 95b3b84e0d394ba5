"""The metrics port in the deployment: on the pod, announced for scraping, reachable
only from the monitoring namespace, never in the public Service; and the opt-in
kustomize component with the Prometheus Operator's ServiceMonitor.

Run by scripts/checks/20-deploy.sh.
"""

import os
import re

import pytest

from deploy_helpers import MANIFESTS, NAMESPACE, ROOT, container, objects, one, render, rendered

APP_LABELS = {"app.kubernetes.io/name": "employee-db"}
COMPONENT = ROOT / "k8s-components" / "monitoring"
OVERLAYS = ROOT / "k8s-overlays"
SCRAPER_NAMESPACE_LABEL = {"employee-db.io/scrape-metrics": "true"}


def app_container() -> dict:
    return container(one("Deployment", "employee-db"))


def metrics_port() -> dict:
    (port,) = [p for p in app_container()["ports"] if p["name"] == "metrics"]
    return port


def test_the_pods_metrics_port_is_the_apps_default():
    config = (ROOT / "src" / "config.rs").read_text()
    default = re.search(r'Number::new\("METRICS_PORT", (\d+),', config)
    assert default, "METRICS_PORT's default in src/config.rs"
    assert metrics_port() == {"name": "metrics", "containerPort": int(default.group(1)), "protocol": "TCP"}
    assert "METRICS_PORT" not in (MANIFESTS / "app-config.env").read_text(), "the default is the pod's port"


def test_pods_are_annotated_for_prometheus_discovery():
    annotations = one("Deployment", "employee-db")["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/port"] == str(metrics_port()["containerPort"])
    assert annotations["prometheus.io/path"] == "/metrics"


def public_ports(objects_) -> list:
    return [
        port
        for o in objects_
        if o["kind"] == "Service" and o["metadata"]["name"] == "employee-db"
        for port in o["spec"]["ports"]
    ]


@pytest.mark.parametrize("overlay", [None, "alb-https", "alb-https-sign-in", "monitoring"])
def test_the_public_service_never_carries_the_metrics_port(overlay):
    objects_ = rendered() if overlay is None else render(OVERLAYS / overlay)
    ports = public_ports(objects_)
    assert ports, "the public Service"
    for port in ports:
        assert port["targetPort"] not in ("metrics", metrics_port()["containerPort"]), port
        assert port["port"] != metrics_port()["containerPort"], port


def reaches_metrics(rule: dict) -> bool:
    """Whether an ingress rule admits traffic to the metrics port (no ports: every port)."""
    ports = rule.get("ports")
    if not ports:
        return True
    return any(p.get("port") in ("metrics", metrics_port()["containerPort"]) for p in ports)


def app_policies() -> list[dict]:
    return [
        p
        for p in objects("NetworkPolicy")
        if all(APP_LABELS.get(k) == v for k, v in p["spec"]["podSelector"].get("matchLabels", {}).items())
    ]


def test_only_the_labelled_monitoring_namespace_reaches_the_metrics_port():
    admitting = [rule for p in app_policies() for rule in p["spec"].get("ingress", []) if reaches_metrics(rule)]
    assert admitting, "some rule must let the scraper in"
    for rule in admitting:
        assert rule.get("from"), f"a rule without `from` opens the metrics port to everyone: {rule}"
        for peer in rule["from"]:
            assert peer == {"namespaceSelector": {"matchLabels": SCRAPER_NAMESPACE_LABEL}}, peer
    policy = one("NetworkPolicy", "employee-db-metrics")
    assert policy["spec"]["ingress"][0]["ports"] == [{"protocol": "TCP", "port": "metrics"}]


def test_the_public_rule_admits_port_81_only():
    public = one("NetworkPolicy", "employee-db-ingress")
    assert [rule["ports"] for rule in public["spec"]["ingress"]] == [[{"protocol": "TCP", "port": 81}]]


def test_the_monitoring_overlay_is_the_base_plus_the_component():
    base = sorted((o["kind"], o["metadata"]["name"]) for o in rendered())
    with_monitoring = render(OVERLAYS / "monitoring")
    kinds = sorted((o["kind"], o["metadata"]["name"]) for o in with_monitoring)
    assert kinds == sorted(base + [("Service", "employee-db-metrics"), ("ServiceMonitor", "employee-db")])


def test_the_component_adds_to_any_overlay(tmp_path):
    # kustomize takes relative paths only.
    def relative(path):
        return os.path.relpath(path, tmp_path)

    (tmp_path / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
        f"resources:\n  - {relative(OVERLAYS / 'alb-https')}\ncomponents:\n  - {relative(COMPONENT)}\n"
    )
    kinds = {(o["kind"], o["metadata"]["name"]) for o in render(tmp_path)}
    assert {("Ingress", "employee-db"), ("ServiceMonitor", "employee-db")} <= kinds


def test_the_service_monitor_scrapes_the_metrics_service_only():
    objects_ = render(OVERLAYS / "monitoring")
    (monitor,) = [o for o in objects_ if o["kind"] == "ServiceMonitor"]
    services = [o for o in objects_ if o["kind"] == "Service"]
    selector = monitor["spec"]["selector"]["matchLabels"]
    selected = [s for s in services if all(s["metadata"]["labels"].get(k) == v for k, v in selector.items())]
    assert [s["metadata"]["name"] for s in selected] == ["employee-db-metrics"]
    (service,) = selected
    assert service["spec"]["type"] == "ClusterIP"
    assert service["spec"]["selector"] == APP_LABELS
    [port] = service["spec"]["ports"]
    assert port["targetPort"] == "metrics"
    [endpoint] = monitor["spec"]["endpoints"]
    assert endpoint["port"] == port["name"] and endpoint["path"] == "/metrics"
    for o in (monitor, service):
        assert o["metadata"]["namespace"] == NAMESPACE


def test_the_image_build_names_the_commit_for_build_info():
    """build_info's git_sha: the workflow passes the commit, the Dockerfile hands it to
    cargo after the dependency layer, and the code reads it at compile time."""
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "\nARG GIT_SHA\n" in dockerfile
    assert dockerfile.index("ARG GIT_SHA") > dockerfile.index("COPY src ./src")
    workflow = (ROOT / ".github" / "workflows" / "ci.yml").read_text()
    assert "build-args: GIT_SHA=${{ github.sha }}" in workflow
    assert 'option_env!("GIT_SHA")' in (ROOT / "src" / "metrics" / "mod.rs").read_text()
