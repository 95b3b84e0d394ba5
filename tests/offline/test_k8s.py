"""What k8s-manifests/ must keep promising, checked on the rendered kustomization.

A later edit that moves the app out of its namespace, breaks the 80 -> 81 mapping,
points a probe elsewhere, loosens the security context, commits a credential or widens
the RBAC fails here. Run by scripts/checks/20-deploy.sh.
"""

import json
import shutil

import pytest
import yaml

from deploy_helpers import (
    MANIFESTS,
    NAMESPACE,
    container,
    env,
    load_yaml_documents,
    named_port,
    objects,
    one,
    pod_spec,
    render,
    rendered,
)

CLUSTER_SCOPED = {"Namespace", "StorageClass", "ClusterRole", "ClusterRoleBinding"}
APP_LABELS = {"app.kubernetes.io/name": "employee-db"}
MYSQL_LABELS = {"app.kubernetes.io/name": "mysql"}
COLOURS = {"red", "green", "blue", "blue2", "pink", "darkblue", "lime"}


def app():
    return one("Deployment", "employee-db")


def mysql():
    return one("StatefulSet", "mysql")


def workloads():
    return [app(), mysql()]


def selects(selector: dict, labels: dict) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


# --- Namespace -----------------------------------------------------------------------


def test_everything_namespaced_lives_in_clo835():
    for o in rendered():
        if o["kind"] in CLUSTER_SCOPED:
            assert "namespace" not in o["metadata"], o["metadata"]["name"]
        else:
            assert o["metadata"].get("namespace") == NAMESPACE, f"{o['kind']} {o['metadata']['name']}"
    assert one("Namespace")["metadata"]["name"] == NAMESPACE


def test_namespace_enforces_the_restricted_pod_security_standard():
    labels = one("Namespace")["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"


def test_the_set_is_complete():
    kinds = {o["kind"] for o in rendered()}
    assert {
        "Namespace", "ConfigMap", "Service", "Deployment", "StatefulSet", "StorageClass",
        "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "HorizontalPodAutoscaler",
        "PodDisruptionBudget", "NetworkPolicy", "CronJob",
    } <= kinds


# --- Service and ports ---------------------------------------------------------------


def test_load_balancer_maps_port_80_to_the_apps_port_81():
    service = one("Service", "employee-db")
    assert service["spec"]["type"] == "LoadBalancer"
    annotations = service["metadata"]["annotations"]
    # The AWS Load Balancer Controller's NLB (Terraform installs the controller).
    assert annotations["service.beta.kubernetes.io/aws-load-balancer-type"] == "external"
    assert annotations["service.beta.kubernetes.io/aws-load-balancer-nlb-target-type"] == "ip"
    assert annotations["service.beta.kubernetes.io/aws-load-balancer-scheme"] == "internet-facing"
    [port] = service["spec"]["ports"]
    assert port["port"] == 80
    assert named_port(container(app()), port["targetPort"]) == 81
    assert selects(service["spec"]["selector"], pod_labels(app()))


def test_app_listens_on_81():
    ports = container(app())["ports"]
    assert [p["containerPort"] for p in ports if p["name"] == "http"] == [81]


def pod_labels(workload):
    return workload["spec"]["template"]["metadata"]["labels"]


def test_selectors_match_their_pods():
    for workload in workloads():
        assert selects(workload["spec"]["selector"]["matchLabels"], pod_labels(workload))
    assert selects(one("Service", "mysql")["spec"]["selector"], pod_labels(mysql()))


# --- The app's Deployment ------------------------------------------------------------


def test_app_runs_at_least_two_replicas_spread_over_zones():
    deployment = app()
    assert one("HorizontalPodAutoscaler", "employee-db")["spec"]["minReplicas"] >= 2
    keys = {c["topologyKey"] for c in pod_spec(deployment)["topologySpreadConstraints"]}
    assert "topology.kubernetes.io/zone" in keys
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0


def test_probes_use_healthz_for_liveness_and_readyz_for_readiness():
    c = container(app())
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    for probe in ("livenessProbe", "readinessProbe"):
        assert named_port(c, c[probe]["httpGet"]["port"]) == 81


def test_app_runs_as_clo835_sa():
    assert pod_spec(app())["serviceAccountName"] == "clo835-sa"
    one("ServiceAccount", "clo835-sa")


def test_app_binds_81_as_non_root_through_the_pod_sysctl():
    sysctls = pod_spec(app())["securityContext"]["sysctls"]
    assert {"name": "net.ipv4.ip_unprivileged_port_start", "value": "0"} in sysctls
    assert "NET_BIND_SERVICE" not in str(container(app())["securityContext"])


def test_app_resources_are_sized():
    resources = container(app())["resources"]
    assert resources["requests"] == {"cpu": "100m", "memory": "64Mi"}
    assert resources["limits"]["memory"] == "128Mi"


def test_image_is_set_once_through_kustomize_images():
    kustomization = yaml.safe_load((MANIFESTS / "kustomization.yaml").read_text())
    [image] = kustomization["images"]
    assert image["name"] == "employee-db"
    assert container(app())["image"] == f"{image['newName']}:{image['newTag']}"
    raw = next(d for d in load_yaml_documents(MANIFESTS / "app.yaml") if d["kind"] == "Deployment")
    assert container(raw)["image"] == "employee-db", "the manifest names the image; kustomize sets the rest"


def test_ci_changes_the_image_with_one_edit(tmp_path):
    """What `kustomize edit set image employee-db=<ecr>:<sha>` does, on a copy."""
    copy = tmp_path / "k8s-manifests"
    shutil.copytree(MANIFESTS, copy)
    kustomization = yaml.safe_load((copy / "kustomization.yaml").read_text())
    kustomization["images"] = [
        {"name": "employee-db", "newName": "123456789012.dkr.ecr.us-east-1.amazonaws.com/employee-db",
         "newTag": "0123abcd"}
    ]
    (copy / "kustomization.yaml").write_text(yaml.safe_dump(kustomization))
    deployment = next(o for o in render(copy) if o["kind"] == "Deployment")
    assert container(deployment)["image"] == "123456789012.dkr.ecr.us-east-1.amazonaws.com/employee-db:0123abcd"


# --- Security context on every pod ---------------------------------------------------


@pytest.mark.parametrize("name", ["employee-db", "mysql"])
def test_pods_meet_the_restricted_profile(name):
    workload = app() if name == "employee-db" else mysql()
    spec = pod_spec(workload)
    pod = spec["securityContext"]
    assert pod["runAsNonRoot"] is True
    assert pod["runAsUser"] >= 10000
    assert pod["seccompProfile"]["type"] == "RuntimeDefault"
    for flag in ("hostNetwork", "hostPID", "hostIPC"):
        assert not spec.get(flag)
    for volume in spec.get("volumes", []):
        assert {"hostPath"}.isdisjoint(volume), volume["name"]
    for c in spec["containers"] + spec.get("initContainers", []):
        sc = c["securityContext"]
        assert sc["allowPrivilegeEscalation"] is False
        assert sc["readOnlyRootFilesystem"] is True
        assert sc["capabilities"]["drop"] == ["ALL"]
        assert "add" not in sc["capabilities"]
        assert not sc.get("privileged")
        assert c["resources"]["requests"] and c["resources"]["limits"]["memory"]
        assert c["livenessProbe"] and c["readinessProbe"]


def test_app_writes_only_to_emptydirs():
    spec = pod_spec(app())
    empty_dirs = {v["name"] for v in spec["volumes"] if "emptyDir" in v}
    mounts = {m["mountPath"]: m["name"] for m in container(app())["volumeMounts"]}
    assert mounts["/tmp"] in empty_dirs
    cache_dir = env(container(app()))["BACKGROUND_CACHE_DIR"]["value"]
    assert mounts[cache_dir] in empty_dirs


# --- Configuration --------------------------------------------------------------------


def config_map():
    return one("ConfigMap", "employee-db-config")


def test_config_map_is_generated_with_a_hash_suffix():
    name = config_map()["metadata"]["name"]
    assert name.startswith("employee-db-config-") and len(name) > len("employee-db-config-")


def test_config_map_carries_the_original_variables():
    data = config_map()["data"]
    assert {
        "BACKGROUND_IMAGE_URL", "GROUP_NAME", "GROUP_SLOGAN", "APP_COLOR",
        "DBHOST", "DBPORT", "DATABASE", "AWS_REGION",
    } <= set(data)
    assert data["APP_COLOR"] in COLOURS
    assert data["DBHOST"] == one("Service", "mysql")["metadata"]["name"]
    assert int(data["DBPORT"]) == one("Service", "mysql")["spec"]["ports"][0]["port"] == 3306
    assert data["BACKGROUND_IMAGE_URL"] == "" or data["BACKGROUND_IMAGE_URL"].startswith("s3://")


def test_app_reads_the_config_map_as_environment_and_as_followed_files():
    c = container(app())
    name = config_map()["metadata"]["name"]
    assert {"configMapRef": {"name": name}} in c["envFrom"]
    volume = next(v for v in pod_spec(app())["volumes"] if v.get("configMap", {}).get("name") == name)
    mount = next(m for m in c["volumeMounts"] if m["name"] == volume["name"])
    assert "subPath" not in mount, "a subPath mount is never refreshed by the kubelet"
    assert env(c)["BACKGROUND_IMAGE_URL_FILE"]["value"] == f"{mount['mountPath']}/BACKGROUND_IMAGE_URL"


# --- Credentials ----------------------------------------------------------------------


def test_no_secret_is_rendered():
    assert objects("Secret") == []


def test_no_committed_secret_carries_a_value():
    for path in sorted(MANIFESTS.rglob("*.y*ml")):
        for doc in load_yaml_documents(path):
            if doc.get("kind") == "Secret":
                values = {**doc.get("data", {}), **doc.get("stringData", {})}
                assert all(v in ("", "employee_app") for v in values.values()), f"{path.name}: {doc['metadata']}"


def secret_refs(workload):
    spec = pod_spec(workload)
    names = {v["secret"]["secretName"] for v in spec.get("volumes", []) if "secret" in v}
    for c in spec["containers"]:
        for e in c.get("env", []):
            ref = e.get("valueFrom", {}).get("secretKeyRef")
            if ref:
                names.add(ref["name"])
    return names


def test_root_password_is_separate_from_the_app_user():
    assert secret_refs(mysql()) == {"mysql-root", "mysql-app"}
    assert secret_refs(app()) == {"mysql-app"}, "the app must never see MySQL's root password"
    app_env = env(container(app()))
    assert app_env["DBUSER"]["valueFrom"]["secretKeyRef"] == {"name": "mysql-app", "key": "username"}
    assert app_env["DBPWD"]["valueFrom"]["secretKeyRef"] == {"name": "mysql-app", "key": "password"}


def test_secret_template_names_what_the_manifests_use():
    template = {d["metadata"]["name"]: d for d in load_yaml_documents(MANIFESTS / "secrets.example.yaml")}
    assert set(template) == {"mysql-root", "mysql-app"}
    assert set(template["mysql-root"]["stringData"]) == {"password"}
    assert set(template["mysql-app"]["stringData"]) == {"username", "password"}
    kustomization = yaml.safe_load((MANIFESTS / "kustomization.yaml").read_text())
    assert "secrets.example.yaml" not in kustomization["resources"]


def test_no_aws_keys_anywhere():
    text = "\n".join(p.read_text() for p in MANIFESTS.rglob("*") if p.is_file())
    assert "AWS_ACCESS_KEY_ID" not in text and "AWS_SECRET_ACCESS_KEY" not in text


# --- MySQL -----------------------------------------------------------------------------


def test_mysql_is_a_statefulset_on_an_encrypted_gp3_claim():
    statefulset = mysql()
    assert container(statefulset)["image"].startswith("mysql:8.")
    [claim] = statefulset["spec"]["volumeClaimTemplates"]
    storage_class = one("StorageClass", claim["spec"]["storageClassName"])
    assert storage_class["provisioner"] == "ebs.csi.aws.com"
    assert storage_class["parameters"]["type"] == "gp3"
    assert storage_class["parameters"]["encrypted"] == "true"
    assert storage_class["volumeBindingMode"] == "WaitForFirstConsumer"
    data_mount = next(m for m in container(statefulset)["volumeMounts"] if m["name"] == claim["metadata"]["name"])
    assert data_mount["mountPath"] == "/var/lib/mysql"


def test_mysql_has_a_headless_service_and_probes():
    service = one("Service", "mysql")
    assert service["spec"]["clusterIP"] == "None"
    assert mysql()["spec"]["serviceName"] == service["metadata"]["name"]
    c = container(mysql())
    assert c["livenessProbe"] and c["readinessProbe"]


def test_mysql_creates_the_app_user_on_the_employees_database_only():
    mysql_env = env(container(mysql()))
    assert mysql_env["MYSQL_DATABASE"]["value"] == config_map()["data"]["DATABASE"] == "employees"
    assert "MYSQL_USER_FILE" in mysql_env and "MYSQL_PASSWORD_FILE" in mysql_env


def test_a_setting_change_rolls_the_app_but_not_mysql(tmp_path):
    copy = tmp_path / "k8s-manifests"
    shutil.copytree(MANIFESTS, copy)
    settings = copy / "app-config.env"
    settings.write_text(settings.read_text().replace("GROUP_SLOGAN=", "GROUP_SLOGAN=Changed: "))
    changed = render(copy)
    new_config_map = next(o for o in changed if o["kind"] == "ConfigMap")
    new_app = next(o for o in changed if o["kind"] == "Deployment")
    new_mysql = next(o for o in changed if o["kind"] == "StatefulSet")
    assert new_config_map["metadata"]["name"] != config_map()["metadata"]["name"]
    assert new_app["spec"]["template"] != app()["spec"]["template"], "the new ConfigMap name rolls the app"
    assert new_mysql == mysql(), "MySQL must not restart for an application setting"


# --- RBAC ------------------------------------------------------------------------------


def test_service_account_may_only_get_and_list_namespaces():
    role = one("ClusterRole", "clo835-namespace-reader")
    assert role["rules"] == [{"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get", "list"]}]
    binding = one("ClusterRoleBinding", "clo835-namespace-reader")
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "clo835-sa", "namespace": NAMESPACE}]
    assert objects("Role") == [] and objects("RoleBinding") == []
    assert len(objects("ClusterRole")) == 1 and len(objects("ClusterRoleBinding")) == 1


def test_no_role_touches_secrets():
    for role in objects("ClusterRole") + objects("Role"):
        for rule in role["rules"]:
            assert "secrets" not in rule["resources"] and "*" not in rule["resources"]
            assert "*" not in rule["verbs"]


# --- Availability and network --------------------------------------------------------


def test_autoscaler_and_disruption_budget_cover_the_app():
    hpa = one("HorizontalPodAutoscaler", "employee-db")
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "employee-db"}
    assert hpa["spec"]["minReplicas"] >= 2
    assert hpa["spec"]["metrics"][0]["resource"]["name"] == "cpu"
    pdb = one("PodDisruptionBudget", "employee-db")
    assert selects(pdb["spec"]["selector"]["matchLabels"], pod_labels(app()))


def test_network_policies_deny_by_default():
    deny = one("NetworkPolicy", "default-deny-ingress")
    assert deny["spec"]["podSelector"] == {}
    assert deny["spec"]["policyTypes"] == ["Ingress"]
    assert "ingress" not in deny["spec"]


def test_app_takes_http_on_81():
    policy = next(p for p in objects("NetworkPolicy") if p["spec"]["podSelector"].get("matchLabels") == APP_LABELS)
    assert [rule["ports"] for rule in policy["spec"]["ingress"]] == [[{"protocol": "TCP", "port": 81}]]


def test_mysql_is_reachable_only_from_the_app_and_the_backup_jobs_on_3306():
    policies = [p for p in objects("NetworkPolicy") if p["spec"]["podSelector"].get("matchLabels") == MYSQL_LABELS]
    assert len(policies) == 1
    [rule] = policies[0]["spec"]["ingress"]
    assert rule["ports"] == [{"protocol": "TCP", "port": 3306}]
    app_source, backup_source = rule["from"]
    for source in (app_source, backup_source):
        assert set(source) == {"podSelector"}, "no namespaceSelector or ipBlock"
        assert not selects(source["podSelector"]["matchLabels"], pod_labels(mysql()))
    assert selects(app_source["podSelector"]["matchLabels"], pod_labels(app()))
    backup_pod = one("CronJob", "employee-db-backup")["spec"]["jobTemplate"]["spec"]["template"]
    assert selects(backup_source["podSelector"]["matchLabels"], backup_pod["metadata"]["labels"])


# --- Scaling and zero-downtime rollouts -------------------------------------------------


def test_the_autoscaler_alone_sets_the_replica_count():
    """A `replicas:` beside the HPA would reset the scale on every `kubectl apply -k`."""
    assert "replicas" not in app()["spec"]
    raw = next(d for d in load_yaml_documents(MANIFESTS / "app.yaml") if d["kind"] == "Deployment")
    assert "replicas" not in raw["spec"]


def shutdown():
    """(delay, drain) in seconds, from the ConfigMap the app reads."""
    data = config_map()["data"]
    return int(data["SHUTDOWN_DELAY_SECS"]), int(data["SHUTDOWN_DRAIN_SECS"])


def test_shutdown_settings_leave_the_load_balancer_time_to_let_go():
    delay, drain = shutdown()
    assert delay >= 10, "the endpoint update, the controller and the load balancer each take seconds"
    assert drain > 0


def test_the_kubelet_waits_longer_than_the_whole_shutdown():
    delay, drain = shutdown()
    grace = pod_spec(app())["terminationGracePeriodSeconds"]
    assert grace > delay + drain, "the kubelet would kill requests still draining"
    assert grace <= delay + drain + 10, "but not much longer: a stuck pod holds up a rollout"


def test_no_pre_stop_hook_the_app_delays_its_own_shutdown():
    """The image has no shell; the app's SHUTDOWN_DELAY_SECS does what a `sleep` preStop
    would, and answers /readyz with 503 meanwhile (app.yaml says why)."""
    c = container(app())
    assert "lifecycle" not in c
    assert "No preStop hook" in (MANIFESTS / "app.yaml").read_text()


def test_readiness_probe_goes_unready_within_the_delay():
    delay, _ = shutdown()
    probe = container(app())["readinessProbe"]
    assert probe["periodSeconds"] * probe["failureThreshold"] <= delay
    assert probe["timeoutSeconds"] < probe["periodSeconds"]


def test_rolling_update_adds_a_pod_before_removing_one():
    rolling = app()["spec"]["strategy"]["rollingUpdate"]
    assert rolling == {"maxSurge": 1, "maxUnavailable": 0}
    assert one("PodDisruptionBudget", "employee-db")["spec"]["minAvailable"] == 1


def test_pods_are_ready_only_once_the_load_balancer_sends_them_traffic():
    labels = one("Namespace")["metadata"]["labels"]
    assert labels["elbv2.k8s.aws/pod-readiness-gate-inject"] == "enabled"


def deregistration_delay(attributes: str) -> int:
    values = dict(pair.split("=", 1) for pair in attributes.split(","))
    return int(values["deregistration_delay.timeout_seconds"])


def test_nlb_health_checks_and_deregistration_follow_the_shutdown_settings():
    delay, drain = shutdown()
    a = one("Service", "employee-db")["metadata"]["annotations"]
    prefix = "service.beta.kubernetes.io/aws-load-balancer-"
    assert a[prefix + "healthcheck-protocol"] == "http"
    assert a[prefix + "healthcheck-path"] == container(app())["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert a[prefix + "healthcheck-port"] == "traffic-port"
    interval = int(a[prefix + "healthcheck-interval"])
    assert interval * int(a[prefix + "healthcheck-unhealthy-threshold"]) <= delay
    assert int(a[prefix + "healthcheck-timeout"]) < interval
    dereg = deregistration_delay(a[prefix + "target-group-attributes"])
    assert dereg == delay + drain, "the load balancer lets in-flight requests finish as long as the pod serves them"
    assert dereg < pod_spec(app())["terminationGracePeriodSeconds"]


# --- The alb-https overlays -------------------------------------------------------------

OVERLAYS = MANIFESTS.parent / "k8s-overlays"


def overlay(name: str) -> list[dict]:
    return render(OVERLAYS / name)


def of(objects_: list[dict], kind: str, name: str) -> dict:
    (found,) = [o for o in objects_ if o["kind"] == kind and o["metadata"]["name"] == name]
    return found


def settings() -> dict:
    lines = (OVERLAYS / "alb-https" / "settings.env").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


@pytest.mark.parametrize("name", ["alb-https", "alb-https-sign-in"])
def test_overlay_is_the_base_plus_an_ingress(name):
    rendered_overlay = overlay(name)
    base_kinds = sorted((o["kind"], o["metadata"]["name"]) for o in rendered())
    kinds = sorted((o["kind"], o["metadata"]["name"]) for o in rendered_overlay)
    assert kinds == sorted(base_kinds + [("Ingress", "employee-db")])
    assert not [o for o in rendered_overlay if o["metadata"]["name"] == "alb-https-settings"], "local-config only"
    ingress = of(rendered_overlay, "Ingress", "employee-db")
    assert ingress["metadata"]["namespace"] == NAMESPACE


def test_overlay_turns_the_service_into_the_ingress_backend_without_an_nlb():
    service = of(overlay("alb-https"), "Service", "employee-db")
    assert service["spec"]["type"] == "ClusterIP"
    assert "annotations" not in service["metadata"], "no NLB settings on an internal Service"
    ingress = of(overlay("alb-https"), "Ingress", "employee-db")
    [rule] = ingress["spec"]["rules"]
    [path] = rule["http"]["paths"]
    assert path["path"] == "/" and path["pathType"] == "Prefix"
    assert path["backend"]["service"] == {"name": "employee-db", "port": {"name": service["spec"]["ports"][0]["name"]}}


def test_ingress_is_an_internet_facing_alb_on_80_and_443_that_redirects_to_https():
    ingress = of(overlay("alb-https"), "Ingress", "employee-db")
    a = ingress["metadata"]["annotations"]
    assert ingress["spec"]["ingressClassName"] == "alb"
    assert a["alb.ingress.kubernetes.io/scheme"] == "internet-facing"
    assert a["alb.ingress.kubernetes.io/target-type"] == "ip"
    assert json.loads(a["alb.ingress.kubernetes.io/listen-ports"]) == [{"HTTP": 80}, {"HTTPS": 443}]
    assert a["alb.ingress.kubernetes.io/ssl-redirect"] == "443"
    assert a["alb.ingress.kubernetes.io/ssl-policy"].startswith("ELBSecurityPolicy-TLS13-")


def test_ingress_takes_the_domain_and_certificate_from_terraforms_settings():
    ingress = of(overlay("alb-https"), "Ingress", "employee-db")
    values = settings()
    assert set(values) == {"DOMAIN_NAME", "HOSTED_ZONE_ID", "CERTIFICATE_ARN", "SIGN_IN_COGNITO"}
    assert ingress["spec"]["rules"][0]["host"] == values["DOMAIN_NAME"]
    assert ingress["metadata"]["annotations"]["alb.ingress.kubernetes.io/certificate-arn"] == values["CERTIFICATE_ARN"]
    assert "set-by-kustomize" not in yaml.safe_dump(ingress)


def test_alb_health_checks_and_deregistration_match_the_nlbs():
    delay, drain = shutdown()
    a = of(overlay("alb-https"), "Ingress", "employee-db")["metadata"]["annotations"]
    nlb = one("Service", "employee-db")["metadata"]["annotations"]
    n = "service.beta.kubernetes.io/aws-load-balancer-"
    p = "alb.ingress.kubernetes.io/"
    assert a[p + "healthcheck-path"] == nlb[n + "healthcheck-path"] == "/readyz"
    assert a[p + "success-codes"] == nlb[n + "healthcheck-success-codes"]
    assert a[p + "healthcheck-interval-seconds"] == nlb[n + "healthcheck-interval"]
    assert a[p + "healthcheck-timeout-seconds"] == nlb[n + "healthcheck-timeout"]
    assert a[p + "healthy-threshold-count"] == nlb[n + "healthcheck-healthy-threshold"]
    assert a[p + "unhealthy-threshold-count"] == nlb[n + "healthcheck-unhealthy-threshold"]
    assert deregistration_delay(a[p + "target-group-attributes"]) == delay + drain


def test_only_the_sign_in_overlay_authenticates_with_cognito():
    plain = of(overlay("alb-https"), "Ingress", "employee-db")["metadata"]["annotations"]
    assert not [k for k in plain if "auth-" in k]
    signed = of(overlay("alb-https-sign-in"), "Ingress", "employee-db")["metadata"]["annotations"]
    p = "alb.ingress.kubernetes.io/"
    assert signed[p + "auth-type"] == "cognito"
    assert signed[p + "auth-on-unauthenticated-request"] == "authenticate"
    assert "openid" in signed[p + "auth-scope"].split()
    assert signed[p + "auth-idp-cognito"] == settings()["SIGN_IN_COGNITO"]
    assert {k: v for k, v in signed.items() if "auth-" not in k} == plain


def test_sign_in_overlay_carries_terraforms_user_pool(tmp_path):
    """What scripts/configure-alb-https.sh writes for a sign-in setup, rendered."""
    copy = tmp_path / "k8s-overlays"
    shutil.copytree(OVERLAYS, copy)
    shutil.copytree(MANIFESTS, tmp_path / "k8s-manifests")
    pool = {"userPoolARN": "arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_Abc",
            "userPoolClientID": "client", "userPoolDomain": "clo835-123456789012"}
    env = copy / "alb-https" / "settings.env"
    env.write_text(env.read_text().replace("SIGN_IN_COGNITO=", "SIGN_IN_COGNITO=" + json.dumps(pool)))
    ingress = next(o for o in render(copy / "alb-https-sign-in") if o["kind"] == "Ingress")
    assert json.loads(ingress["metadata"]["annotations"]["alb.ingress.kubernetes.io/auth-idp-cognito"]) == pool


# --- The rds overlay (MySQL on Amazon RDS) ----------------------------------------------

RDS_OVERLAY = OVERLAYS / "rds"


def rds_settings() -> dict:
    lines = (RDS_OVERLAY / "settings.env").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


def test_rds_overlay_is_the_base_without_mysql_plus_the_ca_bundle():
    rds = overlay("rds")
    def kinds_and_names(objects_):
        # The settings ConfigMap's hash suffix changes with the values merged into it.
        def name(o):
            n = o["metadata"]["name"]
            return "employee-db-config" if n.startswith("employee-db-config-") else n
        return {(o["kind"], name(o)) for o in objects_}

    base = kinds_and_names(rendered())
    kept = kinds_and_names(rds)
    gone = {("StatefulSet", "mysql"), ("Service", "mysql"), ("ServiceAccount", "mysql"),
            ("StorageClass", "clo835-gp3"), ("NetworkPolicy", "mysql-from-employee-db")}
    assert gone <= base
    assert kept == base - gone | {("ConfigMap", "rds-ca-bundle")}
    assert of(rds, "ConfigMap", "rds-ca-bundle")["metadata"]["namespace"] == NAMESPACE
    assert not [o for o in rds if "mysql" in json.dumps(o.get("metadata", {}).get("labels", {}))]


def test_rds_overlay_has_no_database_secret_at_all():
    rds = overlay("rds")
    assert not [o for o in rds if o["kind"] == "Secret"]
    deployment = of(rds, "Deployment", "employee-db")
    assert secret_refs(deployment) == set()
    names = {e["name"] for e in container(deployment).get("env", [])}
    assert not {"DBUSER", "DBPWD"} & names, "DBUSER comes from the ConfigMap, DBPWD from nowhere"


def test_rds_overlay_gives_the_backup_the_apps_login():
    """The nightly backup, and the restore Jobs made from it, use no Secret and the same CA bundle."""
    rds = overlay("rds")
    deployment = of(rds, "Deployment", "employee-db")
    cronjob = of(rds, "CronJob", "employee-db-backup")
    pod = cronjob["spec"]["jobTemplate"]["spec"]["template"]
    (backup,) = pod["spec"]["containers"]
    assert "mysql-app" not in json.dumps(cronjob)
    assert not {"DBUSER", "DBPWD"} & {e["name"] for e in backup.get("env", [])}
    assert backup["envFrom"] == container(deployment)["envFrom"]
    app_mount = next(m for m in container(deployment)["volumeMounts"] if m["name"] == "rds-ca")
    assert [m for m in backup["volumeMounts"] if m["name"] == "rds-ca"] == [app_mount]
    assert pod["spec"]["volumes"] == [v for v in pod_spec(deployment)["volumes"] if v["name"] == "rds-ca"]


def test_rds_overlay_logs_in_with_iam_over_verified_tls_with_the_mounted_bundle():
    rds = overlay("rds")
    (config,) = [o for o in rds if o["kind"] == "ConfigMap" and o["metadata"]["name"].startswith("employee-db-config-")]
    data = config["data"]
    assert data["DB_AUTH"] == "iam"
    assert data["DB_SSL_MODE"] == "verify-identity"
    for name, value in rds_settings().items():
        assert data[name] == value, name
    assert {"DBHOST", "DBPORT", "DBUSER", "AWS_REGION"} <= set(rds_settings())
    deployment = of(rds, "Deployment", "employee-db")
    (mount,) = [m for m in container(deployment)["volumeMounts"] if m["name"] == "rds-ca"]
    assert mount["readOnly"] is True
    (volume,) = [v for v in pod_spec(deployment)["volumes"] if v["name"] == "rds-ca"]
    bundle = of(rds, "ConfigMap", "rds-ca-bundle")
    assert volume["configMap"]["name"] == "rds-ca-bundle"
    (key,) = bundle["data"]
    assert data["DB_SSL_CA"] == f"{mount['mountPath']}/{key}"


def test_rds_overlay_leaves_egress_open_so_pods_reach_the_database():
    """The base restricts ingress only; an egress policy added later must allow 3306."""
    for policy in [o for o in overlay("rds") if o["kind"] == "NetworkPolicy"]:
        assert policy["spec"]["policyTypes"] == ["Ingress"], policy["metadata"]["name"]


def test_committed_rds_ca_bundle_is_a_placeholder_the_app_refuses():
    """Its contents come from AWS (scripts/configure-rds.sh downloads them); none is invented here."""
    text = (RDS_OVERLAY / "rds-ca.pem").read_text()
    assert "BEGIN CERTIFICATE" not in text
    assert "https://truststore.pki.rds.amazonaws.com/" in text
