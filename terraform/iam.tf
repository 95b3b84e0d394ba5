################################################################################
# The app: EKS Pod Identity role for clo835/clo835-sa, read-only on the bucket
################################################################################

module "app_pod_identity" {
  source  = "terraform-aws-modules/eks-pod-identity/aws"
  version = "2.8.1"

  name        = "${var.name}-app"
  description = "employee-db pods (${local.app_namespace}/${local.app_service_account}): read background images"

  attach_custom_policy = true
  policy_statements = [
    {
      sid       = "ReadBackgroundImages"
      effect    = "Allow"
      actions   = ["s3:GetObject"]
      resources = ["${module.backgrounds_bucket.s3_bucket_arn}/*"]
    },
  ]

  associations = {
    app = {
      cluster_name    = module.eks.cluster_name
      namespace       = local.app_namespace
      service_account = local.app_service_account
    }
  }
}

################################################################################
# GitHub Actions: OIDC provider and the CI role (no static keys anywhere)
################################################################################

module "github_oidc_provider" {
  source  = "terraform-aws-modules/iam/aws//modules/iam-oidc-provider"
  version = "6.2.3"
  count   = var.create_github_oidc_provider ? 1 : 0

  url = "https://token.actions.githubusercontent.com"
}

locals {
  # Exact OIDC subjects (no wildcards): pushes to main of the one repository,
  # and, only when CI deployment is on, jobs in the deploy environment (whose
  # tokens carry the environment instead of the branch). github_repository is
  # either owner/name (the subject of older repositories) or
  # owner@OWNER_ID/name@REPO_ID (GitHub's immutable subject: repositories
  # created, renamed or transferred since mid-2026, or opted in); the token
  # carries exactly one of the two, and the trust names exactly that one.
  ci_oidc_subjects = {
    push   = "repo:${var.github_repository}:ref:refs/heads/main"
    deploy = "repo:${var.github_repository}:environment:${var.github_deploy_environment}"
  }
  github_repository_name = replace(var.github_repository, "/@[0-9]+/", "")
}

locals {
  # What the workflow's image and publish jobs do in the one repository, and
  # nothing more. Everything they push is blobs plus manifests: the per-architecture
  # images (by digest), the tagged multi-arch index with BuildKit's provenance and
  # SBOM manifests inside it, and cosign's signature and CycloneDX attestation, which
  # are OCI 1.1 referrer manifests of the index (no tags, so immutable tags never
  # block them). Reading back covers `imagetools inspect`, `cosign verify` and the
  # referrers API (ECR authorises listing referrers with BatchGetImage);
  # DescribeImages answers "is this tag already pushed?" on a re-run. No delete,
  # tag-mutability, scan or policy action: CI cannot remove or rewrite an image or
  # its signature.
  ci_push_permissions = {
    EcrLogin = {
      actions   = ["ecr:GetAuthorizationToken"]
      resources = ["*"]
    }
    EcrPushThisRepository = {
      actions = [
        # Blobs: image layers, attestation, signature and SBOM payloads.
        "ecr:BatchCheckLayerAvailability",
        "ecr:InitiateLayerUpload",
        "ecr:UploadLayerPart",
        "ecr:CompleteLayerUpload",
        # Manifests: images, the index, the referrers (signature, attestation).
        "ecr:PutImage",
        # Reading them back.
        "ecr:BatchGetImage",
        "ecr:GetDownloadUrlForLayer",
        "ecr:DescribeImages",
      ]
      resources = [module.ecr.repository_arn]
    }
  }

  ci_deploy_permissions = {
    EksDescribeThisCluster = {
      actions   = ["eks:DescribeCluster"]
      resources = [module.eks.cluster_arn]
    }
  }
}

module "ci_role" {
  source  = "terraform-aws-modules/iam/aws//modules/iam-role"
  version = "6.2.3"

  name        = "${var.name}-github-ci"
  description = "GitHub Actions of ${local.github_repository_name}: push images to ${var.ecr_repository_name}"

  enable_github_oidc = true
  oidc_subjects      = var.enable_ci_deploy ? values(local.ci_oidc_subjects) : [local.ci_oidc_subjects.push]

  create_inline_policy      = true
  inline_policy_permissions = merge(local.ci_push_permissions, var.enable_ci_deploy ? local.ci_deploy_permissions : {})

  depends_on = [module.github_oidc_provider]
}
