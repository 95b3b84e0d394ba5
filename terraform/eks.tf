locals {
  cluster_addons = {
    vpc-cni = {
      before_compute = true
      # Enforces the NetworkPolicies in k8s-manifests/ (inert otherwise).
      configuration_values = jsonencode({
        enableNetworkPolicy = "true"
      })
    }
    eks-pod-identity-agent = {
      before_compute = true
    }
    kube-proxy = {}
    coredns    = {}
    # Provisions the gp3 volume behind the MySQL StatefulSet.
    aws-ebs-csi-driver = {
      pod_identity_association = [{
        role_arn        = module.ebs_csi_pod_identity.iam_role_arn
        service_account = "ebs-csi-controller-sa"
      }]
    }
    # CPU readings for the HorizontalPodAutoscaler (k8s-manifests/autoscaling.yaml):
    # EKS installs no metrics-server by itself, and without it the autoscaler
    # never scales. Needs nodes to run on, so it is created after them.
    metrics-server = {}
  }
}

module "eks" {
  source  = "terraform-aws-modules/eks/aws"
  version = "21.17.0"

  name               = local.cluster_name
  kubernetes_version = var.kubernetes_version

  # Reachable from the user's machine (and from GitHub for the optional deploy
  # job); every request still needs an IAM identity with an access entry.
  endpoint_public_access       = true
  endpoint_public_access_cidrs = var.cluster_endpoint_public_access_cidrs

  # Whoever runs `terraform apply` becomes cluster admin through an access entry.
  enable_cluster_creator_admin_permissions = true

  cloudwatch_log_group_retention_in_days = 30

  vpc_id     = module.vpc.vpc_id
  subnet_ids = module.vpc.private_subnets

  # The add-ons above, plus CloudWatch Observability when it is on
  # (observability.tf).
  addons = merge(local.cluster_addons, local.observability_addon)

  eks_managed_node_groups = {
    default = {
      ami_type       = "AL2023_x86_64_STANDARD"
      instance_types = var.node_instance_types
      capacity_type  = var.node_capacity_type

      min_size     = var.node_min_size
      max_size     = var.node_max_size
      desired_size = var.node_desired_size

      block_device_mappings = {
        xvda = {
          device_name = "/dev/xvda"
          ebs = {
            volume_size           = var.node_disk_size_gib
            volume_type           = "gp3"
            encrypted             = true
            delete_on_termination = true
          }
        }
      }
    }
  }

  # The deploy job applies the whole kustomization, which includes the
  # namespace and cluster-scoped RBAC, so its role needs cluster admin. It only
  # exists when CI deployment is switched on.
  access_entries = var.enable_ci_deploy ? {
    github-deploy = {
      principal_arn = module.ci_role.arn
      policy_associations = {
        admin = {
          policy_arn = "arn:${data.aws_partition.current.partition}:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
          access_scope = {
            type = "cluster"
          }
        }
      }
    }
  } : {}
}

# IAM role of the EBS CSI driver's controller, bound through EKS Pod Identity
# by the add-on above.
module "ebs_csi_pod_identity" {
  source  = "terraform-aws-modules/eks-pod-identity/aws"
  version = "2.8.1"

  name = "${var.name}-ebs-csi"

  attach_aws_ebs_csi_policy = true
}
