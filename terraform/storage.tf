# Private bucket for the page backgrounds. Nothing in it is public: the app
# reads objects with its own IAM role (see iam.tf).
module "backgrounds_bucket" {
  source  = "terraform-aws-modules/s3-bucket/aws"
  version = "5.15.4"

  bucket        = local.background_bucket_name
  force_destroy = var.force_destroy

  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true

  # ACLs off: the bucket owner owns every object.
  control_object_ownership = true
  object_ownership         = "BucketOwnerEnforced"

  versioning = {
    enabled = true
  }

  # SSE-S3 keeps the app's role down to s3:GetObject (a KMS key would also
  # need kms:Decrypt).
  server_side_encryption_configuration = {
    rule = {
      apply_server_side_encryption_by_default = {
        sse_algorithm = "AES256"
      }
    }
  }

  # Bucket policy: refuse any request that is not HTTPS with TLS 1.2 or later.
  attach_deny_insecure_transport_policy = true
  attach_require_latest_tls_policy      = true

  lifecycle_rule = [
    {
      id                                     = "tidy-old-versions"
      enabled                                = true
      abort_incomplete_multipart_upload_days = 7
      noncurrent_version_expiration = {
        noncurrent_days = 30
      }
    },
  ]
}

module "sample_background" {
  source  = "terraform-aws-modules/s3-bucket/aws//modules/object"
  version = "5.15.4"

  bucket       = module.backgrounds_bucket.s3_bucket_id
  key          = var.background_image_key
  file_source  = "${path.module}/../static/sample-background.jpg"
  etag         = filemd5("${path.module}/../static/sample-background.jpg")
  content_type = "image/jpeg"

  # S3 allows 10 tags per object, and the provider's default tags (providers.tf,
  # plus whatever var.tags adds) could exceed that; the bucket carries them.
  override_default_tags = true
}
