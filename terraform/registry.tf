locals {
  # ECR evaluates rules from the lowest priority number; a rule matching "any"
  # tag status must come last.
  ecr_lifecycle_rules = [
    {
      rulePriority = 1
      description  = "Expire untagged images (interrupted pushes) after 7 days"
      selection = {
        tagStatus   = "untagged"
        countType   = "sinceImagePushed"
        countUnit   = "days"
        countNumber = 7
      }
      action = {
        type = "expire"
      }
    },
    {
      rulePriority = 2
      description  = "Keep only the most recent images"
      selection = {
        tagStatus   = "any"
        countType   = "imageCountMoreThan"
        countNumber = var.ecr_images_to_keep
      }
      action = {
        type = "expire"
      }
    },
  ]
}

# The workflow pushes one image per commit, tagged with the commit SHA. Tags
# are immutable, so a tag always names the image that was tested.
module "ecr" {
  source  = "terraform-aws-modules/ecr/aws"
  version = "3.2.0"

  repository_name                 = var.ecr_repository_name
  repository_image_tag_mutability = "IMMUTABLE"
  repository_image_scan_on_push   = true
  repository_encryption_type      = "AES256"
  repository_force_delete         = var.force_destroy

  create_lifecycle_policy     = true
  repository_lifecycle_policy = jsonencode({ rules = local.ecr_lifecycle_rules })
}
