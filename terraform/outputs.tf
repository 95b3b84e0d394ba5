output "cluster_name" {
  description = "Name of the EKS cluster."
  value       = module.eks.cluster_name
}

output "cluster_endpoint" {
  description = "Endpoint of the Kubernetes API server."
  value       = module.eks.cluster_endpoint
}

output "update_kubeconfig_command" {
  description = "Run this to point kubectl at the new cluster."
  value       = "aws eks update-kubeconfig --region ${var.region} --name ${module.eks.cluster_name}"
}

output "ecr_repository_url" {
  description = "Repository the workflow pushes to; images are tagged with the commit SHA."
  value       = module.ecr.repository_url
}

output "background_bucket_name" {
  description = "Private bucket holding the background images."
  value       = module.backgrounds_bucket.s3_bucket_id
}

output "background_image_url" {
  description = "Value for the app's BACKGROUND_IMAGE_URL (the sample image uploaded by Terraform)."
  value       = "s3://${module.backgrounds_bucket.s3_bucket_id}/${var.background_image_key}"
}

output "backup_url" {
  description = "Value for BACKUP_URL in k8s-manifests/app-config.env: the prefix the nightly CronJob writes <UTC time>.jsonl under."
  value       = "s3://${module.backups_bucket.s3_bucket_id}/${local.backup_prefix}"
}

output "backup_role_arn" {
  description = "IAM role the nightly backup gets through EKS Pod Identity (clo835/employee-db-backup): s3:PutObject under the backup prefix only."
  value       = module.backup_pod_identity.iam_role_arn
}

output "restore_role_arn" {
  description = "IAM role the restore Job gets through EKS Pod Identity (clo835/employee-db-restore): s3:GetObject under the backup prefix only."
  value       = module.restore_pod_identity.iam_role_arn
}

output "app_role_arn" {
  description = "IAM role the app's pods get through EKS Pod Identity (clo835/clo835-sa): s3:GetObject on the bucket only."
  value       = module.app_pod_identity.iam_role_arn
}

output "ci_role_arn" {
  description = "IAM role GitHub Actions assumes over OIDC: set it as the repository variable AWS_ROLE_ARN."
  value       = module.ci_role.arn
}

output "github_actions_variables" {
  description = "Repository variables for the workflow (Settings > Secrets and variables > Actions > Variables). EKS_CLUSTER_NAME turns the deploy job on."
  value = merge(
    {
      AWS_ROLE_ARN   = module.ci_role.arn
      AWS_REGION     = var.region
      ECR_REPOSITORY = var.ecr_repository_name
    },
    var.enable_ci_deploy ? { EKS_CLUSTER_NAME = module.eks.cluster_name } : {},
  )
}

output "lb_controller_role_arn" {
  description = "IAM role the AWS Load Balancer Controller gets through EKS Pod Identity (kube-system/aws-load-balancer-controller)."
  value       = module.lb_controller_pod_identity.iam_role_arn
}

# Read by scripts/configure-alb-https.sh, which writes them to
# k8s-manifests/overlays/alb-https/settings.env for the Ingress.
output "alb_https_settings" {
  description = "Values for the alb-https overlay (null without domain_name): the domain, the certificate, the Route 53 zone and, with enable_sign_in, the Cognito user pool the load balancer signs users in with."
  value = local.https_enabled ? {
    domain_name     = var.domain_name
    hosted_zone_id  = var.hosted_zone_id
    certificate_arn = module.certificate[0].acm_certificate_arn
    sign_in = var.enable_sign_in ? {
      userPoolARN      = aws_cognito_user_pool.sign_in[0].arn
      userPoolClientID = aws_cognito_user_pool_client.load_balancer[0].id
      userPoolDomain   = aws_cognito_user_pool_domain.sign_in[0].domain
    } : null
  } : null
}

output "sign_in_user_pool_id" {
  description = "Cognito user pool of the sign-in page (null unless enable_sign_in); add users to it as terraform/README.md shows."
  value       = var.enable_sign_in ? aws_cognito_user_pool.sign_in[0].id : null
}

output "observability" {
  description = "Where CloudWatch shows the cluster and the app (null when enable_cloudwatch_observability is false): the Container Insights console, the log groups, and a Logs Insights query for the app's request lines."
  value = var.enable_cloudwatch_observability ? {
    container_insights_url = "https://console.aws.amazon.com/cloudwatch/home?region=${var.region}#container-insights:infrastructure"
    log_groups             = { for kind, group in module.container_insights_log_groups : kind => group.cloudwatch_log_group_name }
    agent_role_arn         = one(module.cloudwatch_observability_pod_identity[*].iam_role_arn)
    app_requests_query     = "fields @timestamp, log_processed.status, log_processed.latency_ms, log_processed.span.path, log_processed.span.trace_id | filter kubernetes.namespace_name = \"${local.app_namespace}\" and log_processed.message = \"request\" | sort @timestamp desc"
  } : null
}

# Read by scripts/configure-rds.sh, which writes k8s-overlays/rds/settings.env.
output "rds_settings" {
  description = "With database = rds (else null): where the app logs in (DBHOST, DBPORT, DBUSER, AWS_REGION), the master password's secret in Secrets Manager, and the IAM policy resource the app's role may connect as."
  value = local.rds_enabled ? {
    host                   = module.database[0].db_instance_address
    port                   = module.database[0].db_instance_port
    user                   = var.database_iam_user
    region                 = var.region
    master_user            = local.database_master_user
    master_user_secret_arn = module.database[0].db_instance_master_user_secret_arn
    connect_resource       = local.database_user_arn
  } : null
}

output "rds_create_user_sql" {
  description = "With database = rds (else null): the SQL to run once as the master user, creating the app's IAM-authenticated user (terraform/README.md)."
  value       = local.rds_enabled ? local.database_create_user_sql : null
}
