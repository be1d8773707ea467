package runner

import (
	"context"
	"fmt"

	"github.com/atoll-iac/atoll/runner/workspace"
	"github.com/atoll-iac/atoll/vcs"
	"github.com/atoll-iac/atoll/workflows"
)

// fetchFailed answers a job whose checkout the forge would not serve
// (workspace.FetchError, tried again already when it looked passing): the
// plan or apply status of the head commit fails, so that a required check
// does not wait for ever, and the pull request is told how to try again.
// cmd is the comment's command; zero for an autoplan.
func (j *Job) fetchFailed(ctx context.Context, cmd workflows.Command, fe *workspace.FetchError) error {
	command := cmd.Name
	if j.Event.Type != vcs.CommentCreated {
		command = "plan"
	}
	retry := "comment the command again"
	if command == "plan" || command == "apply" {
		retry = fmt.Sprintf("comment `atoll %s`", command)
	}
	j.failCommand(ctx, command, "could not check out the pull request")
	answered := "failed"
	if fe.Status != 0 {
		answered = fmt.Sprintf("answered HTTP %d", fe.Status)
	}
	if fe.Tries > 1 {
		answered += fmt.Sprintf(", %d times in a row", fe.Tries)
	}
	short := fe.SHA[:min(len(fe.SHA), 12)]
	if fe.Transient {
		return &userError{err: fe, msg: fmt.Sprintf("**atoll could not check out this pull request** (job `%s`): fetching commit `%s`, the forge %s. That is most likely the forge's passing trouble, not the change's: to try again, %s.", j.ID, short, answered, retry)}
	}
	return &userError{err: fe, msg: fmt.Sprintf("**atoll could not check out this pull request** (job `%s`): fetching commit `%s`, the forge %s. Check that the commit is still there and that atoll may read the repository; then, to try again, %s.", j.ID, short, answered, retry)}
}
