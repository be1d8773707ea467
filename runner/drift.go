package runner

import (
	"context"
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

// DriftRecorder keeps what drift checks found, for the web UI and API.
type DriftRecorder interface {
	RecordDrift(ctx context.Context, r DriftReport) error
}

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
}

// Drifted counts the projects found drifted.
func (r DriftReport) Drifted() int {
	n := 0
	for _, p := range r.Projects {
		if p.State == Drifted {
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

// reportDrift keeps the drift check's report and sets the branch head's
// drift status: failure while a project drifts, success once none does
// and every project could be checked.
func (j *Job) reportDrift(ctx context.Context, results []report.Result) {
	r := j.driftReport(results)
	ctx, cancel := reportContext(ctx)
	defer cancel()
	if j.r.drift != nil {
		if err := j.r.drift.RecordDrift(ctx, r); err != nil {
			j.Log.Error("recording the drift check", "err", err)
		}
	}
	unknown := len(r.Projects) - r.Drifted()
	for _, p := range r.Projects {
		if p.State == InSync {
			unknown--
		}
	}
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
