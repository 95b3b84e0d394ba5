# Zones are chosen by name from a closed set of letters, so the subnets do not
# move when AWS opens a new zone; Local and Wavelength Zones cannot host EKS
# subnets. Zone names map to different physical zones in every account, so the
# zones EKS refuses to place a cluster in are excluded by their (fixed) zone ID.
data "aws_availability_zones" "available" {
  state            = "available"
  exclude_zone_ids = local.eks_unsupported_zone_ids

  filter {
    name   = "zone-name"
    values = [for letter in ["a", "b", "c", "d", "e", "f"] : "${var.region}${letter}"]
  }

  filter {
    name   = "opt-in-status"
    values = ["opt-in-not-required"]
  }

  lifecycle {
    postcondition {
      condition     = length(self.names) >= var.availability_zone_count
      error_message = "availability_zone_count is ${var.availability_zone_count}, but ${var.region} has only ${length(self.names)} zones that EKS accepts (${join(", ", self.names)})."
    }
  }
}

data "aws_partition" "current" {}

data "aws_caller_identity" "current" {}

locals {
  # Zone IDs where EKS refuses to create a cluster (the EKS user guide,
  # "Cluster creation fails with UnsupportedAvailabilityZoneException").
  eks_unsupported_zone_ids = ["use1-az3", "usw1-az2", "cac1-az3"]

  cluster_name = "${var.name}-eks"
  azs          = slice(data.aws_availability_zones.available.names, 0, var.availability_zone_count)

  # The app's identity in the cluster. The Kubernetes manifests (k8s-manifests/)
  # declare the same namespace and ServiceAccount; both sides must agree.
  app_namespace           = "clo835"
  app_service_account     = "clo835-sa"
  backup_service_account  = "employee-db-backup"
  restore_service_account = "employee-db-restore"

  background_bucket_name = coalesce(var.background_bucket_name, "${var.name}-backgrounds-${data.aws_caller_identity.current.account_id}-${var.region}")
  backup_bucket_name     = coalesce(var.backup_bucket_name, "${var.name}-backups-${data.aws_caller_identity.current.account_id}-${var.region}")
  # The CronJob names each backup <UTC time>.jsonl under this prefix; the roles
  # and the expiry rule cover exactly it.
  backup_prefix = "backups/"

  tags = merge(var.tags, {
    Project   = "employee-db"
    ManagedBy = "terraform"
  })
}
