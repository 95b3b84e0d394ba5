# State is local by default, which is fine for one person trying the stack out.
# A team should keep it in S3. Create the bucket once (versioned, encrypted,
# public access blocked), uncomment the block below, fill in the names and run
# `terraform init -migrate-state`. `use_lockfile` makes Terraform take a lock
# object next to the state, so two applies cannot run at once (no DynamoDB
# table needed since Terraform 1.10).
#
# terraform {
#   backend "s3" {
#     bucket       = "my-terraform-state-123456789012"
#     key          = "employee-db/terraform.tfstate"
#     region       = "us-east-1"
#     encrypt      = true
#     use_lockfile = true
#   }
# }
