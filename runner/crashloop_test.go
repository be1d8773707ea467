package runner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/atoll-iac/atoll/runner/queue"
	"github.com/atoll-iac/atoll/runner/tool"
	"github.com/atoll-iac/atoll/vcs"
	"github.com/atoll-iac/atoll/vcs/github"
	"github.com/atoll-iac/atoll/vcs/vcstest"
)

// TestJobThatTakesItsServerDown runs a task whose earlier runs ended in
// each way a run ends unfinished, and checks that after two crashes, and
// only then, its job is answered rather than run again.
func TestJobThatTakesItsServerDown(t *testing.T) {
	t.Parallel()
	const gaveUp = "**atoll stopped twice while"
	tests := []struct {
		name string
		// comment is the command the task runs; an autoplan when "".
		comment string
		// runs are how the earlier runs ended: "crash" (the claim was
		// left, as a killed process leaves it), "release" (handed
		// back on purpose, as a shutdown or a lost store does) or
		// "late" (released once the next run has the task, as a
		// worker whose store was away longer than the claim does).
		runs []string
		// running has the last run note the running comment it posted.
		running bool
		// want is in the job's one comment; status is what atoll/plan
		// ends as, "" for not set.
		want, status string
	}{
		{name: "autoplan after two crashes", runs: []string{"crash", "crash"},
			want: gaveUp + " planning this pull request**", status: "failure"},
		{name: "plan command after two crashes edits its running comment", comment: "atoll plan", runs: []string{"crash", "crash"}, running: true,
			want: gaveUp + " running this command**", status: "failure"},
		{name: "help after two crashes", comment: "atoll help", runs: []string{"crash", "crash"},
			want: gaveUp + " running this command**"},
		{name: "help after one crash runs", comment: "atoll help", runs: []string{"crash"},
			want: "atoll plan"},
		{name: "help after a crash and a store outage runs", comment: "atoll help", runs: []string{"crash", "late"},
			want: "atoll plan"},
		{name: "help after a crash and two shutdowns runs", comment: "atoll help", runs: []string{"release", "crash", "release"},
			want: "atoll plan"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			gh := vcstest.NewGitHub(t, vcstest.GitHubOptions{Token: "t0ken"})
			gh.CreateRepo(t, "acme/infra", nil)
			gh.SetPermission("acme/infra", "alice", "write")
			pr := gh.OpenPull(t, "acme/infra", vcstest.PullSpec{Files: map[string]string{"main.tf": "# x\n"}})
			forge, err := github.New(github.Config{Token: "t0ken", APIURL: gh.APIURL()})
			if err != nil {
				t.Fatal(err)
			}
			repo := vcs.Repo{FullName: pr.Repo}
			ev := vcs.Event{Type: vcs.PullOpened, Repo: repo, Pull: vcs.PullRequest{Repo: repo, Number: pr.Number, HeadSHA: pr.HeadSHA, Open: true}}
			if tt.comment != "" {
				id := gh.PostComment(t, pr, "alice", tt.comment)
				ev.Type, ev.Comment = vcs.CommentCreated, vcs.Comment{ID: id, Body: tt.comment, Author: "alice"}
			}
			var note int64
			if tt.running {
				if note, err = forge.Comment(t.Context(), repo, pr.Number, "⏳ Running plan for this pull request's projects…"); err != nil {
					t.Fatal(err)
				}
			}
			path := filepath.Join(t.TempDir(), "tasks.db")
			late := queueRuns(t, path, Order{JobID: "j1", Forge: "github", Event: ev}, tt.runs, note)

			r := New(Config{Forges: []vcs.Forge{forge}, Redactor: tool.NewRedactor(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			store, err := queue.OpenBolt(path)
			if err != nil {
				t.Fatal(err)
			}
			defer store.Close()
			pool := queue.NewPool(queue.PoolConfig{Store: store, Handler: r.Handle, ClaimTTL: 2 * time.Second})
			pool.Start()
			defer pool.Stop(context.Background())
			if late != nil {
				// Once the task runs again, most likely; before the
				// run gives up on it, surely.
				time.Sleep(300 * time.Millisecond)
				if err := store.Release(t.Context(), *late, "late"); err != nil && !errors.Is(err, queue.ErrNotHeld) {
					t.Fatal(err)
				}
			}
			gh.WaitFor(t, 30*time.Second, "the task to be done", func() bool {
				n, err := store.Pending(t.Context())
				return err == nil && n == 0
			})

			cs := gh.Comments(pr.Repo, pr.Number)
			if len(cs) != 1 || !strings.Contains(cs[0].Body, tt.want) {
				t.Fatalf("comments = %+v, want one holding %q", cs, tt.want)
			}
			if tt.running && cs[0].ID != note {
				t.Errorf("the answer is comment %d, not the running comment %d edited", cs[0].ID, note)
			}
			if strings.Contains(tt.want, gaveUp) && !strings.Contains(cs[0].Body, "job `j1`") {
				t.Errorf("the answer does not name the job:\n%s", cs[0].Body)
			}
			var status string
			for _, st := range gh.Statuses(pr.Repo, pr.HeadSHA) {
				if st.Context == "atoll/plan" {
					status = st.State
				}
			}
			if status != tt.status {
				t.Errorf("atoll/plan status = %q, want %q", status, tt.status)
			}
		})
	}
}

// queueRuns records o as a task in the bbolt store at path, and has it
// claimed once for each of runs, which end as it says: "crash" leaves the
// claim held, as a process killed leaves it, which the store, opened
// again, voids; "release" hands the task back; "late" is a crash whose
// task is returned, for the caller to release later. The last run notes
// comment, unless 0.
func queueRuns(t *testing.T, path string, o Order, runs []string, comment int64) (late *queue.Task) {
	t.Helper()
	group, body, err := o.Task()
	if err != nil {
		t.Fatal(err)
	}
	store, err := queue.OpenBolt(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.Enqueue(t.Context(), group, body); err != nil {
		t.Fatal(err)
	}
	for i, run := range runs {
		consumer := fmt.Sprintf("run %d", i)
		task, ok, err := store.Claim(t.Context(), consumer, time.Hour, 0)
		if err != nil || !ok {
			t.Fatalf("Claim = %v, %v", ok, err)
		}
		if i == len(runs)-1 && comment != 0 {
			if err := store.Note(t.Context(), task.ID, consumer, fmt.Sprint(comment)); err != nil {
				t.Fatal(err)
			}
		}
		switch run {
		case "release":
			if err := store.Release(t.Context(), task, consumer); err != nil {
				t.Fatal(err)
			}
		case "late":
			late = &task
			fallthrough
		case "crash":
			store.Close()
			if store, err = queue.OpenBolt(path); err != nil {
				t.Fatal(err)
			}
		}
	}
	store.Close()
	return late
}
