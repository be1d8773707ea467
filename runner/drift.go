package runner

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/atoll-iac/atoll/runner/report"
	"github.com/atoll-iac/atoll/vcs"
)

// A drift check is a RefRun "drift": a plan of every project of a
// repository's default branch, whose result is not a plan to apply but
// the answer to "does the real infrastructure still match the code?".
// A project whose plan changes anything has drifted. The check says so
// in a commit status on the branch's head (DriftStatus) and hands its
// report to the runner's DriftRecorder.

// DriftStatus is the context of the commit status a drift check sets.
const DriftStatus = "atoll/drift"

// DriftOperator is who asks for drift checks: the user their locks and
// records name. No user of the web UI or the API may take it.
const DriftOperator = "drift"

// DriftRecorder keeps what drift checks found, for the web UI and API,
// and for the next check of the repository.
type DriftRecorder interface {
	RecordDrift(ctx context.Context, r DriftReport) error
	// LastDrift is the last report of repo on forge; false when none.
	LastDrift(ctx context.Context, forge, repo string) (DriftReport, bool, error)
}

// DriftLabel marks the issue in which atoll lists what drifted.
const DriftLabel = "atoll-drift"

// DriftReport is what one drift check of a repository found.
type DriftReport struct {
	Forge string    `json:"forge"`
	Repo  string    `json:"repo"`
	Ref   string    `json:"ref"`
	SHA   string    `json:"sha"`
	Job   string    `json:"job"`
	Time  time.Time `json:"time"`
	// Projects are the projects checked, in the order they ran.
	Projects []DriftProject `json:"projects"`
	// Issue is the number of the repository's drift issue, where the
	// forge keeps issues and one was opened; 0 for none.
	Issue int `json:"issue,omitempty"`
}

// Drifted counts the projects found drifted.
func (r DriftReport) Drifted() int { return r.Count(Drifted) }

// Count counts the projects found in state.
func (r DriftReport) Count(state string) int {
	n := 0
	for _, p := range r.Projects {
		if p.State == state {
			n++
		}
	}
	return n
}

// DriftProject is what a drift check found of one project.
type DriftProject struct {
	Dir       string `json:"dir"`
	Workspace string `json:"workspace"`
	Name      string `json:"name,omitempty"`
	// State is Drifted, InSync, or Unknown: not checked (locked by a
	// pull request, say) or its plan failed.
	State string `json:"state"`
	// Summary is the plan's summary line, or why it is unknown.
	Summary string `json:"summary"`
}

// What a drift check finds of a project.
const (
	Drifted = "drifted"
	InSync  = "in_sync"
	Unknown = "unknown"
)

// driftReport is the report of the drift check whose plans gave results.
func (j *Job) driftReport(results []report.Result) DriftReport {
	r := DriftReport{Forge: j.Forge.Name(), Repo: j.Pull.Repo.FullName, Ref: j.refRun.Ref, SHA: j.Pull.HeadSHA, Job: j.ID, Time: time.Now().UTC()}
	for _, res := range results {
		p := DriftProject{Dir: res.Project.Dir, Workspace: res.Project.Workspace, Name: res.Name, State: Unknown, Summary: res.StatusDescription()}
		if res.Outcome == report.Succeeded {
			p.State = Drifted
			if strings.HasPrefix(res.Summary, "No changes.") {
				p.State = InSync
			}
		}
		r.Projects = append(r.Projects, p)
	}
	return r
}

// reportDrift sets the branch head's drift status (failure while a
// project drifts, success once none does and every project could be
// checked), keeps the repository's drift issue, and then the report.
func (j *Job) reportDrift(ctx context.Context, results []report.Result) {
	r := j.driftReport(results)
	ctx, cancel := reportContext(ctx)
	defer cancel()
	if len(results) == 0 {
		// A repository with no project: nothing to say on it.
		if j.r.drift != nil {
			if err := j.r.drift.RecordDrift(ctx, r); err != nil {
				j.Log.Error("recording the drift check", "err", err)
			}
		}
		return
	}
	// The report is kept last: once it is there, all is said.
	if j.r.drift != nil {
		prev, _, err := j.r.drift.LastDrift(ctx, r.Forge, r.Repo)
		if err != nil {
			j.Log.Warn("reading the last drift check", "err", err)
		}
		r.Issue = j.driftIssue(ctx, r, prev.Issue)
		defer func() {
			if err := j.r.drift.RecordDrift(ctx, r); err != nil {
				j.Log.Error("recording the drift check", "err", err)
			}
		}()
	}
	unknown := r.Count(Unknown)
	st := vcs.Status{Context: DriftStatus, State: vcs.Success, Description: fmt.Sprintf("no drift in %d projects", len(r.Projects))}
	switch {
	case r.Drifted() > 0:
		st.State, st.Description = vcs.Failure, fmt.Sprintf("%d of %d projects drifted", r.Drifted(), len(r.Projects))
	case unknown > 0:
		st.State, st.Description = vcs.Failure, fmt.Sprintf("%d of %d projects could not be checked", unknown, len(r.Projects))
	}
	if err := j.Forge.SetStatus(ctx, j.Pull.Repo, j.Pull.HeadSHA, st); err != nil {
		j.Log.Error("setting the drift status", "err", err)
	}
	j.Log.Info("drift checked", "drifted", r.Drifted(), "projects", len(r.Projects))
}

// driftIssue keeps the repository's drift issue as r says, where the
// forge keeps issues: opened (or updated, reopened) listing what drifted
// while anything does, closed once every project is in sync. number is
// the issue the last check kept, if any; else atoll looks for its open
// issue by DriftLabel, so that it finds it again after losing its store.
// It returns the issue's number now; 0 for none.
func (j *Job) driftIssue(ctx context.Context, r DriftReport, number int) int {
	issues, ok := j.Forge.(vcs.IssueTracker)
	if !ok {
		return 0
	}
	if number == 0 {
		found, ok, err := issues.FindIssue(ctx, j.Pull.Repo, DriftLabel)
		if err != nil {
			j.Log.Warn("looking for the drift issue", "err", err)
		} else if ok {
			number = found.Number
		}
	}
	drifted := r.Drifted()
	switch {
	case drifted == 0 && number == 0:
		return 0
	case drifted == 0:
		if r.Count(InSync) < len(r.Projects) {
			return number // not known to be fixed: the issue stays as it is
		}
		if err := issues.CloseIssue(ctx, j.Pull.Repo, number, fmt.Sprintf("No project drifts any more: atoll's drift check of `%s` at %.7s (job `%s`) found every project in sync.", r.Ref, r.SHA, r.Job)); err != nil {
			j.Log.Error("closing the drift issue", "issue", number, "err", err)
			return number
		}
		return 0
	}
	title, body := driftIssueText(r)
	if number != 0 {
		err := issues.UpdateIssue(ctx, j.Pull.Repo, number, title, body)
		if !errors.Is(err, vcs.ErrNotFound) {
			if err != nil {
				j.Log.Error("updating the drift issue", "issue", number, "err", err)
			}
			return number
		}
		j.Log.Warn("the drift issue is gone; opening another", "issue", number)
	}
	opened, err := issues.OpenIssue(ctx, j.Pull.Repo, title, body, DriftLabel)
	if err != nil {
		j.Log.Error("opening the drift issue", "err", err)
		return 0
	}
	return opened.Number
}

// driftIssueText is the title and body of the drift issue that r
// describes: a line per project that drifted, with its plan's summary.
func driftIssueText(r DriftReport) (title, body string) {
	n := r.Drifted()
	verb := "match"
	if n == 1 {
		verb = "matches"
	}
	title = fmt.Sprintf("Drift: %d project%s of %s no longer %s the code", n, plural(n), r.Ref, verb)
	var b strings.Builder
	fmt.Fprintf(&b, "atoll's drift check of `%s` at %.7s (job `%s`, %s) found the real infrastructure different from the code:\n\n", r.Ref, r.SHA, r.Job, r.Time.Format("2006-01-02 15:04 UTC"))
	b.WriteString("| project | workspace | what a plan would do |\n| --- | --- | --- |\n")
	for _, p := range r.Projects {
		if p.State != Drifted {
			continue
		}
		name := "`" + p.Dir + "`"
		if p.Name != "" {
			name = fmt.Sprintf("`%s` (`%s`)", p.Name, p.Dir)
		}
		fmt.Fprintf(&b, "| %s | `%s` | %s |\n", name, p.Workspace, strings.ReplaceAll(p.Summary, "|", "\\|"))
	}
	fmt.Fprintf(&b, "\nThe job's output has each plan (the web UI's job page, or `GET /api/jobs/%s`). Apply the code, or change it to match, and the next check closes this issue.\n", r.Job)
	return title, b.String()
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
