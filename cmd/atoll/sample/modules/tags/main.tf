variable "service" {
  type        = string
  description = "What the tagged things belong to."
}

output "tags" {
  description = "The tags every stack puts on what it makes."
  value = {
    service = var.service
    team    = "platform"
  }
}
