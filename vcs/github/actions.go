package github

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"

	"github.com/atoll-iac/atoll/vcs"
)

// maxEventFile is the largest event file read: GitHub caps webhook
// payloads at 25 MB, and an event file is one.
const maxEventFile = 25 << 20

// ActionsDelivery is the webhook GitHub would have sent for the event that
// started a GitHub Actions job, from the job's environment (getenv): the
// event file at GITHUB_EVENT_PATH is the webhook's payload, and
// GITHUB_EVENT_NAME its event (pull_request_target is pull_request). Its
// delivery id is derived from the run, so a re-run repeats it. With
// secret, it is signed as GitHub signs webhooks. ok is false outside
// GitHub Actions.
func ActionsDelivery(getenv func(string) string, secret string) (d vcs.Delivery, ok bool, err error) {
	if getenv("GITHUB_ACTIONS") != "true" {
		return vcs.Delivery{}, false, nil
	}
	event, path := getenv("GITHUB_EVENT_NAME"), getenv("GITHUB_EVENT_PATH")
	if event == "" || path == "" {
		return vcs.Delivery{}, true, fmt.Errorf("github: GITHUB_EVENT_NAME and GITHUB_EVENT_PATH are not both set: not a GitHub Actions job's environment")
	}
	if event == "pull_request_target" {
		event = "pull_request"
	}
	body, err := readEventFile(path)
	if err != nil {
		return vcs.Delivery{}, true, err
	}
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", "atoll-forward")
	h.Set("X-GitHub-Event", event)
	h.Set("X-GitHub-Delivery", vcs.DerivedID("github-actions", getenv("GITHUB_REPOSITORY"), getenv("GITHUB_RUN_ID"), event))
	if secret != "" {
		mac := hmac.New(sha256.New, []byte(secret))
		mac.Write(body)
		h.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(mac.Sum(nil)))
	}
	return vcs.Delivery{Header: h, Body: body}, true, nil
}

// readEventFile reads the regular file at path, up to maxEventFile.
func readEventFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("github: reading the event file: %w", err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("github: the event file %s is not a regular file", path)
	}
	body, err := io.ReadAll(io.LimitReader(f, maxEventFile+1))
	switch {
	case err != nil:
		return nil, fmt.Errorf("github: reading the event file: %w", err)
	case len(body) > maxEventFile:
		return nil, fmt.Errorf("github: the event file %s is larger than %d MB", path, maxEventFile>>20)
	}
	return body, nil
}
