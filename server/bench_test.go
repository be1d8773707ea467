package server

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/atoll-iac/atoll/locking/redistest"
	"github.com/atoll-iac/atoll/runner"
	"github.com/atoll-iac/atoll/runner/joblog"
	"github.com/atoll-iac/atoll/vcs"
	"github.com/atoll-iac/atoll/vcs/vcstest"
	"github.com/atoll-iac/atoll/workflows"
)

// BenchmarkWebhookAnswer measures how long a signed webhook waits for its
// answer over real HTTP: verifying, decoding and, for a command, queueing;
// on each forge. The workers are idle, so that the answer is measured
// alone: with jobs running, their own writes to the disk (a job's claim,
// its record) make a queued answer some 0.3 ms slower here.
func BenchmarkWebhookAnswer(b *testing.B) {
	for _, f := range forges {
		b.Run(f.name, func(b *testing.B) {
			e := f.env(b, testOptions{idle: true, configure: quietLogs})
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

// BenchmarkPlanOverhead measures the time from a comment `atoll plan` to
// the last edit of its answer, for one project, on each forge, against
// running `tofu init && tofu plan` by hand on the same configuration
// each time: x-direct is their ratio, added-ms what atoll adds, and the
// phases (checkout-ms, init-ms, ...) where a job's time went.
func BenchmarkPlanOverhead(b *testing.B) {
	for _, f := range forges {
		b.Run(f.name, func(b *testing.B) {
			e := f.env(b, testOptions{configure: quietLogs})
			files := map[string]string{"infra/main.tf": twoResources}
			e.f.CreateRepo(b, "acme/infra", nil)
			pr := e.f.OpenPull(b, "acme/infra", vcstest.PullSpec{Files: files})
			direct := directPlan(b, twoResources)
			var atoll, raw []time.Duration
			before := phaseSplit(e.scrape(b), "plan")
			for b.Loop() {
				atoll = append(atoll, e.timeComment(b, pr, "atoll plan"))
				raw = append(raw, timed(direct))
			}
			reportVersusRaw(b, atoll, raw)
			reportSplit(b, e, "plan", before, len(atoll))
		})
	}
}

// timeComment comments body on pr as alice and returns the time from
// sending it to the last edit of atoll's answer, once that no longer
// says the command runs.
func (e *testEnv) timeComment(b *testing.B, pr vcstest.Pull, body string) time.Duration {
	b.Helper()
	n := len(e.f.Comments(pr.Repo, pr.Number))
	start := time.Now()
	mustStatus(b, e.f.SendPullComment(b, e.events, pr, "alice", body), http.StatusAccepted, "queued")
	return e.waitComments(b, pr, n+1)[n].Written.Sub(start)
}

// timed returns how long fn took.
func timed(fn func()) time.Duration {
	start := time.Now()
	fn()
	return time.Since(start)
}

// reportVersusRaw reports the medians of what atoll took and of what the
// raw tool took, runs measured in turn, as atoll-ms and raw-ms, their
// ratio as x-direct and their difference as added-ms.
func reportVersusRaw(b *testing.B, atoll, raw []time.Duration) {
	a, r := median(atoll), median(raw)
	b.ReportMetric(float64(a.Microseconds())/1000, "atoll-ms")
	b.ReportMetric(float64(r.Microseconds())/1000, "raw-ms")
	b.ReportMetric(float64(a)/float64(r), "x-direct")
	b.ReportMetric(float64((a-r).Microseconds())/1000, "added-ms")
}

// BenchmarkApplyOverhead measures the time from a comment `atoll apply`
// to the last edit of its answer, for one project whose plan changes a
// resource, against running `tofu apply` of a saved plan by hand: as
// BenchmarkPlanOverhead reports.
func BenchmarkApplyOverhead(b *testing.B) {
	for _, f := range forges {
		b.Run(f.name, func(b *testing.B) {
			e := f.env(b, testOptions{configure: func(c *Config) {
				quietLogs(c)
				c.Policy.ApplyRequirements = workflows.Requirements{}
			}})
			e.f.CreateRepo(b, "acme/infra", nil)
			pr := e.f.OpenPull(b, "acme/infra", vcstest.PullSpec{Files: map[string]string{"main.tf": oneResource}})
			dir := b.TempDir()
			tofu := testTool(b).Path
			var atoll, raw []time.Duration
			before := phaseSplit(e.scrape(b), "apply")
			i := 0
			for b.Loop() {
				b.StopTimer()
				i++
				src := strings.Replace(oneResource, `"v1"`, fmt.Sprintf(`"v%d"`, i+1), 1)
				n := len(e.f.Comments(pr.Repo, pr.Number))
				pr = e.f.PushToPull(b, "acme/infra", pr.Number, map[string]string{"main.tf": src})
				e.f.SendPullRequest(b, e.events, "synchronize", pr)
				e.waitComments(b, pr, n+1)
				if err := os.WriteFile(filepath.Join(dir, "main.tf"), []byte(src), 0o644); err != nil {
					b.Fatal(err)
				}
				for _, args := range [][]string{{"init", "-input=false", "-no-color"}, {"plan", "-input=false", "-no-color", "-out=plan"}} {
					runTool(b, dir, tofu, args...)
				}
				b.StartTimer()
				atoll = append(atoll, e.timeComment(b, pr, "atoll apply"))
				raw = append(raw, timed(func() { runTool(b, dir, tofu, "apply", "-input=false", "-no-color", "plan") }))
			}
			if cs := e.f.Comments(pr.Repo, pr.Number); !strings.Contains(cs[len(cs)-1].Body, "Apply complete!") {
				b.Fatalf("the last apply:\n%s", cs[len(cs)-1].Body)
			}
			reportVersusRaw(b, atoll, raw)
			reportSplit(b, e, "apply", before, len(atoll))
		})
	}
}

// runTool runs tool with args in dir, failing b if it fails.
func runTool(b *testing.B, dir, tool string, args ...string) {
	b.Helper()
	cmd := exec.Command(tool, args...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("%s %s: %v\n%s", filepath.Base(tool), args[0], err, out)
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
			runTool(b, dir, tofu, args...)
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

// reportSplit reports where the n jobs of command since before (their
// phaseSplit then) spent their time, in ms per job and phase (as
// checkout-ms): the step split of what a benchmark measured.
func reportSplit(b *testing.B, e *testEnv, command string, before map[string]float64, n int) {
	b.Helper()
	for phase, ms := range splitMs(b, e, command, before, n) {
		b.ReportMetric(ms, phase+"-ms")
	}
}

// splitMs is the milliseconds per job that the n jobs of command since
// before (their phaseSplit then) spent in each phase, once all are
// counted.
func splitMs(b *testing.B, e *testEnv, command string, before map[string]float64, n int) map[string]float64 {
	b.Helper()
	// A job is counted once its comment is out: wait for the last.
	var after map[string]float64
	e.f.WaitFor(b, waitLong, "the jobs to be counted", func() bool {
		m := e.scrape(b)
		done, _ := metricValue(m, "atoll_job_duration_seconds", "command="+command)
		after = phaseSplit(m, command)
		return int(done) >= n
	})
	ms := map[string]float64{}
	for phase, s := range after {
		ms[phase] = (s - before[phase]) * 1000 / float64(n)
	}
	return ms
}
