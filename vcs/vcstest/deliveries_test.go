package vcstest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	gh "github.com/google/go-github/v60/github"

	"github.com/atoll-iac/atoll/vcs/vcstest"
)

// closedTarget is a webhook URL on a port nothing listens on.
func closedTarget(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr + "/events"
}

// installationIn is the installation a payload names, 0 for none.
func installationIn(t *testing.T, payload []byte) int64 {
	t.Helper()
	var doc struct {
		Installation *struct {
			ID     int64  `json:"id"`
			NodeID string `json:"node_id"`
		} `json:"installation"`
	}
	if err := json.Unmarshal(payload, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Installation == nil {
		return 0
	}
	if doc.Installation.NodeID == "" {
		t.Errorf("installation %d without a node_id", doc.Installation.ID)
	}
	return doc.Installation.ID
}

// repositoryIn is the id of the repository a payload is about.
func repositoryIn(t *testing.T, payload []byte) int64 {
	t.Helper()
	var doc struct {
		Repository struct {
			ID int64 `json:"id"`
		} `json:"repository"`
	}
	if err := json.Unmarshal(payload, &doc); err != nil || doc.Repository.ID == 0 {
		t.Fatalf("no repository id in the payload: %v", err)
	}
	return doc.Repository.ID
}

// sameJSON reports whether a and b are the same JSON, but for spaces.
func sameJSON(a, b []byte) bool {
	var ca, cb bytes.Buffer
	return json.Compact(&ca, a) == nil && json.Compact(&cb, b) == nil && bytes.Equal(ca.Bytes(), cb.Bytes())
}

func TestAppDeliveries(t *testing.T) {
	t.Parallel()
	const secret = "hook-secret"
	g := vcstest.NewGitHub(t, vcstest.GitHubOptions{WebhookSecret: secret})
	pulls := map[string]vcstest.Pull{}
	for _, name := range []string{"acme/infra", "globex/infra", "initech/infra"} {
		g.CreateRepo(t, name, map[string]string{"main.tf": "# " + name + "\n"})
		pulls[name] = g.OpenPull(t, name, vcstest.PullSpec{Files: map[string]string{"main.tf": "# changed\n"}})
	}
	app := g.EnableApp(t, vcstest.AppOptions{})
	acme, globex := g.Install(t, "acme"), g.Install(t, "globex")
	target, got := receiver(t, secret)

	// Three deliveries: one answered, one to a closed port, one to no URL.
	d1 := g.SendPullComment(t, target, pulls["acme/infra"], "alice", "atoll plan")
	sent1 := (<-got).payload
	sent2 := g.Payload(t, "pull_request", "synchronize", pulls["initech/infra"], "", "")
	d2 := g.Deliver(t, closedTarget(t), "pull_request", sent2, vcstest.DeliverOptions{})
	sent3 := g.Payload(t, "pull_request", "opened", pulls["globex/infra"], "", "")
	d3 := g.Deliver(t, "", "pull_request", sent3, vcstest.DeliverOptions{DeliveryID: "no-url"})
	want := []struct {
		d             vcstest.Delivery
		payload       []byte
		event, action string
		code          int
		status        string
		installation  int64 // 0: none
		answer        string
	}{
		{d1, sent1, "issue_comment", "created", 202, "OK", acme, `"queued"`},
		{d2, sent2, "pull_request", "synchronize", 0, "failed to connect to host", 0, ""},
		{d3, sent3, "pull_request", "opened", 0, "failed to connect to host", globex, ""},
	}

	logged := g.AppDeliveries()
	if len(logged) != len(want) {
		t.Fatalf("AppDeliveries = %+v; want %d", logged, len(want))
	}
	for i, w := range want {
		l := logged[i]
		if w.d.Status != w.code || l.GUID != w.d.ID || l.StatusCode != w.code || l.Status != w.status ||
			l.Event != w.event || l.Action != w.action || i > 0 && l.ID <= logged[i-1].ID {
			t.Errorf("delivery %d = %+v, Deliver said %+v; want %s.%s, %d %q", i, l, w.d, w.event, w.action, w.code, w.status)
		}
		if got := installationIn(t, w.payload); got != w.installation {
			t.Errorf("delivery %d: the payload names installation %d, want %d", i, got, w.installation)
		}
	}

	ctx := context.Background()
	c := newClient(t, g, appJWT(t, appKey(t, app), goodClaims(app, time.Now())))
	list, resp, err := c.Apps.ListHookDeliveries(ctx, nil)
	if err != nil || len(list) != len(want) || resp.Cursor != "" {
		t.Fatalf("deliveries = %v, cursor %q, %v; want 3 on one page", list, resp.Cursor, err)
	}
	for i, d := range list {
		w, l := want[len(want)-1-i], logged[len(want)-1-i] // newest first
		if d.GetID() != l.ID || d.GetGUID() != w.d.ID || d.GetEvent() != w.event || d.GetAction() != w.action ||
			d.GetStatusCode() != w.code || d.GetStatus() != w.status || d.GetInstallationID() != w.installation ||
			d.GetRepositoryID() != repositoryIn(t, w.payload) || d.GetRedelivery() || d.GetDeliveredAt().IsZero() ||
			d.Duration == nil || *d.Duration < 0 || d.Request != nil || d.Response != nil {
			t.Errorf("listed %d: %s; want %+v", i, gh.Stringify(d), l)
		}
	}

	var paged []int64
	opts := &gh.ListCursorOptions{PerPage: 1}
	for pages := 1; ; pages++ {
		page, resp, err := c.Apps.ListHookDeliveries(ctx, opts)
		if err != nil || len(page) != 1 || pages > len(want) {
			t.Fatalf("page %d = %v, %v", pages, page, err)
		}
		paged = append(paged, page[0].GetID())
		if resp.Cursor == "" {
			break
		}
		opts.Cursor = resp.Cursor
	}
	if len(paged) != 3 || paged[0] != list[0].GetID() || paged[1] != list[1].GetID() || paged[2] != list[2].GetID() {
		t.Errorf("paged ids = %v; want those listed", paged)
	}

	for i, w := range want {
		d, _, err := c.Apps.GetHookDelivery(ctx, logged[i].ID)
		if err != nil {
			t.Fatalf("delivery %d: %v", i, err)
		}
		h := d.GetRequest().Headers
		if h["X-GitHub-Event"] != w.event || h["X-GitHub-Delivery"] != w.d.ID || h["Content-Type"] != "application/json" ||
			!strings.HasPrefix(h["X-Hub-Signature-256"], "sha256=") || h["User-Agent"] == "" ||
			h["X-GitHub-Hook-Installation-Target-Type"] != "integration" {
			t.Errorf("delivery %d: request headers %v", i, h)
		}
		if p := d.GetRequest().RawPayload; p == nil || !sameJSON(*p, w.payload) {
			t.Errorf("delivery %d: request payload is not the one sent", i)
		}
		var answer string
		if p := d.GetResponse().RawPayload; p != nil {
			answer = string(*p)
		}
		if answer != w.answer || d.GetStatusCode() != w.code || (w.code != 0) != (len(d.GetResponse().Headers) > 0) {
			t.Errorf("delivery %d: response %s, status %d; want %s, %d", i, gh.Stringify(d.GetResponse()), d.GetStatusCode(), w.answer, w.code)
		}
	}
	if _, _, err := c.Apps.GetHookDelivery(ctx, 42); !isStatus(err, http.StatusNotFound) {
		t.Errorf("an unknown delivery: %v; want 404", err)
	}
	if _, _, err := c.Apps.ListHookDeliveries(ctx, &gh.ListCursorOptions{Cursor: "bogus"}); !isStatus(err, http.StatusBadRequest) {
		t.Errorf("a bogus cursor: %v; want 400", err)
	}
	if n := g.GitHubRequests("/api/v3/app/hook/deliveries"); n != 9 {
		t.Errorf("%d requests counted on /app/hook/deliveries, want 9", n)
	}

	tok, _, err := c.Apps.CreateInstallationToken(ctx, acme, nil)
	if err != nil {
		t.Fatal(err)
	}
	for name, cred := range map[string]string{"personal token": g.Token(), "installation token": tok.GetToken()} {
		other := newClient(t, g, cred)
		if _, _, err := other.Apps.ListHookDeliveries(ctx, nil); !isStatus(err, http.StatusUnauthorized) {
			t.Errorf("deliveries with a %s: %v; want 401", name, err)
		}
		if _, _, err := other.Apps.GetHookDelivery(ctx, logged[0].ID); !isStatus(err, http.StatusUnauthorized) {
			t.Errorf("a delivery with a %s: %v; want 401", name, err)
		}
	}
}

// TestDeliveryInstallation checks which payloads name an installation,
// and that deliveries are logged only once the fake hosts the App.
func TestDeliveryInstallation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name             string
		enable, install  bool
		wantInstallation bool
		wantTargetType   string
	}{
		{"no App", false, false, false, "repository"},
		{"App not installed", true, false, false, "integration"},
		{"App installed", true, true, true, "integration"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			g := vcstest.NewGitHub(t, vcstest.GitHubOptions{})
			g.CreateRepo(t, "acme/infra", map[string]string{"main.tf": "# acme\n"})
			p := g.OpenPull(t, "acme/infra", vcstest.PullSpec{Files: map[string]string{"main.tf": "# changed\n"}})
			var installed int64
			if tt.enable {
				g.EnableApp(t, vcstest.AppOptions{})
			}
			if tt.install {
				installed = g.Install(t, "acme")
			}
			target, got := receiver(t, "")
			// GitHub's example of a closed pull request names an
			// installation: it must go where the App is not installed.
			d := g.SendPullRequest(t, target, "closed", p)
			r := <-got
			if in := installationIn(t, r.payload); (in != 0) != tt.wantInstallation || in != installed {
				t.Errorf("the payload names installation %d; want %d", in, installed)
			}
			if typ := r.header.Get("X-GitHub-Hook-Installation-Target-Type"); typ != tt.wantTargetType {
				t.Errorf("X-GitHub-Hook-Installation-Target-Type = %q, want %q", typ, tt.wantTargetType)
			}
			logged := g.AppDeliveries()
			if tt.enable && (len(logged) != 1 || logged[0].GUID != d.ID || logged[0].Action != "closed") ||
				!tt.enable && logged != nil {
				t.Errorf("AppDeliveries = %+v", logged)
			}
		})
	}
}
