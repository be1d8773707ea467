package vcstest

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// mrDiff is one changed file of a merge request, as the diffs endpoint
// lists it.
type mrDiff struct {
	OldPath       string `json:"old_path"`
	NewPath       string `json:"new_path"`
	AMode         string `json:"a_mode"`
	BMode         string `json:"b_mode"`
	Diff          string `json:"diff"`
	NewFile       bool   `json:"new_file"`
	RenamedFile   bool   `json:"renamed_file"`
	DeletedFile   bool   `json:"deleted_file"`
	GeneratedFile bool   `json:"generated_file"`
}

// snapshot copies a merge request's record, and counts its notes, so
// that it can be read without the lock.
func (g *GitLab) snapshot(p *project, iid int) (mergeRequest, int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	mr := *g.mrLocked(p.path, iid)
	mr.approvals = slices.Clone(mr.approvals)
	n := 0
	for _, nt := range g.notes {
		if nt.project == p.path && nt.noteable == "MergeRequest" && nt.iid == iid {
			n++
		}
	}
	return mr, n
}

// getMR answers GET merge_requests/:iid, with diverged_commits_count
// when include_diverged_commits_count=true asks for it.
func (g *GitLab) getMR(w http.ResponseWriter, r *http.Request) {
	p, mr := g.mrFor(w, r)
	if mr == nil {
		return
	}
	diverged, _ := strconv.ParseBool(r.URL.Query().Get("include_diverged_commits_count"))
	out, err := g.mrJSON(r.Context(), p, mr.Number, diverged)
	if err != nil {
		glError(w, http.StatusInternalServerError, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// mrJSON is merge request iid of p as GET merge_requests/:iid shows it to
// the bot: mrBasicJSON and what only a single merge request has, with
// diverged_commits_count when diverged asks for it.
func (g *GitLab) mrJSON(ctx context.Context, p *project, iid int, diverged bool) (map[string]any, error) {
	mr, notes := g.snapshot(p, iid)
	diffs, err := g.mrDiffs(ctx, p, mr.baseSHA, mr.HeadSHA)
	if err != nil {
		return nil, err
	}
	changes := strconv.Itoa(len(diffs))
	if g.diffMaxFiles > 0 && len(diffs) > g.diffMaxFiles {
		changes = strconv.Itoa(g.diffMaxFiles) + "+"
	}
	g.mu.Lock()
	botLevel, _ := g.projectAccessLocked(p.path, g.bot)
	g.mu.Unlock()

	out := g.mrBasicJSON(p, mr, notes)
	maps.Copy(out, mrDetailFields)
	out["changes_count"] = changes
	out["diff_refs"] = map[string]any{"base_sha": mr.baseSHA, "head_sha": mr.HeadSHA, "start_sha": mr.startSHA}
	out["user"] = map[string]any{"can_merge": botLevel >= accessLevels["developer"]}
	if diverged {
		n := 0
		if mr.Open {
			if n, err = g.countCommits(ctx, p.bare, mr.HeadSHA, "refs/heads/main"); err != nil {
				return nil, err
			}
		}
		out["diverged_commits_count"] = n
	}
	return out, nil
}

// mrBasicJSON is a merge request as a list of merge requests shows it:
// what GitLab's MergeRequestBasic entity has, without the diff, the
// pipelines and the bot's abilities a single merge request adds.
func (g *GitLab) mrBasicJSON(p *project, mr mergeRequest, notes int) map[string]any {
	g.mu.Lock()
	sourceID := p.id
	if mr.Fork != "" {
		if fp := g.projects[mr.Fork]; fp != nil {
			sourceID = fp.id
		} else {
			sourceID = g.forks[mr.Fork]
		}
	}
	g.mu.Unlock()

	var removeSource any
	if mr.removeSource != nil {
		removeSource = *mr.removeSource
	}
	ref := fmt.Sprintf("!%d", mr.Number)
	out := map[string]any{
		"id":                          mr.id,
		"iid":                         mr.Number,
		"project_id":                  p.id,
		"title":                       mr.fullTitle(),
		"state":                       mr.state(),
		"created_at":                  apiTime(mr.created),
		"updated_at":                  apiTime(mr.updated),
		"closed_at":                   apiTime(mr.closedAt),
		"target_branch":               "main",
		"source_branch":               mr.Branch,
		"user_notes_count":            notes,
		"author":                      g.userBasic(mr.Author),
		"source_project_id":           sourceID,
		"target_project_id":           p.id,
		"draft":                       mr.Draft,
		"work_in_progress":            mr.Draft,
		"merge_status":                mr.mergeStatus(),
		"detailed_merge_status":       mr.detailedStatus(),
		"sha":                         mr.HeadSHA,
		"should_remove_source_branch": removeSource,
		"prepared_at":                 apiTime(mr.created),
		"reference":                   ref,
		"references":                  map[string]any{"short": ref, "relative": ref, "full": p.path + ref},
		"web_url":                     g.mrURL(p.path, mr.Number),
		"has_conflicts":               mr.conflict,
	}
	maps.Copy(out, mrFixedFields)
	maps.Copy(out, g.mrEndFields(mr))
	return out
}

// mrFixedFields are the fields of a merge request the fake holds no state
// for, as GitLab shows them for a plain merge request.
var mrFixedFields = map[string]any{
	"description":                   "",
	"upvotes":                       0,
	"downvotes":                     0,
	"assignees":                     []any{},
	"assignee":                      nil,
	"reviewers":                     []any{},
	"labels":                        []any{},
	"imported":                      false,
	"imported_from":                 "none",
	"milestone":                     nil,
	"merge_when_pipeline_succeeds":  false,
	"discussion_locked":             nil,
	"force_remove_source_branch":    false,
	"time_stats":                    map[string]any{"time_estimate": 0, "total_time_spent": 0, "human_time_estimate": nil, "human_total_time_spent": nil},
	"squash":                        false,
	"squash_on_merge":               false,
	"task_completion_status":        map[string]any{"count": 0, "completed_count": 0},
	"blocking_discussions_resolved": true,
}

// mrDetailFields are those fields that only a single merge request has.
var mrDetailFields = map[string]any{
	"subscribed":                      false,
	"latest_build_started_at":         nil,
	"latest_build_finished_at":        nil,
	"first_deployed_to_production_at": nil,
	"pipeline":                        nil,
	"head_pipeline":                   nil,
	"merge_error":                     nil,
	"first_contribution":              false,
}

// mrEndFields are the fields of a merge request that say how it ended:
// who merged or closed it, when, and into which commits.
func (g *GitLab) mrEndFields(mr mergeRequest) map[string]any {
	user := func(name string) any {
		if name == "" {
			return nil
		}
		return g.userBasic(name)
	}
	var mergedBy, closedBy, mergeSHA, squashSHA, mergedAt any
	if m := mr.merged; m != nil {
		mergedBy, mergedAt = user(m.by), apiTime(m.at)
		if m.sha != "" {
			mergeSHA = m.sha
		}
		if m.squashSHA != "" {
			squashSHA = m.squashSHA
		}
	} else if !mr.Open {
		closedBy = user(mr.Author)
	}
	return map[string]any{
		"merged_by":         mergedBy,
		"merge_user":        mergedBy,
		"merged_at":         mergedAt,
		"closed_by":         closedBy,
		"merge_commit_sha":  mergeSHA,
		"squash_commit_sha": squashSHA,
	}
}

// mrURL is a merge request's page.
func (g *GitLab) mrURL(path string, iid int) string {
	return fmt.Sprintf("%s/-/merge_requests/%d", g.webURL(path), iid)
}

// listDiffs answers merge_requests/:iid/diffs a page at a time: the
// files changed from diff_refs' base to the head, as of the last push.
func (g *GitLab) listDiffs(w http.ResponseWriter, r *http.Request) {
	p, mr := g.mrFor(w, r)
	if mr == nil {
		return
	}
	g.mu.Lock()
	base, head := mr.baseSHA, mr.HeadSHA
	g.mu.Unlock()
	diffs, err := g.mrDiffs(r.Context(), p, base, head)
	if err != nil {
		glError(w, http.StatusInternalServerError, err.Error())
		return
	}
	if g.diffMaxFiles > 0 && len(diffs) > g.diffMaxFiles {
		diffs = diffs[:g.diffMaxFiles]
	}
	lo, hi := g.paginate(w, r, len(diffs))
	writeJSON(w, http.StatusOK, append([]mrDiff{}, diffs[lo:hi]...))
}

// mrDiffs is the diff from base to head in p, a file at a time, with
// real git: renames detected, modes as GitLab writes them ("0" for none),
// and each file's patch from its first hunk on.
func (g *GitLab) mrDiffs(ctx context.Context, p *project, base, head string) ([]mrDiff, error) {
	key := [2]string{base, head}
	g.mu.Lock()
	cached, ok := g.diffs[key]
	g.mu.Unlock()
	if ok {
		return cached, nil
	}
	changes, err := g.rawChanges(ctx, p.bare, base, head)
	if err != nil {
		return nil, err
	}
	patch, err := g.git(ctx, p.bare, nil, "diff", "-M", "--no-color", "--no-ext-diff", "--no-textconv", base, head)
	if err != nil {
		return nil, err
	}
	patches := splitPatch(patch)
	if len(patches) != len(changes) {
		return nil, fmt.Errorf("git diff: %d files in --raw, %d in the patch", len(changes), len(patches))
	}
	diffs := make([]mrDiff, len(changes))
	for i, c := range changes {
		d := mrDiff{OldPath: c.path, NewPath: c.path, AMode: fileMode(c.oldMode), BMode: fileMode(c.newMode), Diff: patches[i]}
		switch c.status {
		case 'A':
			d.NewFile = true
		case 'D':
			d.DeletedFile = true
		case 'R':
			d.OldPath, d.RenamedFile = c.oldPath, true
		case 'C':
			d.OldPath = c.oldPath
		}
		diffs[i] = d
	}
	g.mu.Lock()
	g.diffs[key] = diffs
	g.mu.Unlock()
	return diffs, nil
}

// splitPatch cuts `git diff` output into one patch per file, each from its
// first hunk ("@@ …") or binary notice on, as GitLab's diff field holds
// it; "" for a file whose mode or name alone changed.
func splitPatch(out string) []string {
	var patches []string
	for _, section := range strings.SplitAfter(out, "\ndiff --git ") {
		if strings.TrimSpace(section) == "" {
			continue
		}
		section = strings.TrimSuffix(section, "diff --git ")
		body := ""
		for i := 0; i < len(section); {
			line, _, _ := strings.Cut(section[i:], "\n")
			if strings.HasPrefix(line, "@@") || strings.HasPrefix(line, "Binary files ") {
				body = section[i:]
				break
			}
			i += len(line) + 1
		}
		patches = append(patches, body)
	}
	return patches
}

// fileMode is a mode from `git diff --raw` as GitLab writes it: octal
// without leading zeros, "0" for a file that is not there.
func fileMode(m string) string {
	n, err := strconv.ParseUint(m, 8, 32)
	if err != nil {
		return m
	}
	return strconv.FormatUint(n, 8)
}
