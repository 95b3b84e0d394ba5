# A closed set of zones (the region's a, b and c), so the subnets do not move
# when AWS opens a new zone; Local and Wavelength Zones cannot host EKS subnets.
data "aws_availability_zones" "available" {
  state = "available"

  filter {
    name   = "zone-name"
    values = [for letter in ["a", "b", "c"] : "${var.region}${letter}"]
  }

  filter {
    name   = "opt-in-status"
    values = ["opt-in-not-required"]
  }
}

data "aws_caller_identity" "current" {}

locals {
  cluster_name = "${var.name}-eks"
  azs          = slice(data.aws_availability_zones.available.names, 0, var.availability_zone_count)

  # The app's identity in the cluster. The Kubernetes manifests (k8s-manifests/)
  # declare the same namespace and ServiceAccount; both sides must agree.
  app_namespace       = "clo835"
  app_service_account = "clo835-sa"

  background_bucket_name = coalesce(var.background_bucket_name, "${var.name}-backgrounds-${data.aws_caller_identity.current.account_id}-${var.region}")

  tags = merge(var.tags, {
    Project   = "employee-db"
    ManagedBy = "terraform"
  })
}
