provider "aws" {
  region = var.region

  default_tags {
    tags = local.tags
  }
}

# Installs the AWS Load Balancer Controller (load-balancer.tf). It talks to the
# cluster as whoever runs Terraform (the cluster creator is admin), with a
# token from the AWS CLI, so nothing long-lived lands in the state.
provider "helm" {
  kubernetes = {
    host                   = module.eks.cluster_endpoint
    cluster_ca_certificate = base64decode(module.eks.cluster_certificate_authority_data)
    exec = {
      api_version = "client.authentication.k8s.io/v1beta1"
      command     = "aws"
      args        = ["eks", "get-token", "--cluster-name", module.eks.cluster_name, "--region", var.region]
    }
  }
}
