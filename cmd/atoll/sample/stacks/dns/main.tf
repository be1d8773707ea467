locals {
  zone = "acme.internal"
}

resource "terraform_data" "zone" {
  input = local.zone
}

output "zone" {
  value = local.zone
}
