package runner

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/atoll-iac/atoll/runner/plans"
	"github.com/atoll-iac/atoll/runner/report"
	"github.com/atoll-iac/atoll/vcs"
	"github.com/atoll-iac/atoll/workflows"
)

// approvePolicies runs `atoll approve_policies`: the commenter approves,
// for each plan of the pull request's head that a policy set denied, the
// sets they own (as one of the policies' owners or of the set's). A plan
// is applied once each set that denied it has its approve_count. The
// pull request's author cannot approve their own; a new commit makes new
// plans, which start with no approval.
func (j *Job) approvePolicies(ctx context.Context) error {
	pol := j.r.policy.RepoConfig.Policies
	switch {
	case pol == nil:
		return userErrorf("This server checks no policies: there is nothing to approve.")
	case strings.EqualFold(j.User, j.Pull.Author):
		return userErrorf("@%s, you opened this pull request: another of the policies' owners must approve them.", j.User)
	}
	owns := map[string]bool{}
	for _, s := range pol.Sets {
		owns[s.Name] = j.owner(ctx, pol.Owners) || j.owner(ctx, s.Owners)
	}
	var waiting bool
	var approved []plans.Record
	changed, err := j.r.plans.UpdateRecords(ctx, j.plansPull(), func(rec *plans.Record) bool {
		if !rec.Unapplied() || rec.SHA != j.Pull.HeadSHA || len(j.r.unapproved(*rec)) == 0 {
			return false
		}
		waiting = true
		did := false
		for _, set := range rec.PolicyDenied {
			if owns[set] && !slices.ContainsFunc(rec.PolicyApprovals[set], func(u string) bool { return strings.EqualFold(u, j.User) }) {
				if rec.PolicyApprovals == nil {
					rec.PolicyApprovals = map[string][]string{}
				}
				rec.PolicyApprovals[set] = append(rec.PolicyApprovals[set], j.User)
				did = true
			}
		}
		return did
	})
	if err != nil {
		return err
	}
	switch {
	case !waiting:
		return userErrorf("No plan of this pull request's latest commit waits for a policy approval.")
	case len(changed) == 0:
		return userErrorf("@%s, you own none of the policy sets that wait for your approval, or approved them already.", j.User)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "**@%s approved the policies they own.**\n\n", j.User)
	for _, rec := range changed {
		left := j.r.unapproved(rec)
		title := report.Result{Project: workflows.Project{Dir: rec.Dir, Workspace: rec.Workspace}, Name: rec.Name}.Title()
		if len(left) == 0 {
			approved = append(approved, rec)
			fmt.Fprintf(&b, "- %s in workspace `%s`: every policy that denied it is approved; it can be applied.\n", title, rec.Workspace)
		} else {
			fmt.Fprintf(&b, "- %s in workspace `%s`: still waits for `%s`.\n", title, rec.Workspace, strings.Join(left, "`, `"))
		}
	}
	for _, rec := range approved {
		j.setStatus(ctx, "policy", rec.Target, vcs.Success, "denied, then approved by the policies' owners")
	}
	j.Log.Info("policies approved", "plans", len(changed), "cleared", len(approved))
	_, err = j.reply.Finish(ctx, b.String())
	return err
}

// unapproved names the policy sets that denied rec and lack approvals.
func (r *Runner) unapproved(rec plans.Record) []string {
	var left []string
	for _, set := range rec.PolicyDenied {
		need := 1
		if pol := r.policy.RepoConfig.Policies; pol != nil {
			if i := slices.IndexFunc(pol.Sets, func(s workflows.PolicySet) bool { return s.Name == set }); i >= 0 {
				need = pol.Sets[i].ApproveCount
			}
		}
		if len(rec.PolicyApprovals[set]) < need {
			left = append(left, set)
		}
	}
	return left
}

// owner reports whether the job's user is one of o: one of its users, or
// a member of one of its teams, "org/team" or, as Atlantis writes them,
// a team of the repository's owner.
func (j *Job) owner(ctx context.Context, o workflows.Owners) bool {
	teams := make([]string, len(o.Teams))
	for i, t := range o.Teams {
		if !strings.Contains(t, "/") {
			owner, _, _ := strings.Cut(j.Pull.Repo.FullName, "/")
			t = owner + "/" + t
		}
		teams[i] = t
	}
	users := slices.DeleteFunc(slices.Clone(o.Users), func(u string) bool { return strings.Contains(u, "/") })
	return j.listed(ctx, append(users, teams...))
}
