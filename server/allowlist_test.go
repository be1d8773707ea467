package server

import "testing"

func TestAllowlist(t *testing.T) {
	t.Parallel()
	a, err := ParseAllowlist("acme/*, other/infra-*,exact/repo")
	if err != nil {
		t.Fatal(err)
	}
	for repo, want := range map[string]bool{
		"acme/anything": true, "ACME/Thing": true, "other/infra-prod": true, "other/app": false,
		"exact/repo": true, "exact/repo2": false, "evil/acme": false, "acme/a/b": false,
	} {
		if got := a.Allows(repo); got != want {
			t.Errorf("Allows(%q) = %v, want %v", repo, got, want)
		}
	}
	all, _ := ParseAllowlist("*")
	if !all.Allows("any/repo") {
		t.Error(`"*" does not allow any/repo`)
	}
	for _, bad := range []string{"", " , ", "acme/[", "a/\\"} {
		if _, err := ParseAllowlist(bad); err == nil {
			t.Errorf("ParseAllowlist(%q) accepted", bad)
		}
	}
}
