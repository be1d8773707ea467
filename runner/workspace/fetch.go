package workspace

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// How a fetch the forge failed is tried again: fetchTries in all, the
// waits between them doubling from fetchBackoff. A forge's hiccup (a 500,
// a dropped connection) seldom lasts the few seconds this takes.
const (
	fetchTries   = 4
	fetchBackoff = 500 * time.Millisecond
)

// FetchError is a commit the forge did not serve: after fetchTries tries
// when its failures looked transient, else after the first.
type FetchError struct {
	// SHA is the commit fetched.
	SHA string
	// Tries is how many fetches were made.
	Tries int
	// Status is the HTTP status the forge last answered with, 0 when
	// git did not say (the connection failed, say).
	Status int
	// Transient says whether the last failure looked like the forge's
	// passing trouble, rather than a refusal (401, 404, a commit gone).
	Transient bool
	Err       error
}

func (e *FetchError) Error() string {
	return fmt.Sprintf("workspace: fetching %s (%d tries): %v", e.SHA, e.Tries, e.Err)
}

func (e *FetchError) Unwrap() error { return e.Err }

// fetch fetches commit sha of spec's repository, without its history,
// into the mirror m as ref, trying again, with backoff, while the forge
// fails in a way that may pass. The caller holds the mirror.
func (ws *Workspaces) fetch(ctx context.Context, m place, spec CheckoutSpec, sha, ref string) error {
	wait := fetchBackoff
	for try := 1; ; try++ {
		_, err := ws.run(ctx, m, spec.Auth, nil, fetchArgs(spec.CloneURL, "+"+sha+":"+ref)...)
		if err == nil {
			// Where Prefetch may fetch from: a checkout's URL is the
			// forge's word.
			return os.WriteFile(filepath.Join(m.gitDir, fetchedFrom), []byte(spec.CloneURL), 0o644)
		}
		status, transient := classifyFetch(err)
		if !transient || try == fetchTries || ctx.Err() != nil {
			return &FetchError{SHA: sha, Tries: try, Status: status, Transient: transient, Err: err}
		}
		select {
		case <-ctx.Done():
			return &FetchError{SHA: sha, Tries: try, Status: status, Transient: transient, Err: err}
		case <-time.After(wait):
		}
		wait *= 2
	}
}

// fetchArgs are git's arguments to fetch refspecs from url into a
// mirror: the commits alone (no tags, no history), and no FETCH_HEAD.
func fetchArgs(url string, refspecs ...string) []string {
	return append([]string{"fetch", "--quiet", "--no-tags", "--no-write-fetch-head", "--depth=1", "--", url}, refspecs...)
}

// httpStatusRE finds the HTTP status in what git says of a failed
// request: "The requested URL returned error: 500", "RPC failed; HTTP 502".
var httpStatusRE = regexp.MustCompile(`(?:returned error:|RPC failed; HTTP) (\d{3})`)

// transientNetwork are what git, or curl under it, says of a connection
// that failed in a way that may pass.
var transientNetwork = []string{
	"Could not resolve host", "Failed to connect", "Connection refused", "Connection reset",
	"Connection timed out", "Operation timed out", "early EOF", "remote end hung up unexpectedly",
	"unexpected disconnect", "transfer closed",
}

// classifyFetch reads a failed fetch's error: the HTTP status the forge
// answered, if git says, and whether the failure may pass if tried again
// (a 5xx, a 429, a 408, a connection that failed).
func classifyFetch(err error) (status int, transient bool) {
	var ge *gitError
	if !errors.As(err, &ge) {
		return 0, false // not git's answer: the context ended, say
	}
	if m := httpStatusRE.FindStringSubmatch(ge.stderr); m != nil {
		status, _ = strconv.Atoi(m[1])
		return status, status >= 500 || status == 429 || status == 408
	}
	for _, s := range transientNetwork {
		if strings.Contains(ge.stderr, s) {
			return 0, true
		}
	}
	return 0, false
}
