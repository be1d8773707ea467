package server

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/atoll-iac/atoll/vcs/vcstest"
)

// BenchmarkPlanOverheadHTTPS is BenchmarkPlanOverhead with the fake forge
// serving HTTPS, as real forges do, and atoll's API client and git
// trusting its certificate: each new connection now costs a TLS
// handshake. Each plan runs beside its twin through a server of a plain
// HTTP fake, and the raw tool: http-added-ms is what atoll adds over
// HTTP, tls-ms the median of what a plan took over HTTPS more than its
// twin, and tls-checkout-ms and the like the same by phase.
// api-conns and git-conns are the connections the HTTPS fake accepted
// per plan, atoll's API client's and git's: its TLS handshakes. On
// loopback a handshake costs CPU alone; to a real forge, a round trip
// or two more.
//
// "again" plans the same head each time, as BenchmarkPlanOverhead does,
// which the checkout has; "pushed" plans a new commit each time, which
// git fetches, as the first plan after every push does. Its tls-ms is
// some 23 ms, nearly all in checkout: the API keeps one HTTP/2
// connection, but each git that fetches makes its own, and Debian's git
// (libcurl-gnutls) reads every file of /etc/ssl/certs for it, some
// 22 ms, before a handshake of 1.5 ms.
func BenchmarkPlanOverheadHTTPS(b *testing.B) {
	for _, f := range forges {
		for _, push := range []bool{false, true} {
			b.Run(f.name+"/"+map[bool]string{false: "again", true: "pushed"}[push], func(b *testing.B) {
				planTwins(b, f, push)
			})
		}
	}
}

// planTwins times plans of one pull request on f over HTTP and HTTPS in
// turn, with a new commit pushed to each before each plan when push, as
// BenchmarkPlanOverheadHTTPS reports.
func planTwins(b *testing.B, f forge, push bool) {
	plain, _ := schemeEnv(b, f, false)
	tls, fake := schemeEnv(b, f, true)
	files := map[string]string{"infra/main.tf": twoResources}
	envs := []*testEnv{plain, tls}
	prs := make([]vcstest.Pull, 2)
	for i, e := range envs {
		e.f.CreateRepo(b, "acme/infra", nil)
		prs[i] = e.f.OpenPull(b, "acme/infra", vcstest.PullSpec{Files: files})
	}
	direct := directPlan(b, twoResources)
	var overHTTP, overHTTPS, raw, extra []time.Duration
	beforeHTTP, beforeHTTPS := phaseSplit(plain.scrape(b), "plan"), phaseSplit(tls.scrape(b), "plan")
	conns := fake.Connections()
	i := 0
	for b.Loop() {
		if push {
			b.StopTimer()
			i++
			for j, e := range envs {
				prs[j] = e.f.PushToPull(b, "acme/infra", prs[j].Number, map[string]string{"infra/notes.txt": fmt.Sprint(i)})
			}
			b.StartTimer()
		}
		h := plain.timeComment(b, prs[0], "atoll plan")
		s := tls.timeComment(b, prs[1], "atoll plan")
		overHTTP, overHTTPS, extra = append(overHTTP, h), append(overHTTPS, s), append(extra, s-h)
		raw = append(raw, timed(direct))
	}
	n := len(overHTTPS)
	reportVersusRaw(b, overHTTPS, raw)
	reportSplit(b, tls, "plan", beforeHTTPS, n)
	b.ReportMetric(float64((median(overHTTP)-median(raw)).Microseconds())/1000, "http-added-ms")
	b.ReportMetric(float64(median(extra).Microseconds())/1000, "tls-ms")
	httpSplit, httpsSplit := splitMs(b, plain, "plan", beforeHTTP, n), splitMs(b, tls, "plan", beforeHTTPS, n)
	for _, phase := range []string{"pull", "checkout", "report", "forge"} {
		b.ReportMetric(httpsSplit[phase]-httpSplit[phase], "tls-"+phase+"-ms")
	}
	after := fake.Connections()
	b.ReportMetric(float64(after.API-conns.API)/float64(n), "api-conns")
	b.ReportMetric(float64(after.Git-conns.Git)/float64(n), "git-conns")
}

// tlsFake is what the benchmark asks of a fake forge that may serve HTTPS.
type tlsFake interface {
	CAFile() string
	Client() *http.Client
	Connections() vcstest.Connections
}

// schemeEnv is f's test server, quiet, on a fake of its own that serves
// HTTPS when useTLS. The server trusts the fake's certificate as it
// would a private CA's: its API client with the certificate as its
// root, git through GIT_SSL_CAINFO in its environment. Git still reads
// its default CA directory besides, as it does in production.
func schemeEnv(b *testing.B, f forge, useTLS bool) (*testEnv, tlsFake) {
	b.Helper()
	opts := testOptions{configure: quietLogs}
	var fake tlsFake
	switch f.name {
	case "github":
		opts.gh = vcstest.NewGitHub(b, vcstest.GitHubOptions{Token: testToken, WebhookSecret: testSecret, TLS: useTLS})
		fake = opts.gh
	case "gitlab":
		opts.gl = vcstest.NewGitLab(b, vcstest.GitLabOptions{Token: testGitLabToken, WebhookSecret: testSecret, TLS: useTLS})
		fake = opts.gl
	default:
		b.Fatalf("no fake %s", f.name)
	}
	if useTLS {
		opts.configure = func(c *Config) {
			quietLogs(c)
			// As the transport the server makes when given none (meter),
			// with the fake's certificate as its one root.
			client := fake.Client()
			client.Transport.(*http.Transport).MaxIdleConnsPerHost = 16
			c.GitHub.HTTPClient, c.GitLab.HTTPClient = client, client
			c.Env = append(c.Env, "GIT_SSL_CAINFO="+fake.CAFile())
		}
	}
	return f.env(b, opts), fake
}
