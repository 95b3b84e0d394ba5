################################################################################
# With database = "rds": Amazon RDS for MySQL, Multi-AZ, in place of the MySQL
# StatefulSet (k8s-overlays/rds). The app logs in with IAM database
# authentication over verified TLS, so no database password exists anywhere the
# app or this state can see: the master password is RDS's own, in Secrets
# Manager, and is only needed once, to create the app's user.
################################################################################

locals {
  rds_enabled          = var.database == "rds"
  database_master_user = "admin"
  database_port        = 3306
}

module "database" {
  source  = "terraform-aws-modules/rds/aws"
  version = "7.2.0"
  count   = local.rds_enabled ? 1 : 0

  identifier = "${var.name}-mysql"

  engine               = "mysql"
  engine_version       = "8.4"
  family               = "mysql8.4"
  major_engine_version = "8.4"
  instance_class       = var.database_instance_class

  allocated_storage     = 20
  max_allocated_storage = 100
  storage_type          = "gp3"
  storage_encrypted     = true

  db_name  = "employees"
  username = local.database_master_user
  # RDS generates the master password and keeps it in Secrets Manager: it never
  # passes through Terraform's plan or state.
  manage_master_user_password = true
  port                        = local.database_port

  # A standby in a second zone with synchronous replication; a failover moves the
  # endpoint's DNS name to it (the app reconnects as after a restart).
  multi_az               = true
  create_db_subnet_group = true
  subnet_ids             = module.vpc.private_subnets
  vpc_security_group_ids = [aws_security_group.database[0].id]
  publicly_accessible    = false

  iam_database_authentication_enabled = true

  create_db_parameter_group = true
  parameters = [
    # ON: the server refuses every connection without TLS. DB instances take 1 for ON
    # (the RDS User Guide, "Requiring SSL/TLS for all connections to a MySQL DB
    # instance"); only Aurora clusters spell it ON.
    { name = "require_secure_transport", value = "1" },
  ]
  create_db_option_group = false

  backup_retention_period = var.database_backup_retention_days
  backup_window           = "03:00-04:00"
  maintenance_window      = "Sun:04:30-Sun:05:30"
  copy_tags_to_snapshot   = true

  deletion_protection              = true
  skip_final_snapshot              = false
  final_snapshot_identifier_prefix = "final"

  performance_insights_enabled = var.database_performance_insights

  enabled_cloudwatch_logs_exports        = ["error"]
  create_cloudwatch_log_group            = true
  cloudwatch_log_group_retention_in_days = 30

  tags = local.tags
}

# 3306 from the cluster's nodes, and so from its pods (the VPC CNI gives pods the
# nodes' security group), and from nowhere else. No egress: RDS opens no
# connections of its own.
resource "aws_security_group" "database" {
  #checkov:skip=CKV2_AWS_5:attached to the instance by module.database (vpc_security_group_ids), a registry module checkov does not download
  count = local.rds_enabled ? 1 : 0

  name_prefix = "${var.name}-mysql-"
  description = "MySQL on RDS: port 3306 from the EKS nodes and pods only"
  vpc_id      = module.vpc.vpc_id
  tags        = local.tags

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_ingress_rule" "database_from_cluster" {
  count = local.rds_enabled ? 1 : 0

  security_group_id            = aws_security_group.database[0].id
  description                  = "MySQL from the EKS nodes and pods"
  referenced_security_group_id = module.eks.node_security_group_id
  ip_protocol                  = "tcp"
  from_port                    = local.database_port
  to_port                      = local.database_port
  tags                         = local.tags
}

# The app's Pod Identity role may log in as the one IAM database user, on this
# instance only (its resource ID, which survives a rename of the identifier).
resource "aws_iam_role_policy" "app_database_connect" {
  count = local.rds_enabled ? 1 : 0

  name = "connect-to-${var.name}-mysql-as-${var.database_iam_user}"
  role = module.app_pod_identity.iam_role_name
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid      = "ConnectAsTheAppUser"
      Effect   = "Allow"
      Action   = "rds-db:connect"
      Resource = local.database_user_arn
    }]
  })
}

locals {
  database_user_arn = local.rds_enabled ? "arn:${data.aws_partition.current.partition}:rds-db:${var.region}:${data.aws_caller_identity.current.account_id}:dbuser:${module.database[0].db_instance_resource_id}/${var.database_iam_user}" : null

  # Run once, as the master user, before the app's first start (terraform/README.md).
  # The plugin maps the user to IAM: it has no password, and RDS accepts a token
  # signed by a role allowed rds-db:connect as it (the policy above). Rights on the
  # app's database only, as the in-cluster MySQL gives its app user.
  database_create_user_sql = <<-SQL
    CREATE USER IF NOT EXISTS '${var.database_iam_user}'@'%' IDENTIFIED WITH AWSAuthenticationPlugin AS 'RDS' REQUIRE SSL;
    GRANT ALL PRIVILEGES ON `employees`.* TO '${var.database_iam_user}'@'%';
  SQL
}
