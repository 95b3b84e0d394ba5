################################################################################
# Backups: a private bucket, a writer role for the nightly CronJob and a reader
# role for the one-off restore Job (k8s-manifests/backup.yaml, scripts/restore.sh)
################################################################################

# A bucket of its own rather than a prefix of the backgrounds bucket: the app's
# role reads every object there, and a backup holds every employee.
module "backups_bucket" {
  source  = "terraform-aws-modules/s3-bucket/aws"
  version = "5.15.4"

  bucket        = local.backup_bucket_name
  force_destroy = var.force_destroy

  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true

  control_object_ownership = true
  object_ownership         = "BucketOwnerEnforced"

  # The writer may put objects: versioning keeps what it would overwrite.
  versioning = {
    enabled = true
  }

  # SSE-S3: the roles below need no KMS permission.
  server_side_encryption_configuration = {
    rule = {
      apply_server_side_encryption_by_default = {
        sse_algorithm = "AES256"
      }
    }
  }

  attach_deny_insecure_transport_policy = true
  attach_require_latest_tls_policy      = true

  lifecycle_rule = [
    {
      id      = "expire-backups"
      enabled = true
      filter = {
        prefix = local.backup_prefix
      }
      expiration = {
        days = var.backup_retention_days
      }
      # An expired or overwritten backup stays recoverable for a week more.
      noncurrent_version_expiration = {
        noncurrent_days = 7
      }
      # The writer may not abort its own uploads (s3:PutObject only): parts of
      # an upload that never completed are removed here.
      abort_incomplete_multipart_upload_days = 1
    },
    {
      id      = "remove-expired-delete-markers"
      enabled = true
      expiration = {
        expired_object_delete_marker = true
      }
    },
  ]
}

# The nightly backup: it may add objects under the prefix, and nothing else (no
# read, list or delete: a stolen token cannot read or destroy the backups).
# s3:PutObject also covers the multipart upload of a large backup.
module "backup_pod_identity" {
  source  = "terraform-aws-modules/eks-pod-identity/aws"
  version = "2.8.1"

  name        = "${var.name}-backup"
  description = "employee-db nightly backup (${local.app_namespace}/${local.backup_service_account}): write backups"

  attach_custom_policy = true
  policy_statements = [
    {
      sid       = "WriteBackups"
      effect    = "Allow"
      actions   = ["s3:PutObject"]
      resources = ["${module.backups_bucket.s3_bucket_arn}/${local.backup_prefix}*"]
    },
  ]

  associations = {
    backup = {
      cluster_name    = module.eks.cluster_name
      namespace       = local.app_namespace
      service_account = local.backup_service_account
    }
  }
}

# The restore Job: it may read objects under the prefix, and nothing else.
module "restore_pod_identity" {
  source  = "terraform-aws-modules/eks-pod-identity/aws"
  version = "2.8.1"

  name        = "${var.name}-restore"
  description = "employee-db restore Job (${local.app_namespace}/${local.restore_service_account}): read backups"

  attach_custom_policy = true
  policy_statements = [
    {
      sid       = "ReadBackups"
      effect    = "Allow"
      actions   = ["s3:GetObject"]
      resources = ["${module.backups_bucket.s3_bucket_arn}/${local.backup_prefix}*"]
    },
  ]

  associations = {
    restore = {
      cluster_name    = module.eks.cluster_name
      namespace       = local.app_namespace
      service_account = local.restore_service_account
    }
  }
}

# With database = "rds" the jobs log in as the app does: as its one IAM database
# user, on this instance only (database.tf).
resource "aws_iam_role_policy" "backup_jobs_database_connect" {
  for_each = local.rds_enabled ? {
    backup  = module.backup_pod_identity.iam_role_name
    restore = module.restore_pod_identity.iam_role_name
  } : {}

  name = "connect-to-${var.name}-mysql-as-${var.database_iam_user}"
  role = each.value
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid      = "ConnectAsTheAppUser"
      Effect   = "Allow"
      Action   = "rds-db:connect"
      Resource = local.database_user_arn
    }]
  })
}
