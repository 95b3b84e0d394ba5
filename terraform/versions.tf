terraform {
  # 1.10 brings S3-native state locking (use_lockfile, see backend.tf) and the
  # cross-variable validations used in variables.tf.
  required_version = ">= 1.10, < 2.0"

  required_providers {
    aws = {
      source = "hashicorp/aws"
      # The newest module below (eks-pod-identity) needs 6.28 or later.
      version = "~> 6.28"
    }
  }
}
