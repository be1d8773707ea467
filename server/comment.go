package server

import (
	"context"
	"fmt"
	"strings"

	"github.com/atoll-iac/atoll/vcs"
)

// command runs a comment command: parseErr is what ParseComment said of it.
// Nothing runs for atoll's own comments, for commenters without the right
// to run commands, or for pull requests atoll must not run.
func (s *Server) command(ctx context.Context, jc *jobContext, forge vcs.Forge, ev vcs.Event, cmd Command, parseErr error) error {
	// No comment of atoll's starts with the command word, so a forge that
	// cannot say who atoll is (a GitHub App token cannot) is no loop risk.
	self, err := forge.CurrentUser(ctx)
	if err != nil {
		jc.log.Warn("cannot tell atoll's own comments apart", "err", err)
	}
	user := ev.Comment.Author
	if self != "" && strings.EqualFold(user, self) {
		jc.log.Debug("ignoring atoll's own comment")
		return nil
	}
	// Who wrote what is taken from the forge, not from the payload, which
	// is only as good as its signature.
	held, err := forge.GetComment(ctx, ev.Repo, ev.Comment.ID)
	if err != nil {
		return err
	}
	if !strings.EqualFold(held.Author, user) || held.Body != ev.Comment.Body {
		jc.log.Warn("comment in the webhook differs from the forge's; ignoring it", "comment", ev.Comment.ID, "forge_author", held.Author)
		return nil
	}
	ok, err := s.mayComment(ctx, jc, forge, ev.Repo, user)
	if err != nil {
		return err
	}
	if !ok {
		jc.log.Info("commenter may not run commands", "user", user)
		if len(s.commenters) > 0 {
			return userErrorf("@%s, you may not run atoll commands in this repository: only the users and teams this server allows may.", user)
		}
		return userErrorf("@%s, you may not run atoll commands in this repository: that takes write access to it.", user)
	}
	if parseErr != nil {
		return userErrorf("**atoll could not read that command:** %v.\n\n%s", parseErr, usage)
	}
	jc.log = jc.log.With("command", cmd.Name, "user", user)
	if cmd.Name == "help" {
		_, err := forge.Comment(ctx, ev.Repo, ev.Pull.Number, usage)
		return err
	}
	pull, err := forge.PullRequest(ctx, ev.Repo, ev.Pull.Number)
	if err != nil {
		return err
	}
	switch cmd.Name {
	case "unlock":
		return s.unlock(ctx, jc, forge, pull)
	case "version":
		return s.version(ctx, jc, forge, pull)
	}
	if !pull.Open {
		return userErrorf("This pull request is closed: atoll runs nothing on it.")
	}
	if pull.Fork && !s.allowForks {
		return errForkRefused
	}
	switch cmd.Name {
	case "plan":
		return s.plan(ctx, jc, planRequest{forge: forge, pull: pull, user: user, sel: cmd, extra: cmd.Extra})
	case "apply":
		return s.apply(ctx, jc, forge, pull, user, cmd)
	}
	return fmt.Errorf("command %q parsed but not handled", cmd.Name)
}
