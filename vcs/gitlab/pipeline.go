package gitlab

import (
	"cmp"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"

	"github.com/atoll-iac/atoll/vcs"
)

// noCommit is GitLab CI's CI_COMMIT_BEFORE_SHA when there is no commit
// before: in a merge request pipeline, always.
const noCommit = "0000000000000000000000000000000000000000"

// PipelineDelivery is the Merge Request Hook GitLab would have sent for a
// merge request pipeline's commit (an update with new commits), from the
// job's environment (getenv): GitLab CI sends no webhook of its own. Its
// delivery id is derived from the pipeline, so a retried job repeats it.
// With secret, it carries it as X-Gitlab-Token. ok is false outside
// GitLab CI; a pipeline that is not a merge request's is an error.
func PipelineDelivery(getenv func(string) string, secret string) (d vcs.Delivery, ok bool, err error) {
	if getenv("GITLAB_CI") != "true" {
		return vcs.Delivery{}, false, nil
	}
	mr, err := PipelineMergeRequest(getenv)
	if err != nil {
		return vcs.Delivery{}, true, err
	}
	body, err := json.Marshal(mergeRequestHook(getenv, mr))
	if err != nil {
		return vcs.Delivery{}, true, err
	}
	id := vcs.DerivedID("gitlab-ci", mr.Repo.FullName, getenv("CI_PIPELINE_ID"))
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", "atoll-forward")
	h.Set("X-Gitlab-Event", "Merge Request Hook")
	h.Set("X-Gitlab-Event-UUID", id)
	h.Set("Idempotency-Key", id)
	if secret != "" {
		h.Set("X-Gitlab-Token", secret)
	}
	return vcs.Delivery{Header: h, Body: body}, true, nil
}

// PipelineMergeRequest is the merge request a merge request pipeline runs
// for, as far as the job's environment (getenv) tells.
func PipelineMergeRequest(getenv func(string) string) (vcs.PullRequest, error) {
	if src := getenv("CI_PIPELINE_SOURCE"); src != "merge_request_event" {
		return vcs.PullRequest{}, fmt.Errorf("gitlab: this is not a merge request pipeline (CI_PIPELINE_SOURCE is %q, not merge_request_event): add `rules: [if: $CI_PIPELINE_SOURCE == \"merge_request_event\"]` to the job", src)
	}
	iid, err := strconv.Atoi(getenv("CI_MERGE_REQUEST_IID"))
	if err != nil || iid <= 0 {
		return vcs.PullRequest{}, fmt.Errorf("gitlab: CI_MERGE_REQUEST_IID %q is not a merge request's iid", getenv("CI_MERGE_REQUEST_IID"))
	}
	path, sha := getenv("CI_PROJECT_PATH"), getenv("CI_COMMIT_SHA")
	if path == "" || sha == "" {
		return vcs.PullRequest{}, fmt.Errorf("gitlab: CI_PROJECT_PATH and CI_COMMIT_SHA are not both set")
	}
	return vcs.PullRequest{
		Repo:    vcs.Repo{FullName: path, CloneURL: getenv("CI_PROJECT_URL") + ".git"},
		Number:  iid,
		HeadSHA: sha,
		BaseRef: getenv("CI_MERGE_REQUEST_TARGET_BRANCH_NAME"),
		HeadRef: getenv("CI_MERGE_REQUEST_SOURCE_BRANCH_NAME"),
		URL:     getenv("CI_PROJECT_URL") + "/-/merge_requests/" + strconv.Itoa(iid),
		Author:  getenv("GITLAB_USER_LOGIN"),
		Open:    true,
	}, nil
}

// mergeRequestHook is the payload of a Merge Request Hook for an update
// of mr with new commits, in the fields GitLab documents.
func mergeRequestHook(getenv func(string) string, mr vcs.PullRequest) map[string]any {
	projectID, _ := strconv.Atoi(getenv("CI_MERGE_REQUEST_PROJECT_ID"))
	sourceID, _ := strconv.Atoi(getenv("CI_MERGE_REQUEST_SOURCE_PROJECT_ID"))
	before := getenv("CI_COMMIT_BEFORE_SHA")
	if before == "" || before == noCommit {
		// GitLab sends the head before the push; a merge request
		// pipeline does not know it, and only its presence counts.
		before = cmp.Or(getenv("CI_MERGE_REQUEST_DIFF_BASE_SHA"), mr.HeadSHA)
	}
	// No updated_at: the pipeline does not know when the merge request
	// last changed, and "now" would rank a retried job's old commit
	// above what came since.
	return map[string]any{
		"object_kind": "merge_request",
		"event_type":  "merge_request",
		"user":        map[string]any{"username": mr.Author, "name": getenv("GITLAB_USER_NAME")},
		"project": map[string]any{
			"id": projectID, "path_with_namespace": mr.Repo.FullName,
			"web_url": getenv("CI_PROJECT_URL"), "git_http_url": mr.Repo.CloneURL,
		},
		"object_attributes": map[string]any{
			"iid": mr.Number, "action": "update", "state": "opened", "oldrev": before,
			"last_commit":   map[string]any{"id": mr.HeadSHA},
			"source_branch": mr.HeadRef, "target_branch": mr.BaseRef,
			"source_project_id": sourceID, "target_project_id": projectID,
			"title": getenv("CI_MERGE_REQUEST_TITLE"), "url": mr.URL,
		},
	}
}
