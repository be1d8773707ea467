package server

import (
	"slices"
	"strings"
	"testing"
)

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

func TestAllowlistNames(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]struct {
		names string
		globs bool
	}{
		"acme/infra":                  {"acme/infra", false},
		"acme/infra, group/sub/proj":  {"acme/infra,group/sub/proj", false},
		"acme/*,acme/infra":           {"acme/infra", true},
		"*":                           {"", true},
		"acme/infra-?,acme/[ab]":      {"", true},
		"acme/infra,acme/infra-[0-9]": {"acme/infra", true},
	} {
		a, err := ParseAllowlist(in)
		if err != nil {
			t.Fatal(err)
		}
		names, globs := a.names()
		if strings.Join(names, ",") != want.names || globs != want.globs {
			t.Errorf("%q: names %q, globs %v; want %q, %v", in, names, globs, want.names, want.globs)
		}
	}
}

// An Atlantis-style entry, host first, is told apart from owner/repo
// entries, so that the server can warn of it: it would match nothing.
func TestAllowlistHostLike(t *testing.T) {
	t.Parallel()
	a, err := ParseAllowlist("github.com/acme/infra, gitlab.example.com/group/*, acme/*, acme/infra.live, group/sub/proj, *")
	if err != nil {
		t.Fatal(err)
	}
	got := a.hostLike()
	want := []string{"github.com/acme/infra", "gitlab.example.com/group/*"}
	if !slices.Equal(got, want) {
		t.Errorf("hostLike = %q, want %q", got, want)
	}
}
