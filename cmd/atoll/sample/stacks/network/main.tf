module "tags" {
  source  = "../../modules/tags"
  service = "network"
}

resource "terraform_data" "vpc" {
  input = {
    cidr = "10.0.0.0/16"
    tags = module.tags.tags
  }
}
