package main

import (
	"fmt"
	"maps"
	"net/http"
	"strings"
	"time"

	"github.com/atoll-iac/atoll/runner/report"
	"github.com/atoll-iac/atoll/vcs/vcstest"
)

// The people of the story. Everyone has write access to the sample
// repository, as on a team's repository.
const (
	author   = "alice"
	reviewer = "bob"
	you      = "you"
)

// How long a step may wait for atoll: a plan or an apply of the sample's
// stacks takes a second or two; a loaded machine, much longer.
const answerTimeout = 3 * time.Minute

// story plays the pull request's life and checks each step's outcome;
// its error says which step went wrong, and how.
func (dr *drive) story() error {
	steps := []struct {
		title string
		run   func()
	}{
		{"alice changes the shared module modules/tags in a pull request", dr.openTagsPull},
		{"bob asks atoll to apply it before anyone approved it", dr.applyUnapproved},
		{"bob approves the pull request and asks again", dr.approveAndApply},
		{"alice merges the pull request", dr.mergeTagsPull},
		{"you open a pull request of your own, changing stacks/dns", dr.openYourPull},
	}
	for i, s := range steps {
		dr.out.step(i+1, s.title)
		if err := dr.t.do(s.run); err != nil {
			dr.out.poll(dr)
			return fmt.Errorf("step %d, %s: %w", i+1, s.title, err)
		}
		dr.out.poll(dr)
	}
	dr.out.storyDone(dr)
	return nil
}

func (dr *drive) openTagsPull() {
	tags := dr.edited("modules/tags/main.tf", `team    = "platform"`, "team    = \"platform\"\n    owner   = \"alice\"")
	pr := dr.gh.OpenPull(dr.t, sampleRepo, vcstest.PullSpec{Author: author, Branch: "tag-owner", Files: tags})
	dr.pull, dr.files = pr, withChanges(dr.main, tags)
	dr.out.act(author, "opens pull request #%d: modules/tags/main.tf gains an owner tag", pr.Number)
	dr.send("pull_request opened", dr.gh.SendPullRequest(dr.t, dr.events, "opened", pr))
	c := dr.answer(pr, 0)
	dr.out.firstPlan(time.Since(dr.started))
	dr.expect(c.Body, "2 of 2 projects succeeded", "`stacks/app`", "`stacks/network`", "Plan: 1 to add, 0 to change, 0 to destroy.")
	if strings.Contains(c.Body, "stacks/dns") {
		dr.t.Fatalf("stacks/dns, which does not use the module, was planned:\n%s", c.Body)
	}
	dr.expectStatus(pr, "atoll/plan", "success")
}

func (dr *drive) applyUnapproved() {
	pr := dr.gh.Pull(sampleRepo, 1)
	c := dr.comment(pr, reviewer, "atoll apply")
	dr.expect(c.Body, "will not apply yet", "**approved**")
}

func (dr *drive) approveAndApply() {
	pr := dr.gh.Pull(sampleRepo, 1)
	dr.approve(pr)
	c := dr.comment(pr, reviewer, "atoll apply")
	dr.expect(c.Body, "2 of 2 projects succeeded", "Apply complete! Resources: 1 added, 0 changed, 0 destroyed.")
	dr.expectStatus(pr, "atoll/apply", "success")
}

func (dr *drive) mergeTagsPull() {
	pr := dr.gh.Merge(dr.t, sampleRepo, 1, author)
	dr.out.act(author, "merges pull request #%d into main", pr.Number)
	dr.main = dr.files
	n := len(dr.gh.Comments(sampleRepo, pr.Number))
	dr.send("pull_request closed", dr.gh.SendPullRequest(dr.t, dr.events, "closed", pr))
	c := dr.answer(pr, n)
	dr.expect(c.Body, "cleaned up after this pull request", "Locks released", "`stacks/app`", "`stacks/network`")
}

func (dr *drive) openYourPull() {
	dr.openPull(dr.edited("stacks/dns/main.tf", `"acme.internal"`, `"acme.example"`), "stacks/dns/main.tf names another zone")
	c := dr.answer(dr.pull, 0)
	dr.expect(c.Body, "`stacks/dns`", "Plan: 1 to add, 0 to change, 0 to destroy.")
	if strings.Contains(c.Body, "stacks/app") {
		dr.t.Fatalf("stacks/app, which the pull request does not change, was planned:\n%s", c.Body)
	}
}

// openPull opens a pull request of yours changing files on main, tells
// atoll, and makes it the one the prompt's commands go to.
func (dr *drive) openPull(files map[string]string, what string) {
	pr := dr.gh.OpenPull(dr.t, sampleRepo, vcstest.PullSpec{Author: you, Files: files})
	dr.out.act(you, "open pull request #%d: %s", pr.Number, what)
	dr.pull, dr.files = pr, withChanges(dr.main, files)
	dr.send("pull_request opened", dr.gh.SendPullRequest(dr.t, dr.events, "opened", pr))
}

// edited returns the change to file of main that replaces old with new.
func (dr *drive) edited(file, old, new string) map[string]string {
	content := dr.main[file]
	if !strings.Contains(content, old) {
		dr.t.Fatalf("the sample's %s has no %q to change", file, old)
	}
	return map[string]string{file: strings.Replace(content, old, new, 1)}
}

// withChanges returns files with changes made.
func withChanges(files, changes map[string]string) map[string]string {
	out := maps.Clone(files)
	maps.Copy(out, changes)
	return out
}

// approve has the reviewer approve pr.
func (dr *drive) approve(pr vcstest.Pull) {
	dr.gh.Review(dr.t, sampleRepo, pr.Number, reviewer, "APPROVED")
	dr.out.act(reviewer, "approves pull request #%d", pr.Number)
}

// comment has user comment body on pr, and returns atoll's answer.
func (dr *drive) comment(pr vcstest.Pull, user, body string) vcstest.Comment {
	n := len(dr.gh.Comments(pr.Repo, pr.Number))
	dr.out.act(user, "comments on #%d: %s", pr.Number, body)
	dr.send("issue_comment created", dr.gh.SendPullComment(dr.t, dr.events, pr, user, body))
	return dr.answer(pr, n)
}

// send reports a webhook delivery, which atoll must have queued.
func (dr *drive) send(event string, d vcstest.Delivery) {
	dr.out.delivered(event, d)
	if d.Status != http.StatusAccepted {
		dr.t.Fatalf("atoll answered the %s webhook with %d %s, not 202", event, d.Status, strings.TrimSpace(d.Body))
	}
}

// answer waits for atoll's answer on pr after its first n comments: the
// comment that says the job is running, once it holds the result.
func (dr *drive) answer(pr vcstest.Pull, n int) vcstest.Comment {
	var answer vcstest.Comment
	dr.wait("atoll's answer on #"+fmt.Sprint(pr.Number), func() bool {
		cs := dr.gh.Comments(pr.Repo, pr.Number)
		if len(cs) <= n || !report.Answers(cs[n].Body) {
			return false
		}
		answer = cs[n]
		return true
	})
	return answer
}

// wait polls cond until it holds, failing the step if it does not within
// answerTimeout or the drive is stopped.
func (dr *drive) wait(what string, cond func() bool) {
	deadline := time.Now().Add(answerTimeout)
	for !cond() {
		switch {
		case dr.t.ctx.Err() != nil:
			dr.t.Fatalf("stopped while waiting for %s", what)
		case time.Now().After(deadline):
			dr.t.Fatalf("no sign of %s after %s", what, answerTimeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// expect fails the step unless body holds every one of wants.
func (dr *drive) expect(body string, wants ...string) {
	for _, want := range wants {
		if !strings.Contains(body, want) {
			dr.t.Fatalf("atoll's answer lacks %q", want)
		}
	}
}

// expectStatus fails the step unless pr's head has status context in
// state.
func (dr *drive) expectStatus(pr vcstest.Pull, context, state string) {
	for _, s := range dr.gh.Statuses(pr.Repo, pr.HeadSHA) {
		if s.Context == context {
			if s.State != state {
				dr.t.Fatalf("status %s is %s (%s), not %s", context, s.State, s.Description, state)
			}
			return
		}
	}
	dr.t.Fatalf("no status %s on #%d's head", context, pr.Number)
}
