// Package plans owns what a plan leaves for its apply: a record of each
// project's latest plan in a pull request (commit, tool, state), the plan
// file, and the ids of the comments that showed the plans. A Store keeps
// them on this machine (Local) or, for replicas, in Redis (Redis), so
// that a plan made on one replica is applied on another.
package plans

import (
	"cmp"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/atoll-iac/atoll/runner/tool"
)

// Record is what atoll keeps of a project's latest plan in a pull
// request, beside the plan file itself.
type Record struct {
	Dir       string
	Workspace string
	// Name is the project's name in the repository config, if any.
	Name string
	// SHA is the commit that was planned.
	SHA string
	// Tool planned, and must apply.
	Tool tool.Tool
	// ToolVersion is Tool's release when it planned.
	ToolVersion string
	// User asked for the plan.
	User  string
	Time  time.Time
	State State
	// Summary is the tool's summary line of the last plan or apply.
	Summary string
	// Target is how commit statuses name the project ("DIR/WORKSPACE").
	Target string
	// JobID is the job that made the plan: a run of the same job after an
	// interruption finds what it already planned.
	JobID string
	// PlanSum is the SHA-256 of the plan file as its plan left it: an
	// apply runs that file or none. Empty in records from before it was
	// kept.
	PlanSum string `json:",omitempty"`
	// InitLeftNothing is set when, once planned, the project had no
	// .terraform in the checkout it was planned in: its init had nothing
	// to keep (no provider, module or backend to set up), so an apply in
	// that checkout needs none.
	InitLeftNothing bool `json:",omitempty"`
	// PolicyDenied names the policy sets that denied the plan: it is
	// applied only once each has the approvals of enough of its owners
	// (PolicyApprovals, by set).
	PolicyDenied    []string            `json:",omitempty"`
	PolicyApprovals map[string][]string `json:",omitempty"`
	// StaleBy is the pull request whose apply made the plan Stale.
	StaleBy int `json:",omitempty"`
}

// State is where a project's plan stands.
type State string

// Plan states.
const (
	// PlanFailed: the last plan failed; there is no plan file.
	PlanFailed State = "plan_failed"
	// Planned: the plan file waits to be applied.
	Planned State = "planned"
	// ApplyFailed: applying failed; the plan file is kept for another try.
	ApplyFailed State = "apply_failed"
	// Applied: the plan was applied and its file deleted.
	Applied State = "applied"
	// Applying: the plan is being applied.
	Applying State = "applying"
	// ApplyUnknown: applying was interrupted (atoll stopped midway), so
	// whether it went through is unknown; the plan is not applied again.
	ApplyUnknown State = "apply_unknown"
	// Stale: another pull request's apply of the project changed its
	// state after this plan was made (Record.StaleBy); the plan is not
	// applied.
	Stale State = "stale"
)

// Unapplied reports whether the record holds a plan file waiting to be
// applied.
func (r Record) Unapplied() bool { return r.State == Planned || r.State == ApplyFailed }

// Key names the plan the record is of, within its workspace.
func (r Record) Key() Key { return Key{Dir: r.Dir, Name: r.Name} }

// Key names a project's plan in a workspace: by the project's name when
// it has one (two named projects may share a directory), else by its
// directory relative to the repository root.
type Key struct {
	Dir, Name string
}

// path is where the files of k's plan start, relative to their
// workspace's directory of plans.
func (k Key) path() string {
	// Escaped, a name or directory is one path element; the prefix keeps
	// "." and ".." from meaning anything.
	if k.Name != "" {
		return "by-name" + string(filepath.Separator) + url.PathEscape(k.Name)
	}
	return "by-dir" + string(filepath.Separator) + url.PathEscape(k.Dir)
}

// sortRecords orders records by workspace, directory and name.
func sortRecords(recs []Record) {
	slices.SortFunc(recs, func(a, b Record) int {
		return cmp.Or(strings.Compare(a.Workspace, b.Workspace), strings.Compare(a.Dir, b.Dir), strings.Compare(a.Name, b.Name))
	})
}
