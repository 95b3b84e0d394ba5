terraform {
  # 1.10 brings S3-native state locking (use_lockfile, see backend.tf) and the
  # cross-variable validations used in variables.tf; the rds module 7.2.0
  # declares 1.11.1 or later.
  required_version = ">= 1.11.1, < 2.0"

  required_providers {
    aws = {
      source = "hashicorp/aws"
      # The floor is the highest one the pinned modules declare: s3-bucket 5.15.4
      # requires 6.42 or later (eks 21.17.0, ecr 3.2.0, acm 6.3.0, rds 7.2.0 and
      # eks-pod-identity 2.8.1 need 6.28; vpc and iam need 6.0).
      version = "~> 6.42"
    }
    helm = {
      source = "hashicorp/helm"
      # 3.x takes `kubernetes = { ... }` as an attribute (providers.tf); 3.1.2 is
      # the newest release checked.
      version = "~> 3.1"
    }
  }
}
