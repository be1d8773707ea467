package server

import (
	"strings"
	"testing"

	"github.com/atoll-iac/atoll/vcs/vcstest"
)

// A pull request's code reads other pull requests' checkouts, and the
// data directory with the server's stores and plans, through plain HCL:
// confined, it reads neither. Unconfined, the same code does: the attack
// is real.
func TestPullRequestsCannotReadEachOther(t *testing.T) {
	t.Parallel()
	const secret = "hunter2-of-the-first-pull-request"
	// From DATA/repos/github/acme/infra/@2/default/repo/attack: another
	// directory than the first pull request's, which that one locks.
	const attack = `
output "other" {
  value = file("${path.cwd}/../../../../@1/default/repo/secret.auto.tfvars")
}
output "stores" {
  value = join(",", fileset("${path.cwd}/../../../../../../../..", "*.db"))
}
`
	for _, mode := range []SandboxMode{SandboxRequired, SandboxOff} {
		t.Run(string(mode), func(t *testing.T) {
			t.Parallel()
			e := newTestEnv(t, testOptions{configure: func(c *Config) { c.Sandbox = mode }})
			e.planned(t, map[string]string{
				"main.tf":            "variable \"secret\" {}\n" + oneResource,
				"secret.auto.tfvars": `secret = "` + secret + `"` + "\n",
			})
			pr := e.f.OpenPull(t, "acme/infra", vcstest.PullSpec{Author: "mallory", Files: map[string]string{"attack/main.tf": attack}})
			e.f.SendPullRequest(t, e.events, "opened", pr)
			body := e.waitComments(t, pr, 1)[0].Body
			leaked := strings.Contains(body, secret) || strings.Contains(body, "locks.db")
			switch {
			case mode == SandboxOff && !leaked:
				t.Fatalf("unconfined, the attack read nothing: it does not test the sandbox:\n%s", body)
			case mode != SandboxOff && leaked:
				t.Errorf("a pull request read another's files or the server's stores:\n%s", body)
			case mode != SandboxOff && !strings.Contains(body, "plan failed"):
				t.Errorf("the attack's plan should fail:\n%s", body)
			}
		})
	}
}
