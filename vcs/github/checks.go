package github

import (
	"context"
	"fmt"
	"time"

	gh "github.com/google/go-github/v60/github"

	"github.com/atoll-iac/atoll/vcs"
)

var _ vcs.CheckReporter = (*App)(nil)

// maxCheckText is the most GitHub takes in a check run's summary or text.
const maxCheckText = 65535

// maxCheckRunIDs bounds the check runs whose ids the forge remembers:
// past it, it forgets them all, and a later update creates a run anew
// (GitHub shows the latest of a name).
const maxCheckRunIDs = 10000

// MaxCheckText implements vcs.CheckReporter.
func (a *App) MaxCheckText() int { return maxCheckText }

// SetCheckRun implements vcs.CheckReporter: GitHub takes check runs from
// Apps only. A run this forge created is updated; one created by another
// replica, or before a restart, is created again, and GitHub shows the
// latest.
func (a *App) SetCheckRun(ctx context.Context, repo vcs.Repo, sha string, run vcs.CheckRun) error {
	f := a.Forge
	owner, name := splitRepo(repo.FullName)
	key := repo.FullName + "@" + sha + "/" + run.Name
	status, conclusion := checkStatus(run.State)
	output := &gh.CheckRunOutput{Title: gh.String(run.Title), Summary: gh.String(run.Summary)}
	if run.Text != "" {
		output.Text = gh.String(run.Text)
	}
	now := gh.Timestamp{Time: time.Now()}
	var completed *gh.Timestamp
	if status == "completed" {
		completed = &now
	}
	f.mu.Lock()
	id, known := f.checkRuns[key]
	f.mu.Unlock()
	if known {
		_, _, err := f.client.Checks.UpdateCheckRun(ctx, owner, name, id, gh.UpdateCheckRunOptions{
			Name: run.Name, Status: gh.String(status), Conclusion: conclusion, CompletedAt: completed, Output: output})
		if err != nil {
			return fmt.Errorf("github: updating check run %q on %s@%.7s: %w", run.Name, repo.FullName, sha, err)
		}
		return nil
	}
	cr, _, err := f.client.Checks.CreateCheckRun(ctx, owner, name, gh.CreateCheckRunOptions{
		Name: run.Name, HeadSHA: sha, Status: gh.String(status), Conclusion: conclusion,
		StartedAt: &now, CompletedAt: completed, Output: output})
	if err != nil {
		return fmt.Errorf("github: creating check run %q on %s@%.7s: %w", run.Name, repo.FullName, sha, err)
	}
	f.mu.Lock()
	if len(f.checkRuns) >= maxCheckRunIDs {
		clear(f.checkRuns)
	}
	f.checkRuns[key] = cr.GetID()
	f.mu.Unlock()
	return nil
}

// checkStatus is the check run status and conclusion that say s.
func checkStatus(s vcs.State) (status string, conclusion *string) {
	switch s {
	case vcs.Running:
		return "in_progress", nil
	case vcs.Pending:
		return "queued", nil
	case vcs.Success:
		return "completed", gh.String("success")
	}
	return "completed", gh.String("failure")
}
