################################################################################
# CloudWatch Observability: Container Insights (node, pod and container metrics)
# and every container's logs in CloudWatch Logs, through the
# amazon-cloudwatch-observability EKS add-on (CloudWatch agent and Fluent Bit).
# Off with enable_cloudwatch_observability = false.
################################################################################

locals {
  # The log groups the add-on writes to. Created here first, with a retention, so
  # the agent and Fluent Bit find them in place instead of creating them with
  # retention "never expire".
  container_insights_log_groups = var.enable_cloudwatch_observability ? toset([
    "application", # containers' stdout/stderr: the app's JSON log lines
    "dataplane",   # kubelet, kube-proxy, container runtime
    "host",        # the nodes' system logs
    "performance", # Container Insights' metric events
  ]) : toset([])

  # The add-on runs its agent under this ServiceAccount in amazon-cloudwatch.
  observability_addon = var.enable_cloudwatch_observability ? {
    amazon-cloudwatch-observability = {
      pod_identity_association = [{
        role_arn        = one(module.cloudwatch_observability_pod_identity[*].iam_role_arn)
        service_account = "cloudwatch-agent"
      }]
      configuration_values = jsonencode({
        containerLogs = { enabled = true }
      })
    }
  } : {}
}

module "container_insights_log_groups" {
  source   = "terraform-aws-modules/cloudwatch/aws//modules/log-group"
  version  = "5.7.2"
  for_each = local.container_insights_log_groups

  name              = "/aws/containerinsights/${local.cluster_name}/${each.key}"
  retention_in_days = var.observability_log_retention_days
}

# The CloudWatch agent's role, bound through EKS Pod Identity by the add-on:
# CloudWatchAgentServerPolicy (metrics and logs) and AWSXrayWriteOnlyAccess (traces
# the agent receives over OTLP).
module "cloudwatch_observability_pod_identity" {
  source  = "terraform-aws-modules/eks-pod-identity/aws"
  version = "2.8.1"
  count   = var.enable_cloudwatch_observability ? 1 : 0

  name        = "${var.name}-cloudwatch-observability"
  description = "CloudWatch agent and Fluent Bit of the amazon-cloudwatch-observability add-on"

  attach_aws_cloudwatch_observability_policy = true

  # The add-on waits for this role, and so, through it, for the log groups: its
  # agents must not create them first (without a retention).
  depends_on = [module.container_insights_log_groups]
}
