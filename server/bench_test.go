package server

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/atoll-iac/atoll/locking/redistest"
	"github.com/atoll-iac/atoll/runner"
	"github.com/atoll-iac/atoll/runner/joblog"
	"github.com/atoll-iac/atoll/vcs"
	"github.com/atoll-iac/atoll/vcs/vcstest"
)

// BenchmarkWebhookAnswer measures how long a signed webhook waits for its
// answer over real HTTP: verifying, decoding and, for a command, queueing;
// on each forge.
func BenchmarkWebhookAnswer(b *testing.B) {
	for _, f := range forges {
		b.Run(f.name, func(b *testing.B) {
			e := f.env(b, testOptions{configure: quietLogs})
			e.f.CreateRepo(b, "acme/infra", nil)
			pr := e.f.OpenPull(b, "acme/infra", vcstest.PullSpec{Files: map[string]string{"main.tf": oneResource}})
			for _, bc := range []struct {
				name, body string
				status     int
			}{
				{"ignored", "LGTM, ship it", http.StatusOK},
				{"queued", "atoll help", http.StatusAccepted},
			} {
				b.Run(bc.name, func(b *testing.B) {
					i := 0
					for b.Loop() {
						// A new comment each time: one seen before is not queued again.
						b.StopTimer()
						payload := e.f.Payload(b, f.commentPayload, f.commentAction, pr, "alice", bc.body)
						b.StartTimer()
						i++
						id := fmt.Sprintf("%s-%d-%d", bc.name, time.Now().UnixNano(), i)
						d := e.f.Deliver(b, e.events, f.commentEvent, payload, vcstest.DeliverOptions{DeliveryID: id, IdempotencyKey: id})
						if d.Status != bc.status {
							b.Fatalf("answered %d %s", d.Status, d.Body)
						}
					}
				})
			}
		})
	}
}

// BenchmarkPlanOverhead measures comment-to-plan-comment time for one
// project, on each forge, and reports it as a multiple of running
// `tofu init && tofu plan` by hand on the same configuration (x-direct).
func BenchmarkPlanOverhead(b *testing.B) {
	for _, f := range forges {
		b.Run(f.name, func(b *testing.B) {
			e := f.env(b, testOptions{})
			files := map[string]string{"infra/main.tf": twoResources}
			e.f.CreateRepo(b, "acme/infra", nil)
			pr := e.f.OpenPull(b, "acme/infra", vcstest.PullSpec{Files: files})
			direct := directPlan(b, twoResources)
			var directTotal time.Duration
			n := 0
			for b.Loop() {
				n++
				before := len(e.f.Comments(pr.Repo, pr.Number))
				e.f.SendPullComment(b, e.events, pr, "alice", "atoll plan")
				e.waitComments(b, pr, before+1)

				b.StopTimer()
				start := time.Now()
				direct()
				directTotal += time.Since(start)
				b.StartTimer()
			}
			b.ReportMetric(float64(b.Elapsed())/float64(directTotal), "x-direct")
			b.ReportMetric(float64(directTotal.Milliseconds())/float64(n), "direct-ms/op")
		})
	}
}

// BenchmarkAPIPlan measures a plan of one project of main asked for
// through the API, from the request to the job's end in its record, as
// a multiple of running `tofu init && tofu plan` by hand (x-direct).
func BenchmarkAPIPlan(b *testing.B) {
	e := newTestEnv(b, testOptions{configure: func(c *Config) { c.APISecret = apiToken }})
	e.f.CreateRepo(b, "acme/infra", map[string]string{"infra/main.tf": twoResources})
	direct := directPlan(b, twoResources)
	var directTotal time.Duration
	n := 0
	for b.Loop() {
		n++
		code, v := e.apiDo(b, http.MethodPost, "/api/plan", apiToken, `{"repo":"acme/infra","projects":[{"dir":"infra"}]}`)
		id, _ := v.(map[string]any)["job"].(string)
		if code != http.StatusAccepted {
			b.Fatalf("POST /api/plan: %d %v", code, v)
		}
		for deadline := time.Now().Add(waitLong); ; time.Sleep(2 * time.Millisecond) {
			rec, err := e.server.records.Get(b.Context(), id)
			if err == nil && rec.State.Ended() {
				if rec.State != joblog.Succeeded {
					b.Fatalf("the run ended %s", rec.State)
				}
				break
			}
			if time.Now().After(deadline) {
				b.Fatalf("the run did not end: %+v, %v", rec, err)
			}
		}

		b.StopTimer()
		start := time.Now()
		direct()
		directTotal += time.Since(start)
		b.StartTimer()
	}
	b.ReportMetric(float64(b.Elapsed())/float64(directTotal), "x-direct")
	b.ReportMetric(float64(directTotal.Milliseconds())/float64(n), "direct-ms/op")
}

// directPlan returns a function that runs `tofu init && tofu plan` by
// hand on a configuration of src.
func directPlan(b *testing.B, src string) func() {
	dir := filepath.Join(b.TempDir(), "infra")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "main.tf"), []byte(src), 0o644); err != nil {
		b.Fatal(err)
	}
	tofu := testTool(b).Path
	return func() {
		for _, args := range [][]string{{"init", "-input=false", "-no-color"}, {"plan", "-input=false", "-no-color", "-out=plan"}} {
			cmd := exec.Command(tofu, args...)
			cmd.Dir = dir
			if out, err := cmd.CombinedOutput(); err != nil {
				b.Fatalf("tofu %s: %v\n%s", args[0], err, out)
			}
		}
	}
}

// BenchmarkReplicaThroughput measures jobs per second through one and two
// replicas sharing Redis (one worker each), with 100 single-project plans
// queued before the workers start. On a 2-core machine the replicas share
// the CPU with the fake forge and tofu, so this bounds what a second
// replica adds, rather than showing what a second machine would.
func BenchmarkReplicaThroughput(b *testing.B) {
	const plans = 100
	for _, n := range []int{1, 2} {
		b.Run(fmt.Sprintf("replicas=%d", n), func(b *testing.B) {
			srv := redistest.Start(b, redistest.Options{})
			gh := newTestGitHub(b)
			gh.CreateRepo(b, "acme/infra", nil)
			for b.Loop() {
				b.StopTimer()
				// Replicas that queue every job before any runs one.
				var envs []*testEnv
				for range n {
					envs = append(envs, newTestEnv(b, testOptions{gh: gh, idle: true, configure: func(c *Config) { c.Redis = RedisConfig{Addr: srv.Addr} }}))
				}
				var prs []vcstest.Pull
				for i := range plans {
					pr := gh.OpenPull(b, "acme/infra", vcstest.PullSpec{Files: map[string]string{fmt.Sprintf("p%d/main.tf", i): oneResource}})
					mustStatus(b, gh.SendPullRequest(b, envs[i%n].events, "opened", pr), http.StatusAccepted, "queued")
					prs = append(prs, pr)
				}
				b.StartTimer()
				start := time.Now()
				for _, e := range envs {
					e.server.Start()
				}
				gh.WaitFor(b, 10*time.Minute, "every plan", func() bool {
					for _, pr := range prs {
						if len(gh.Comments(pr.Repo, pr.Number)) == 0 {
							return false
						}
					}
					return true
				})
				b.ReportMetric(plans/time.Since(start).Seconds(), "jobs/s")
				b.StopTimer()
				for _, e := range envs {
					e.server.Close(b.Context())
				}
				b.StartTimer()
			}
		})
	}
}

// BenchmarkDriftPass measures a drift check of a repository of 50
// projects (one resource each), from its start to its report, and
// reports the seconds a check takes (s/pass) and per project
// (ms/project). Without parallel_plan in the repository's config, its
// projects are planned one at a time.
func BenchmarkDriftPass(b *testing.B) {
	gh := newTestGitHub(b)
	files := map[string]string{}
	for i := range 50 {
		files[fmt.Sprintf("p%02d/main.tf", i)] = oneResource
	}
	gh.CreateRepo(b, "acme/infra", files)
	e := newTestEnv(b, testOptions{gh: gh, configure: func(c *Config) { c.Parallelism = 2 }})
	f := e.server.forges[0]
	ref, err := f.(vcs.RefResolver).ResolveRef(b.Context(), "acme/infra", "")
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		id := newJobID()
		if o := e.server.jobs.RunRef(b.Context(), id, f, ref, runner.RefRun{Command: "drift"}, "drift"); o.Failed {
			b.Fatal("the drift check failed")
		}
		r, ok, err := e.server.drift.LastDrift(b.Context(), "github", "acme/infra")
		if err != nil || !ok || r.Job != id || len(r.Projects) != 50 {
			b.Fatalf("report %+v, %v, %v", r, ok, err)
		}
	}
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/pass")
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N)/50, "ms/project")
}
