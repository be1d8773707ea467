module "tags" {
  source  = "../../modules/tags"
  service = "app"
}

resource "terraform_data" "app" {
  input = {
    replicas = 2
    tags     = module.tags.tags
  }
}

output "tags" {
  value = module.tags.tags
}
