package server

import (
	"strings"
	"testing"

	"github.com/atoll-iac/atoll/vcs/vcstest"
)

// A pull request's files are hostile: a config that is a link to
// /dev/zero gets a config error, not a server that allocates until it is
// killed, and the server goes on serving; a -var-file that is a link to
// a file of the server is refused, one inside the repository used.
func TestHostileCheckoutFiles(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, testOptions{configure: func(c *Config) { c.AllowedExtraArgs = []string{"-var-file="} }})
	pr := e.planned(t, map[string]string{
		"main.tf":       "variable \"env\" {\n  default = \"dev\"\n}\n" + oneResource,
		"prod.tfvars":   "env = \"prod\"\n",
		"passwd.tfvars": vcstest.Symlink("/etc/passwd"),
	})
	zero := e.f.OpenPull(t, "acme/infra", vcstest.PullSpec{Files: map[string]string{
		"main.tf":       oneResource,
		"atlantis.yaml": vcstest.Symlink("/dev/zero"),
	}})
	e.f.SendPullRequest(t, e.events, "opened", zero)
	if c := e.waitComments(t, zero, 1)[0]; !strings.Contains(c.Body, "cannot use this repository's config") || !strings.Contains(c.Body, "atlantis.yaml: is a symbolic link; atoll reads only regular files") {
		t.Errorf("a config linked to /dev/zero:\n%s", c.Body)
	}

	c := e.say(t, pr, "alice", "atoll plan -- -var-file=passwd.tfvars")
	if !strings.Contains(c.Body, "Nothing ran: the tool argument `-var-file=passwd.tfvars` names no regular file inside the repository") || strings.Contains(c.Body, "root:") {
		t.Errorf("a -var-file linked to /etc/passwd:\n%s", c.Body)
	}
	if c := e.say(t, pr, "alice", "atoll plan -- -var-file=prod.tfvars"); !strings.Contains(c.Body, "Plan: 1 to add, 0 to change, 0 to destroy.") {
		t.Errorf("a -var-file in the repository:\n%s", c.Body)
	}
}
