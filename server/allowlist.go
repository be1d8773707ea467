package server

import (
	"fmt"
	"path"
	"strings"
)

// Allowlist matches repository full names ("owner/name") against globs.
type Allowlist struct {
	globs []string
}

// ParseAllowlist parses a comma-separated list of globs as path.Match reads
// them ("owner/*", "owner/infra-*"); "*" alone allows every repository.
func ParseAllowlist(s string) (Allowlist, error) {
	var a Allowlist
	for _, g := range strings.Split(s, ",") {
		g = strings.TrimSpace(g)
		if g == "" {
			continue
		}
		if _, err := path.Match(g, ""); err != nil {
			return Allowlist{}, fmt.Errorf("repo allowlist: bad glob %q: %w", g, err)
		}
		a.globs = append(a.globs, g)
	}
	if len(a.globs) == 0 {
		return Allowlist{}, fmt.Errorf("repo allowlist is empty")
	}
	return a, nil
}

// Allows reports whether the repository fullName matches a glob.
func (a Allowlist) Allows(fullName string) bool {
	for _, g := range a.globs {
		if g == "*" {
			return true
		}
		if ok, _ := path.Match(strings.ToLower(g), strings.ToLower(fullName)); ok {
			return true
		}
	}
	return false
}

// hostLike returns the entries that seem to start with a host name, as
// Atlantis's allowlist entries do ("github.com/acme/*"): a first segment
// with a dot, before two more. atoll matches "owner/name" (or a GitLab
// path) with no host, so such an entry matches nothing, unless its
// first segment is a GitLab group whose name has a dot.
func (a Allowlist) hostLike() []string {
	var like []string
	for _, g := range a.globs {
		first, rest, _ := strings.Cut(g, "/")
		if strings.Contains(first, ".") && strings.Contains(rest, "/") {
			like = append(like, g)
		}
	}
	return like
}

// names returns the entries that name one repository each, and reports
// whether there are globs besides.
func (a Allowlist) names() (names []string, globs bool) {
	for _, g := range a.globs {
		if strings.ContainsAny(g, `*?[\`) {
			globs = true
			continue
		}
		names = append(names, g)
	}
	return names, globs
}
