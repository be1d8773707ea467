# Rego v1, violation objects, a rule named deny_…, another namespace.
package terraform.limits

violation contains {"msg": msg, "details": {"address": rc.address}} if {
	some rc in input.resource_changes
	rc.change.after.input == "too-big"
	msg := sprintf("%s is too big", [rc.address])
}

deny_destroy contains msg if {
	some rc in input.resource_changes
	"delete" in rc.change.actions
	msg := sprintf("%s would be destroyed", [rc.address])
}
