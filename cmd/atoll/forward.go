package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/atoll-iac/atoll/vcs"
	"github.com/atoll-iac/atoll/vcs/github"
	"github.com/atoll-iac/atoll/vcs/gitlab"
)

// forwardFlags are the flags of atoll forward.
type forwardFlags struct {
	url, ghSecret, glSecret string
	timeout                 time.Duration
}

func (f *forwardFlags) define(fs *flag.FlagSet) {
	fs.StringVar(&f.url, "url", "", "the atoll server's webhook URL, http://HOST:4141/events (required)")
	fs.StringVar(&f.ghSecret, "gh-webhook-secret", "", "sign GitHub events with the server's --gh-webhook-secret")
	fs.StringVar(&f.glSecret, "gitlab-webhook-secret", "", "send GitLab events with the server's --gitlab-webhook-secret")
	fs.DurationVar(&f.timeout, "timeout", 2*time.Minute, "how long to keep trying while the server answers 503 or cannot be reached")
}

// forward sends the event of the CI job it runs in to an atoll server, as
// the forge would have sent its webhook, and returns the exit code: 0
// once the server took it, 1 when it refused it or could not be reached
// in time, 2 for a usage error.
func forward(ctx context.Context, args []string, getenv func(string) (string, bool), stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("atoll forward", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var f forwardFlags
	f.define(fs)
	if err := parse(fs, args, getenv); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printFlags(stdout, fs, "atoll forward")
			return 0
		}
		fmt.Fprintf(stderr, "atoll forward: %v\n", err)
		return 2
	}
	d, err := f.delivery(func(k string) string { v, _ := getenv(k); return v })
	if err != nil {
		fmt.Fprintf(stderr, "atoll forward: %v\n", err)
		return 2
	}
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	code, answer, err := deliver(ctx, f.url, d)
	switch {
	case err != nil:
		fmt.Fprintf(stderr, "atoll forward: %v\n", err)
		return 1
	case code/100 != 2:
		fmt.Fprintf(stderr, "atoll forward: the server answered %d: %s\n", code, answer)
		return 1
	}
	fmt.Fprintf(stdout, "atoll forward: the server answered %d: %s\n", code, answer)
	return 0
}

// delivery checks the flags and builds the delivery of the CI job's
// event.
func (f *forwardFlags) delivery(getenv func(string) string) (vcs.Delivery, error) {
	u, err := url.Parse(f.url)
	switch {
	case f.url == "":
		return vcs.Delivery{}, errors.New("--url is required: the atoll server's webhook URL, http://HOST:4141/events")
	case err != nil || u.Host == "" || u.Scheme != "http" && u.Scheme != "https":
		return vcs.Delivery{}, fmt.Errorf("--url %q is not an http(s) URL", f.url)
	case f.timeout <= 0:
		return vcs.Delivery{}, fmt.Errorf("--timeout %v: want a positive duration", f.timeout)
	}
	if d, ok, err := github.ActionsDelivery(getenv, f.ghSecret); ok {
		return d, err
	}
	if d, ok, err := gitlab.PipelineDelivery(getenv, f.glSecret); ok {
		return d, err
	}
	return vcs.Delivery{}, errors.New("not in a GitHub Actions or GitLab CI job: there is no event to forward (GITHUB_ACTIONS and GITLAB_CI are unset)")
}

// deliver POSTs d to target until it is answered other than 503, or ctx
// ends, waiting longer each time (or as Retry-After says). It returns the
// answer's status and first line.
func deliver(ctx context.Context, target string, d vcs.Delivery) (int, string, error) {
	client := &http.Client{Timeout: 30 * time.Second}
	wait := time.Second
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(d.Body))
		if err != nil {
			return 0, "", err
		}
		req.Header = d.Header.Clone()
		resp, err := client.Do(req)
		var code int
		var answer string
		if err == nil {
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			resp.Body.Close()
			code, answer = resp.StatusCode, strings.TrimSpace(string(b))
			if code != http.StatusServiceUnavailable {
				return code, answer, nil
			}
			if s, convErr := strconv.Atoi(resp.Header.Get("Retry-After")); convErr == nil && s > 0 {
				wait = time.Duration(s) * time.Second
			}
		}
		select {
		case <-ctx.Done():
			if err != nil {
				return 0, "", fmt.Errorf("the server cannot be reached: %w", err)
			}
			return code, answer, nil
		case <-time.After(wait):
		}
		wait = min(2*wait, 15*time.Second)
	}
}
