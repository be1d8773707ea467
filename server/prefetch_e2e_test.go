package server

import (
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/atoll-iac/atoll/vcs/vcstest"
)

// Pull requests queued behind others have their commits fetched as they
// are queued, before a worker takes them, from where the repository was
// fetched before: their jobs then fetch nothing.
func TestQueuedPullsArePrefetched(t *testing.T) {
	t.Parallel()
	dataDir := t.TempDir()
	gh := newTestGitHub(t)
	first := newTestEnv(t, testOptions{gh: gh, configure: func(c *Config) { c.DataDir = dataDir }})
	first.planned(t, map[string]string{"main.tf": oneResource}) // where the repository comes from
	first.shutDown(t, 10*time.Second)

	e := newTestEnv(t, testOptions{gh: gh, idle: true, configure: func(c *Config) { c.DataDir = dataDir }})
	var prs []vcstest.Pull
	for _, dir := range []string{"a", "b", "c"} {
		pr := gh.OpenPull(t, "acme/infra", vcstest.PullSpec{Files: map[string]string{dir + "/main.tf": oneResource}})
		mustStatus(t, gh.SendPullRequest(t, e.events, "opened", pr), http.StatusAccepted, "queued")
		prs = append(prs, pr)
	}
	refs := filepath.Join(dataDir, "repos", "github", "acme", "infra", "@objects", "refs", "atoll")
	gh.WaitFor(t, waitLong, "the queued pull requests' commits in the object store", func() bool {
		for _, pr := range prs {
			if _, err := os.Stat(filepath.Join(refs, strconv.Itoa(pr.Number), pr.HeadSHA)); err != nil {
				return false
			}
		}
		return true
	})
	fetched := gh.Connections().Git
	e.server.Start()
	for _, pr := range prs {
		if c := e.waitComments(t, pr, 1)[0]; !strings.Contains(c.Body, "Plan: 1 to add") {
			t.Errorf("#%d's plan:\n%s", pr.Number, c.Body)
		}
	}
	if n := gh.Connections().Git - fetched; n != 0 {
		t.Errorf("the jobs made %d git connections to the forge, want none: their commits were fetched", n)
	}
}
