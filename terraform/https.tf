################################################################################
# HTTPS at var.domain_name (optional): an ACM certificate validated by DNS in
# the Route 53 zone, for the Application Load Balancer of the alb-https overlay.
################################################################################

locals {
  https_enabled = var.domain_name != ""
}

module "certificate" {
  source  = "terraform-aws-modules/acm/aws"
  version = "6.3.0"
  count   = local.https_enabled ? 1 : 0

  domain_name       = var.domain_name
  zone_id           = var.hosted_zone_id
  validation_method = "DNS"

  # Apply waits until ACM has issued the certificate (usually a few minutes), so
  # the load balancer never starts with a pending one.
  wait_for_validation = true
}

################################################################################
# Sign-in (optional): a Cognito user pool. The load balancer sends every
# request without a session cookie to its sign-in page and only forwards signed
# in users to the app. Nobody can sign themselves up: an administrator adds
# users (terraform/README.md).
################################################################################

resource "aws_cognito_user_pool" "sign_in" {
  count = var.enable_sign_in ? 1 : 0

  name                = "${var.name}-users"
  deletion_protection = var.force_destroy ? "INACTIVE" : "ACTIVE"

  username_attributes      = ["email"]
  auto_verified_attributes = ["email"]

  admin_create_user_config {
    allow_admin_create_user_only = true
  }

  password_policy {
    minimum_length                   = 12
    require_lowercase                = true
    require_uppercase                = true
    require_numbers                  = true
    require_symbols                  = false
    temporary_password_validity_days = 7
  }

  # Users may add an authenticator app; nobody is forced to.
  mfa_configuration = "OPTIONAL"
  software_token_mfa_configuration {
    enabled = true
  }

  account_recovery_setting {
    recovery_mechanism {
      name     = "verified_email"
      priority = 1
    }
  }
}

# The load balancer is the client: it runs the authorization code flow and needs
# the client secret, which it reads from Cognito itself (the controller's
# policy allows cognito-idp:DescribeUserPoolClient), so it never appears in the
# manifests.
resource "aws_cognito_user_pool_client" "load_balancer" {
  count = var.enable_sign_in ? 1 : 0

  name         = "${var.name}-load-balancer"
  user_pool_id = aws_cognito_user_pool.sign_in[0].id

  generate_secret                      = true
  allowed_oauth_flows_user_pool_client = true
  allowed_oauth_flows                  = ["code"]
  allowed_oauth_scopes                 = ["openid", "email"]
  supported_identity_providers         = ["COGNITO"]
  callback_urls                        = ["https://${var.domain_name}/oauth2/idpresponse"]
  logout_urls                          = ["https://${var.domain_name}/"]
  prevent_user_existence_errors        = "ENABLED"
  explicit_auth_flows                  = ["ALLOW_REFRESH_TOKEN_AUTH"]
}

# Cognito's hosted sign-in page at https://<prefix>.auth.<region>.amazoncognito.com.
# Prefixes are unique per region across all accounts, hence the account ID.
resource "aws_cognito_user_pool_domain" "sign_in" {
  count = var.enable_sign_in ? 1 : 0

  domain       = "${var.name}-${data.aws_caller_identity.current.account_id}"
  user_pool_id = aws_cognito_user_pool.sign_in[0].id
}
