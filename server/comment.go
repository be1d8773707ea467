package server

import (
	"context"
	"fmt"
	"strings"

	"github.com/atoll-iac/atoll/vcs"
	"github.com/atoll-iac/atoll/workflows"
)

// command runs a comment command: parseErr is what ParseComment said of it.
func (s *Server) command(ctx context.Context, jc jobContext, forge vcs.Forge, ev vcs.Event, cmd Command, parseErr error) error {
	// No comment of atoll's starts with the command word, so a forge that
	// cannot say who atoll is (a GitHub App token cannot) is no loop risk.
	self, err := forge.CurrentUser(ctx)
	if err != nil {
		jc.log.Warn("cannot tell atoll's own comments apart", "err", err)
	}
	if self != "" && strings.EqualFold(ev.Comment.Author, self) {
		jc.log.Debug("ignoring atoll's own comment")
		return nil
	}
	if parseErr != nil {
		return userErrorf("**atoll could not read that command:** %v.\n\n%s", parseErr, usage)
	}
	jc.log = jc.log.With("command", cmd.Name, "user", ev.Comment.Author)
	switch cmd.Name {
	case "help":
		_, err := forge.Comment(ctx, ev.Repo, ev.Pull.Number, usage)
		return err
	case "plan":
		pull, err := forge.PullRequest(ctx, ev.Repo, ev.Pull.Number)
		if err != nil {
			return err
		}
		if !pull.Open {
			return userErrorf("This pull request is closed: atoll plans only open pull requests.")
		}
		var targets []workflows.Project
		if cmd.Dir != "" || cmd.Workspace != "" {
			targets = []workflows.Project{{Dir: or(cmd.Dir, "."), Workspace: or(cmd.Workspace, workflows.DefaultWorkspace)}}
		}
		return s.plan(ctx, jc, planRequest{forge: forge, pull: pull, user: ev.Comment.Author, targets: targets})
	}
	return fmt.Errorf("command %q parsed but not handled", cmd.Name)
}

func or(s, fallback string) string {
	if s == "" {
		return fallback
	}
	return s
}
