package server

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode"

	"github.com/atoll-iac/atoll/runner"
	"github.com/atoll-iac/atoll/runner/workspace"
	"github.com/atoll-iac/atoll/vcs"
	"github.com/atoll-iac/atoll/workflows"
)

// Work on a commit of a repository rather than on a pull request, asked
// for through the API: a plan, or a plan and its apply, of named
// projects (runner.RefRun).

// maxRunProjects bounds the projects one run may name.
const maxRunProjects = 50

// Why RunRef queues nothing, for its caller to answer.
var (
	// errNoSuchRef: the forge has no such repository or ref, or does not
	// show it to atoll.
	errNoSuchRef = errors.New("no such repository or ref")
	// errNotAllowed: the repository is not in --repo-allowlist.
	errNotAllowed = errors.New("repository not allowed")
	// errForge: the forge did not answer.
	errForge = errors.New("the forge did not answer")
	// errNoRefs: the forge cannot say which commit a ref names.
	errNoRefs = errors.New("the forge cannot resolve refs")
)

// runRequest is what a run on a ref asks for, checked (checkRun) but
// not yet resolved.
type runRequest struct {
	forge vcs.Forge
	repo  string
	ref   string
	run   runner.RefRun
}

// checkRun checks what a caller asks to run on ref of repo on forge
// (empty when the server has one forge), and says what is wrong in a
// sentence for the caller.
func (s *Server) checkRun(forge, repo, ref string, run runner.RefRun) (runRequest, error) {
	req := runRequest{repo: repo, ref: ref, run: run}
	switch {
	case forge == "" && len(s.forges) == 1:
		req.forge = s.forges[0]
	case forge == "":
		return req, errors.New("forge is required: this server serves more than one")
	default:
		if req.forge = s.forge(forge); req.forge == nil {
			return req, fmt.Errorf("this server serves no forge %q", forge)
		}
	}
	// The names a checkout may have are those a repository may have.
	if _, err := workspace.PullPath(req.forge.Name(), repo, 0); err != nil || len(repo) > 255 {
		return req, errors.New(`repo must be a repository's full name, "owner/name"`)
	}
	if err := checkRef(ref); err != nil {
		return req, err
	}
	switch {
	case len(run.Projects) > maxRunProjects:
		return req, fmt.Errorf("projects may name at most %d projects; none for all", maxRunProjects)
	case len(run.Projects) == 0 && run.Command == "apply":
		return req, errors.New("an apply names its projects: none means all for a plan, never for an apply")
	}
	for i, p := range run.Projects {
		switch {
		case p.Project != "" && (p.Dir != "" || p.Workspace != ""):
			return req, fmt.Errorf("project %d: give a name, or a dir and workspace, not both", i+1)
		case p.Project != "":
			if len(p.Project) > 255 || strings.ContainsFunc(p.Project, unicode.IsControl) {
				return req, fmt.Errorf("project %d: the name is not one a config can give", i+1)
			}
		default:
			dir, err := workflows.CleanDir(p.Dir)
			if err != nil || p.Dir == "" || len(p.Dir) > 1024 || strings.ContainsFunc(p.Dir, unicode.IsControl) {
				return req, fmt.Errorf("project %d: dir must be a directory in the repository, relative to its root", i+1)
			}
			if p.Workspace == "" {
				p.Workspace = workflows.DefaultWorkspace
			}
			if err := workflows.ValidateWorkspace(p.Workspace); err != nil {
				return req, fmt.Errorf("project %d: %v", i+1, err)
			}
			req.run.Projects[i].Dir, req.run.Projects[i].Workspace = dir, p.Workspace
		}
	}
	return req, nil
}

// checkRef says what is wrong with ref as a branch, tag or commit name,
// if anything: "" is the default branch.
func checkRef(ref string) error {
	if len(ref) > 255 || strings.HasPrefix(ref, "-") || strings.Contains(ref, "..") || strings.ContainsFunc(ref, notInRef) {
		return errors.New("ref must be a branch, a tag or a commit")
	}
	return nil
}

// notInRef reports whether r may not be in a ref's name.
func notInRef(r rune) bool {
	return unicode.IsControl(r) || unicode.IsSpace(r) || strings.ContainsRune(`\~^:?*[`, r)
}

// queueRun queues req's run, on operator's word, given via "API": the
// ref is resolved to its commit now, and the job runs on that. It
// returns the job's id and the commit.
func (s *Server) queueRun(ctx context.Context, req runRequest, operator, via string) (string, vcs.Ref, error) {
	if !s.allow.Allows(req.repo) {
		return "", vcs.Ref{}, errNotAllowed
	}
	resolver, ok := req.forge.(vcs.RefResolver)
	if !ok {
		return "", vcs.Ref{}, errNoRefs
	}
	ref, err := resolver.ResolveRef(ctx, req.repo, req.ref)
	switch {
	case errors.Is(err, vcs.ErrNotFound):
		return "", vcs.Ref{}, fmt.Errorf("%w: %v", errNoSuchRef, err)
	case err != nil:
		return "", vcs.Ref{}, fmt.Errorf("%w: %v", errForge, err)
	case !s.allow.Allows(ref.Repo.FullName):
		return "", vcs.Ref{}, errNotAllowed // a name the forge spells otherwise
	}
	id := newJobID()
	if _, err := s.enqueue(ctx, runner.RefOrder(id, req.forge.Name(), ref, req.run, operator, via)); err != nil {
		return "", vcs.Ref{}, fmt.Errorf("queueing the run: %w", err)
	}
	s.log.Info("queued", "job", id, "forge", req.forge.Name(), "repo", ref.Repo.FullName, "ref", ref.Name, "sha", ref.SHA,
		"work", req.run.Command, "operator", operator)
	return id, ref, nil
}
