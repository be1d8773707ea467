package server

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/atoll-iac/atoll/runner"
	"github.com/atoll-iac/atoll/runner/plans"
	"github.com/atoll-iac/atoll/runner/queue"
	"github.com/atoll-iac/atoll/runner/report"
	"github.com/atoll-iac/atoll/vcs"
	"github.com/atoll-iac/atoll/vcs/github"
	"github.com/atoll-iac/atoll/workflows"
)

// TestApplyThatTookItsServerDownTwice restarts a server whose `atoll
// apply` crashed it twice: an apply caught applying is answered as
// interrupted, its outcome unknown, as after one crash; one that had
// not begun to apply is given up on. Neither applies.
func TestApplyThatTookItsServerDownTwice(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// applying has the crashed runs leave the project being applied.
		applying bool
		// want is in the answer; status is atoll/apply's.
		want, status, description string
	}{
		{name: "while applying", applying: true, want: "**atoll was interrupted while applying**",
			status: "atoll/apply: ./default", description: "interrupted: outcome unknown"},
		{name: "before applying", want: "**atoll stopped twice while running this command**",
			status: "atoll/apply", description: "atoll went down running it twice; not run again"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			gh, dataDir, configure, first, pr := plannedOnAServer(t)
			first.shutDown(t, 30*time.Second)
			if tt.applying {
				pull := plans.Pull{Forge: "github", Repo: pr.Repo, Number: pr.Number}
				if _, err := plans.NewLocal(filepath.Join(dataDir, "plans")).UpdateRecords(t.Context(), pull, func(r *plans.Record) bool {
					r.State = plans.Applying
					return true
				}); err != nil {
					t.Fatal(err)
				}
			}
			forge, err := github.New(github.Config{Token: testToken, APIURL: gh.APIURL()})
			if err != nil {
				t.Fatal(err)
			}
			running, err := forge.Comment(t.Context(), vcs.Repo{FullName: pr.Repo}, pr.Number, report.Running("apply", workflows.Command{}))
			if err != nil {
				t.Fatal(err)
			}
			ev := captureEvent(t, gh, "issue_comment", gh.Payload(t, "issue_comment", "created", pr, "bob", "atoll apply"))
			queueCrashedTask(t, dataDir, ev, 2, running)

			second := newTestEnv(t, testOptions{gh: gh, configure: configure})
			cs := second.waitComments(t, pr, 2)
			if len(cs) != 2 || cs[1].ID != running || !strings.Contains(cs[1].Body, tt.want) {
				t.Fatalf("want the running comment %d edited into an answer holding %q, got %+v", running, tt.want, cs)
			}
			if st := second.status(pr.Repo, pr.HeadSHA, tt.status); st.State != "failure" || st.Description != tt.description {
				t.Errorf("%s status = %+v, want failure: %s", tt.status, st, tt.description)
			}
			second.shutDown(t, 30*time.Second)
			if n := pendingTasks(t, dataDir); n != 0 {
				t.Errorf("%d tasks left, want the apply done with", n)
			}
		})
	}
}

// queueCrashedTask records ev as a task in the embedded store under
// dataDir, which crashes workers took in turn, each dying before it was
// done: the store, opened again, finds their claims held. The last noted
// comment, unless 0.
func queueCrashedTask(t *testing.T, dataDir string, ev vcs.Event, crashes int, comment int64) {
	t.Helper()
	path := filepath.Join(dataDir, "tasks.db")
	group, body, err := runner.Order{JobID: "crashed", Forge: "github", Event: ev}.Task()
	if err != nil {
		t.Fatal(err)
	}
	for i := range crashes + 1 {
		tasks, err := queue.OpenBolt(path)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			if _, err := tasks.Enqueue(t.Context(), group, body); err != nil {
				t.Fatal(err)
			}
		}
		if i < crashes {
			consumer := fmt.Sprintf("crashed %d", i)
			task, ok, err := tasks.Claim(t.Context(), consumer, time.Hour, 0)
			if err != nil || !ok {
				t.Fatalf("Claim = %v, %v", ok, err)
			}
			if comment != 0 {
				if err := tasks.Note(t.Context(), task.ID, consumer, fmt.Sprint(comment)); err != nil {
					t.Fatal(err)
				}
			}
		}
		tasks.Close()
	}
}
