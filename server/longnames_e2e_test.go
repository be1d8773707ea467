package server

import (
	"strings"
	"testing"

	"github.com/atoll-iac/atoll/vcs/vcstest"
	"github.com/atoll-iac/atoll/workflows"
)

// TestOverlongNamesGetAShortAnswer comments commands whose names no
// checkout could hold: each is answered, in a few lines that quote what
// was given shortened.
func TestOverlongNamesGetAShortAnswer(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, testOptions{})
	e.gh.CreateRepo(t, "acme/infra", nil)
	pr := e.gh.OpenPull(t, "acme/infra", vcstest.PullSpec{Files: map[string]string{"main.tf": oneResource}})
	for _, tt := range []struct{ name, body, want string }{
		{"a 60,000-byte directory", "atoll plan -d " + strings.Repeat("a", 60_000), "is 60000 bytes long; atoll takes at most 1024"},
		{"a megabyte comment", "atoll plan -d " + strings.Repeat("a/", 512<<10), "is 1048576 bytes long; atoll takes at most 1024"},
	} {
		c := e.say(t, pr, "alice", tt.body)
		if !strings.Contains(c.Body, tt.want) || !strings.Contains(c.Body, "**atoll could not read that command:**") {
			t.Errorf("%s: the answer lacks %q:\n%.2000s", tt.name, tt.want, c.Body)
		}
		// The reason, and the usage after it.
		if len(c.Body) > len(workflows.Usage)+500 {
			t.Errorf("%s: an answer of %d bytes:\n%.2000s…", tt.name, len(c.Body), c.Body)
		}
	}
}
