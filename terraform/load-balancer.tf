################################################################################
# AWS Load Balancer Controller: turns the app's Service into a Network Load
# Balancer (k8s-manifests/app.yaml) and, with a domain, its Ingress into an
# Application Load Balancer with HTTPS (k8s-manifests/overlays/alb-https).
# Both register the pods' own IP addresses as targets, so the load balancer's
# health checks and deregistration delay act on each pod directly.
################################################################################

locals {
  lb_controller_namespace       = "kube-system"
  lb_controller_service_account = "aws-load-balancer-controller"
}

# The controller's IAM policy is the one the community module keeps in step
# with the controller's own docs/install/iam_policy.json.
module "lb_controller_pod_identity" {
  source  = "terraform-aws-modules/eks-pod-identity/aws"
  version = "2.8.1"

  name        = "${var.name}-lb-controller"
  description = "AWS Load Balancer Controller of ${local.cluster_name}"

  attach_aws_lb_controller_policy = true

  associations = {
    controller = {
      cluster_name    = module.eks.cluster_name
      namespace       = local.lb_controller_namespace
      service_account = local.lb_controller_service_account
    }
  }
}

resource "helm_release" "lb_controller" {
  name       = "aws-load-balancer-controller"
  repository = "https://aws.github.io/eks-charts"
  chart      = "aws-load-balancer-controller"
  # Chart 3.5.0 installs controller v3.5.0 (aws/eks-charts, checked 2026-11-28).
  version   = "3.5.0"
  namespace = local.lb_controller_namespace

  # Fail the apply, and roll back, if the controller does not become ready.
  wait            = true
  atomic          = true
  cleanup_on_fail = true
  max_history     = 5

  values = [yamlencode({
    clusterName = module.eks.cluster_name
    # Pods cannot reach the instance metadata service (the node group allows one
    # network hop), so the controller is told its region and VPC.
    region = var.region
    vpcId  = module.vpc.vpc_id
    serviceAccount = {
      create = true
      name   = local.lb_controller_service_account
    }
    # Only Services that ask for this controller get one of its load balancers
    # (the app's does, by annotation). The mutating webhook would claim every new
    # LoadBalancer Service, and with its failure policy a controller outage
    # would block creating any.
    enableServiceMutatorWebhook = false
  })]

  # The association must exist before the controller's pods start, or they run
  # without AWS credentials; the nodes must exist for the pods to run at all.
  depends_on = [module.lb_controller_pod_identity, module.eks]
}
