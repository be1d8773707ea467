package runner

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/atoll-iac/atoll/runner/plans"
	"github.com/atoll-iac/atoll/vcs"
)

// automergeIfDone merges the pull request once every plan of it is
// applied, and deletes its branch when its config says so.
func (j *Job) automergeIfDone(ctx context.Context, rc repoConfig) {
	recs, err := j.r.plans.Records(ctx, j.plansPull())
	if err != nil {
		j.Log.Error("reading plan records", "err", err)
		return
	}
	if len(recs) == 0 || slices.ContainsFunc(recs, func(rec plans.Record) bool { return rec.State != plans.Applied }) {
		return
	}
	merger, ok := j.Forge.(vcs.Merger)
	if !ok {
		j.Log.Warn("automerge is on, but the forge cannot merge")
		return
	}
	pull := j.Pull
	body := "Every plan of this pull request is applied: **atoll merged it**."
	if err := merger.Merge(ctx, pull); err != nil {
		j.Log.Error("automerge", "err", err)
		body = "Every plan of this pull request is applied, but atoll could not merge it: merge it by hand."
	} else if rc.deleteBranch(recs) && !pull.Fork {
		if err := j.deleteBranch(ctx); err != nil {
			j.Log.Error("deleting the merged branch", "branch", pull.HeadRef, "err", err)
			body += fmt.Sprintf(" It could not delete the branch `%s`, though.", pull.HeadRef)
		} else {
			body += fmt.Sprintf(" Its branch `%s` is deleted.", pull.HeadRef)
		}
	}
	if _, err := j.Forge.Comment(ctx, pull.Repo, pull.Number, body); err != nil {
		j.Log.Error("commenting on automerge", "err", err)
	}
}

// deleteBranch deletes the merged pull request's branch, where the forge
// can.
func (j *Job) deleteBranch(ctx context.Context) error {
	d, ok := j.Forge.(vcs.BranchDeleter)
	if !ok {
		return errors.New("runner: the forge cannot delete branches")
	}
	return d.DeleteBranch(ctx, j.Pull)
}
