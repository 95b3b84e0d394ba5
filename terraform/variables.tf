variable "region" {
  description = "AWS region for every resource (the app's AWS_REGION must match)."
  type        = string
  default     = "us-east-1"

  validation {
    condition     = can(regex("^[a-z]{2}(-gov)?-[a-z]+-[0-9]$", var.region))
    error_message = "region must look like us-east-1."
  }
}

variable "name" {
  description = "Prefix for the names of the VPC, the cluster, the roles and the default bucket name."
  type        = string
  default     = "clo835"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,19}$", var.name))
    error_message = "name must be 2-20 characters: lower-case letters, digits and dashes, starting with a letter."
  }
}

variable "kubernetes_version" {
  description = "EKS Kubernetes version (major.minor)."
  type        = string
  default     = "1.35"

  validation {
    condition     = can(regex("^1\\.[0-9]{2}$", var.kubernetes_version))
    error_message = "kubernetes_version must look like 1.35."
  }
}

variable "vpc_cidr" {
  description = "CIDR block of the VPC; public and private subnets are carved out of it."
  type        = string
  default     = "10.0.0.0/16"

  validation {
    condition     = can(cidrhost(var.vpc_cidr, 0)) && try(tonumber(split("/", var.vpc_cidr)[1]) <= 20, false)
    error_message = "vpc_cidr must be a valid IPv4 CIDR block of size /20 or larger."
  }
}

variable "availability_zone_count" {
  description = "Number of availability zones to spread the subnets over."
  type        = number
  default     = 2

  validation {
    condition     = var.availability_zone_count >= 2 && var.availability_zone_count <= 3
    error_message = "availability_zone_count must be 2 or 3 (EKS needs subnets in at least two zones)."
  }
}

variable "single_nat_gateway" {
  description = "One NAT gateway shared by all zones (cheaper) instead of one per zone (survives a zone outage)."
  type        = bool
  default     = true
}

variable "cluster_endpoint_public_access_cidrs" {
  description = "Networks allowed to reach the public Kubernetes API endpoint (still guarded by IAM). Narrow this to your own address when you can; the deploy job runs from GitHub's runners."
  type        = list(string)
  default     = ["0.0.0.0/0"]

  validation {
    condition     = length(var.cluster_endpoint_public_access_cidrs) > 0 && alltrue([for c in var.cluster_endpoint_public_access_cidrs : can(cidrhost(c, 0))])
    error_message = "cluster_endpoint_public_access_cidrs must be a non-empty list of CIDR blocks."
  }
}

variable "node_instance_types" {
  description = "EC2 instance types of the managed node group, cheapest first."
  type        = list(string)
  default     = ["t3.medium"]

  validation {
    condition     = length(var.node_instance_types) > 0 && alltrue([for t in var.node_instance_types : can(regex("^[a-z][a-z0-9-]*\\.[a-z0-9]+$", t))])
    error_message = "node_instance_types must be a non-empty list of instance types such as t3.medium."
  }
}

variable "node_capacity_type" {
  description = "ON_DEMAND, or SPOT for cheaper nodes that AWS may take back."
  type        = string
  default     = "ON_DEMAND"

  validation {
    condition     = contains(["ON_DEMAND", "SPOT"], var.node_capacity_type)
    error_message = "node_capacity_type must be ON_DEMAND or SPOT."
  }
}

variable "node_min_size" {
  description = "Smallest number of worker nodes."
  type        = number
  default     = 1

  validation {
    condition     = var.node_min_size >= 1
    error_message = "node_min_size must be at least 1."
  }
}

variable "node_desired_size" {
  description = "Number of worker nodes at creation (later changes are left to whoever scales the group)."
  type        = number
  default     = 2

  validation {
    condition     = var.node_desired_size >= var.node_min_size && var.node_desired_size <= var.node_max_size
    error_message = "node_desired_size must lie between node_min_size and node_max_size."
  }
}

variable "node_max_size" {
  description = "Largest number of worker nodes."
  type        = number
  default     = 3

  validation {
    condition     = var.node_max_size >= var.node_min_size && var.node_max_size <= 10
    error_message = "node_max_size must be at least node_min_size and at most 10."
  }
}

variable "node_disk_size_gib" {
  description = "Size of each node's encrypted gp3 root volume, in GiB."
  type        = number
  default     = 20

  validation {
    condition     = var.node_disk_size_gib >= 20 && var.node_disk_size_gib <= 200
    error_message = "node_disk_size_gib must be between 20 and 200."
  }
}

variable "github_repository" {
  description = "The one GitHub repository whose main branch may push images, as its OIDC tokens name it: owner/name (e.g. my-org/employee-db), or owner@OWNER_ID/name@REPO_ID for a repository on GitHub's immutable subject claims (terraform/README.md says how to tell)."
  type        = string

  validation {
    condition = anytrue([
      can(regex("^[A-Za-z0-9][A-Za-z0-9-]{0,38}/[A-Za-z0-9._-]{1,100}$", var.github_repository)),
      can(regex("^[A-Za-z0-9][A-Za-z0-9-]{0,38}@[0-9]{1,20}/[A-Za-z0-9._-]{1,100}@[0-9]{1,20}$", var.github_repository)),
    ])
    error_message = "github_repository must be owner/name or owner@OWNER_ID/name@REPO_ID (numeric IDs on both or neither), without wildcards."
  }
}

variable "create_github_oidc_provider" {
  description = "Create the account's GitHub OIDC identity provider. Set false if the account already has one (there can be only one per account)."
  type        = bool
  default     = true
}

variable "enable_ci_deploy" {
  description = "Let the workflow's deploy job (GitHub environment below) describe the cluster and apply the manifests. Off: CI can only push images."
  type        = bool
  default     = false
}

variable "github_deploy_environment" {
  description = "Name of the GitHub environment the deploy job runs in; its OIDC subject is trusted only when enable_ci_deploy is true."
  type        = string
  default     = "production"

  validation {
    condition     = can(regex("^[A-Za-z0-9._-]{1,255}$", var.github_deploy_environment))
    error_message = "github_deploy_environment must be a plain environment name, without wildcards."
  }
}

variable "ecr_repository_name" {
  description = "Name of the ECR repository the workflow pushes the image to."
  type        = string
  default     = "employee-db"

  validation {
    condition     = can(regex("^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$", var.ecr_repository_name)) && length(var.ecr_repository_name) <= 256
    error_message = "ecr_repository_name must be a valid ECR repository name (lower case)."
  }
}

variable "ecr_images_to_keep" {
  description = "Number of most recent images kept in ECR; older ones expire."
  type        = number
  default     = 30

  validation {
    condition     = var.ecr_images_to_keep >= 1 && var.ecr_images_to_keep <= 1000
    error_message = "ecr_images_to_keep must be between 1 and 1000."
  }
}

variable "background_bucket_name" {
  description = "Name of the private bucket holding background images. Empty: <name>-backgrounds-<account id>-<region>."
  type        = string
  default     = ""

  validation {
    condition     = var.background_bucket_name == "" || can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.background_bucket_name))
    error_message = "background_bucket_name must be empty or a valid S3 bucket name."
  }
}

variable "backup_bucket_name" {
  description = "Name of the private bucket holding the nightly backups. Empty: <name>-backups-<account id>-<region>."
  type        = string
  default     = ""

  validation {
    condition     = var.backup_bucket_name == "" || can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.backup_bucket_name))
    error_message = "backup_bucket_name must be empty or a valid S3 bucket name."
  }
}

variable "backup_retention_days" {
  description = "Days a nightly backup is kept before it expires (then 7 more as a noncurrent version)."
  type        = number
  default     = 30

  validation {
    condition     = var.backup_retention_days >= 1 && var.backup_retention_days <= 3650 && floor(var.backup_retention_days) == var.backup_retention_days
    error_message = "backup_retention_days must be a whole number from 1 to 3650."
  }
}

variable "background_image_key" {
  description = "Object key of the sample background image uploaded to the bucket."
  type        = string
  default     = "sample-background.jpg"

  validation {
    condition     = can(regex("^[A-Za-z0-9!_.*'()/-]+$", var.background_image_key)) && !startswith(var.background_image_key, "/")
    error_message = "background_image_key must be a plain object key that does not start with a slash."
  }
}

variable "domain_name" {
  description = "Name the app is served at over HTTPS (e.g. app.example.com), through an Application Load Balancer with an ACM certificate (k8s-manifests/overlays/alb-https). Empty: plain HTTP on the Network Load Balancer's own name."
  type        = string
  default     = ""

  validation {
    condition     = var.domain_name == "" || (length(var.domain_name) <= 253 && can(regex("^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\\.)+[a-z]{2,63}$", var.domain_name)))
    error_message = "domain_name must be empty or a lower-case DNS name such as app.example.com."
  }
}

variable "hosted_zone_id" {
  description = "ID of the Route 53 public hosted zone that holds domain_name (e.g. Z0123456789ABCDEFGHIJ); ACM validates the certificate with a record there. Needed with domain_name."
  type        = string
  default     = ""

  validation {
    condition     = (var.hosted_zone_id == "") == (var.domain_name == "") && (var.hosted_zone_id == "" || can(regex("^Z[A-Z0-9]{1,31}$", var.hosted_zone_id)))
    error_message = "hosted_zone_id must be set (a Route 53 zone ID such as Z0123456789ABCDEFGHIJ) exactly when domain_name is set."
  }
}

variable "enable_sign_in" {
  description = "Put a Cognito sign-in page in front of the app: the load balancer authenticates every request before it reaches the app. Needs domain_name. Users are added by an administrator (terraform/README.md)."
  type        = bool
  default     = false

  validation {
    condition     = !var.enable_sign_in || var.domain_name != ""
    error_message = "enable_sign_in needs domain_name: the sign-in flow returns to https://<domain_name>/oauth2/idpresponse."
  }
}

variable "force_destroy" {
  description = "Let `terraform destroy` delete the bucket and the ECR repository even when they still hold objects or images."
  type        = bool
  default     = true
}

variable "tags" {
  description = "Extra tags for every resource."
  type        = map(string)
  default     = {}
}

variable "enable_cloudwatch_observability" {
  description = "Install the amazon-cloudwatch-observability EKS add-on: Container Insights metrics and every container's logs (the app's JSON lines included) in CloudWatch, with its IAM role through EKS Pod Identity."
  type        = bool
  default     = true
}

variable "observability_log_retention_days" {
  description = "How long CloudWatch Logs keeps the add-on's log groups (/aws/containerinsights/CLUSTER/{application,dataplane,host,performance}), in days."
  type        = number
  default     = 30

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.observability_log_retention_days)
    error_message = "observability_log_retention_days must be one of CloudWatch Logs' retention periods: 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288 or 3653."
  }
}

variable "database" {
  description = "Where MySQL runs: in-cluster (a StatefulSet on one gp3 volume, k8s-manifests/) or rds (Amazon RDS for MySQL, Multi-AZ, IAM database authentication; k8s-overlays/rds)."
  type        = string
  default     = "in-cluster"

  validation {
    condition     = contains(["in-cluster", "rds"], var.database)
    error_message = "database must be in-cluster or rds."
  }
}

variable "database_instance_class" {
  description = "RDS instance class with database = rds (Multi-AZ runs two of them). db.t4g.small allows about 150 connections: enough for 6 app pods with 16 each."
  type        = string
  default     = "db.t4g.small"

  validation {
    condition     = can(regex("^db\\.[a-z0-9]+\\.[a-z0-9]+$", var.database_instance_class))
    error_message = "database_instance_class must be an RDS instance class such as db.t4g.small."
  }
}

variable "database_backup_retention_days" {
  description = "Days of automated RDS backups (point-in-time restore) with database = rds."
  type        = number
  default     = 7

  validation {
    condition     = var.database_backup_retention_days >= 1 && var.database_backup_retention_days <= 35
    error_message = "database_backup_retention_days must be between 1 and 35 (0 would turn backups off)."
  }
}

variable "database_performance_insights" {
  description = "Turn on RDS Performance Insights (charged per vCPU beyond the free tier's retention)."
  type        = bool
  default     = false
}

variable "database_iam_user" {
  description = "MySQL user the app logs in as with IAM database authentication (DBUSER); its Pod Identity role may connect as this user only."
  type        = string
  default     = "employee_app"

  validation {
    condition     = can(regex("^[a-z_][a-z0-9_]{0,31}$", var.database_iam_user)) && var.database_iam_user != "admin"
    error_message = "database_iam_user must be 1-32 lower-case letters, digits or underscores, not starting with a digit, and not the master user admin."
  }
}
