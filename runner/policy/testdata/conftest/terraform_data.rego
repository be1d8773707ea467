# A policy in conftest's style and in Rego v0, as conftest's older
# releases read them: it runs unchanged.
package main

deny[msg] {
  rc := input.resource_changes[_]
  rc.type == "terraform_data"
  rc.change.actions[_] == "create"
  rc.change.after.input == "forbidden"
  msg := sprintf("%s: input must not be forbidden", [rc.address])
}

warn[msg] {
  count(input.resource_changes) > 1
  msg := "this plan changes more than one resource"
}
