package server

import (
	"cmp"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/atoll-iac/atoll/locking/redistest"
	"github.com/atoll-iac/atoll/vcs/vcstest"
)

// The benchmarks of this file say how far one Redis goes: what a job
// costs it, in commands, bytes and memory kept (BenchmarkRedisPerJob),
// and how many of those jobs one Redis serves on this machine
// (BenchmarkRedisHeadroom). They read Redis's own counters, INFO
// commandstats and stats, around the jobs. docs/operations.md cites
// them ("How far one Redis goes").

// redisJobs is how many jobs one measurement takes the mean of.
const redisJobs = 5

// BenchmarkRedisPerJob measures, with Redis's own counters, what one job
// costs Redis: an autoplan of one project (the pull request opened to its
// plan comment), an apply of it (`atoll apply` to its comment), and a
// replica with nothing to do, per minute. cmds/job counts every command
// Redis ran, those its scripts ran included; wire-cmds/job those clients
// sent, from MONITOR on one more job. KB-kept/job is what the keys the
// jobs left take (MEMORY USAGE); the log says which keys, and which
// expire.
func BenchmarkRedisPerJob(b *testing.B) {
	b.Run("autoplan", func(b *testing.B) {
		r := newRedisBench(b, 1)
		r.autoplan(b) // loads the scripts, opens the connections
		for b.Loop() {
			r.measure(b, "job", redisJobs, func() {
				for range redisJobs {
					r.autoplan(b)
				}
			})
		}
		r.logWire(b, "job", func() { r.autoplan(b) })
	})
	b.Run("apply", func(b *testing.B) {
		r := newRedisBench(b, 1)
		r.apply(b, r.autoplan(b))
		for b.Loop() {
			var prs []vcstest.Pull
			for range redisJobs {
				prs = append(prs, r.autoplan(b))
			}
			r.measure(b, "job", redisJobs, func() {
				for _, pr := range prs {
					r.apply(b, pr)
				}
			})
		}
		pr := r.autoplan(b)
		r.logWire(b, "job", func() { r.apply(b, pr) })
	})
	b.Run("idle", func(b *testing.B) {
		// As many workers as `atoll server` starts by default.
		r := newRedisBench(b, runtime.NumCPU())
		const window = 20 * time.Second
		time.Sleep(2 * time.Second) // past the start
		for b.Loop() {
			r.measure(b, "min", float64(window)/float64(time.Minute), func() { time.Sleep(window) })
		}
		b.Logf("%d workers (--parallelism, this machine's default): per worker, divide by %d", runtime.NumCPU(), runtime.NumCPU())
	})
}

// redisBench is a replica on a Redis of its own, and a fake GitHub with
// one repository.
type redisBench struct {
	srv    *redistest.Server
	client *redis.Client
	gh     *vcstest.GitHub
	e      *testEnv
	// projects counts the projects made, each in a directory of its own.
	projects int
}

func newRedisBench(b *testing.B, workers int) *redisBench {
	srv := redistest.Start(b, redistest.Options{})
	gh := newTestGitHub(b)
	gh.CreateRepo(b, "acme/infra", nil)
	e := newTestEnv(b, testOptions{gh: gh, configure: func(c *Config) {
		c.Redis = RedisConfig{Addr: srv.Addr}
		c.Parallelism = workers
		// The debug log of every job would bury the figures.
		c.Logger = slog.New(slog.NewTextHandler(testWriter{b}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}})
	// A client of its own, that only asks INFO, SCAN and MEMORY USAGE.
	client := redis.NewClient(&redis.Options{Addr: srv.Addr, PoolSize: 1, Protocol: 2})
	b.Cleanup(func() { client.Close() })
	if err := client.Ping(b.Context()).Err(); err != nil {
		b.Fatal(err)
	}
	return &redisBench{srv: srv, client: client, gh: gh, e: e}
}

// autoplan opens a pull request of a new project and waits for its
// plan.
func (r *redisBench) autoplan(b *testing.B) vcstest.Pull {
	b.Helper()
	r.projects++
	pr := r.gh.OpenPull(b, "acme/infra", vcstest.PullSpec{Files: map[string]string{fmt.Sprintf("p%d/main.tf", r.projects): oneResource}})
	mustStatus(b, r.gh.SendPullRequest(b, r.e.events, "opened", pr), http.StatusAccepted, "queued")
	if c := r.e.waitComments(b, pr, 1); !strings.Contains(c[0].Body, "Plan: 1 to add") {
		b.Fatalf("the plan:\n%s", c[0].Body)
	}
	return pr
}

// apply approves a planned pull request and applies it.
func (r *redisBench) apply(b *testing.B, pr vcstest.Pull) {
	b.Helper()
	r.gh.Review(b, "acme/infra", pr.Number, "bob", "APPROVED")
	n := len(r.gh.Comments(pr.Repo, pr.Number))
	mustStatus(b, r.gh.SendPullComment(b, r.e.events, pr, "bob", "atoll apply"), http.StatusAccepted, "queued")
	if c := r.e.waitComments(b, pr, n+1); !strings.Contains(c[n].Body, "Apply complete!") {
		b.Fatalf("the apply:\n%s", c[n].Body)
	}
}

// measure runs work, which is n units (jobs, minutes) of unit, and
// reports what Redis did meanwhile, per unit.
func (r *redisBench) measure(b *testing.B, unit string, n float64, work func()) {
	b.Helper()
	keysBefore := redisKeys(b, r.client)
	before := snapRedis(b, r.client)
	start := time.Now()
	work()
	elapsed := time.Since(start)
	after := snapRedis(b, r.client)
	keysAfter := redisKeys(b, r.client)

	d := after.since(before)
	b.ReportMetric(float64(d.total())/n, "cmds/"+unit)
	b.ReportMetric(float64(d.in)/1024/n, "KB-in/"+unit)
	b.ReportMetric(float64(d.out)/1024/n, "KB-out/"+unit)
	b.Logf("over %.1fs: %d commands, %d B in, %d B out, used_memory %+d B; per %s:",
		elapsed.Seconds(), d.total(), d.in, d.out, after.used-before.used, unit)
	for _, c := range d.top() {
		b.Logf("  %-16s %8.1f calls %8.1f µs", c, float64(d.calls[c])/n, float64(d.usec[c])/n)
	}
	if unit == "job" {
		kept := keysAfter.since(keysBefore)
		var bytes int64
		for _, g := range kept {
			bytes += g.bytes
		}
		b.ReportMetric(float64(bytes)/1024/n, "KB-kept/job")
		b.Logf("keys the %v jobs left, per job (MEMORY USAGE):", n)
		for _, name := range slices.Sorted(maps.Keys(kept)) {
			g := kept[name]
			b.Logf("  %-18s %+6.1f keys %+9.0f B  expire: %s", name, float64(g.keys)/n, float64(g.bytes)/n, g.expiry())
		}
	}
}

// logWire runs work, one unit, under MONITOR, and logs the commands
// clients sent, with those scripts ran apart.
func (r *redisBench) logWire(b *testing.B, unit string, work func()) {
	b.Helper()
	lines := monitor(b, r.srv.Addr, work)
	wire, lua := map[string]int{}, map[string]int{}
	var n int
	for _, l := range lines {
		if l.lua {
			lua[l.name()]++
			continue
		}
		wire[l.name()]++
		n++
	}
	b.ReportMetric(float64(n), "wire-cmds/"+unit)
	b.Logf("commands clients sent for one %s (MONITOR): %d", unit, n)
	for _, c := range byCount(wire) {
		b.Logf("  %-16s %3d", c, wire[c])
	}
	b.Logf("commands its scripts ran:")
	for _, c := range byCount(lua) {
		b.Logf("  %-16s %3d", c, lua[c])
	}
}

func byCount(m map[string]int) []string {
	names := slices.Collect(maps.Keys(m))
	slices.SortFunc(names, func(a, b string) int { return cmp.Or(m[b]-m[a], strings.Compare(a, b)) })
	return names
}

// redisSnap is what Redis says of itself at one moment.
type redisSnap struct {
	calls, usec map[string]int64 // by command, INFO commandstats
	in, out     int64            // total_net_input_bytes, total_net_output_bytes
	used        int64            // used_memory
	cpu         float64          // used_cpu_sys + used_cpu_user, seconds
	reply       int              // the length of INFO's own reply
}

// infoRequest is the request snapRedis sends, as RESP, for the count of
// bytes in it makes.
const infoRequest = "*5\r\n$4\r\ninfo\r\n$12\r\ncommandstats\r\n$5\r\nstats\r\n$6\r\nmemory\r\n$3\r\ncpu\r\n"

func snapRedis(b *testing.B, c *redis.Client) redisSnap {
	b.Helper()
	info, err := c.Info(b.Context(), "commandstats", "stats", "memory", "cpu").Result()
	if err != nil {
		b.Fatal(err)
	}
	s := redisSnap{calls: map[string]int64{}, usec: map[string]int64{}, reply: len(info)}
	for line := range strings.Lines(info) {
		k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok {
			continue
		}
		if cmd, ok := strings.CutPrefix(k, "cmdstat_"); ok {
			for field := range strings.SplitSeq(v, ",") {
				f, n, _ := strings.Cut(field, "=")
				switch f {
				case "calls":
					s.calls[cmd], _ = strconv.ParseInt(n, 10, 64)
				case "usec":
					s.usec[cmd], _ = strconv.ParseInt(n, 10, 64)
				}
			}
			continue
		}
		n, _ := strconv.ParseFloat(v, 64)
		switch k {
		case "total_net_input_bytes":
			s.in = int64(n)
		case "total_net_output_bytes":
			s.out = int64(n)
		case "used_memory":
			s.used = int64(n)
		case "used_cpu_sys", "used_cpu_user":
			s.cpu += n
		}
	}
	return s
}

// since returns what Redis did from s0 to s, less the INFO that ended
// s0 (its reply is counted after it is made) and the one that began s.
func (s redisSnap) since(s0 redisSnap) redisSnap {
	d := redisSnap{calls: map[string]int64{}, usec: map[string]int64{},
		in: s.in - s0.in - int64(len(infoRequest)), out: s.out - s0.out - int64(s0.reply) - int64(len(fmt.Sprintf("$%d\r\n\r\n", s0.reply))),
		used: s.used - s0.used, cpu: s.cpu - s0.cpu}
	for c, n := range s.calls {
		if n -= s0.calls[c]; c == "info" {
			n--
		}
		if n > 0 {
			d.calls[c], d.usec[c] = n, s.usec[c]-s0.usec[c]
		}
	}
	return d
}

func (s redisSnap) total() int64 {
	var n int64
	for _, c := range s.calls {
		n += c
	}
	return n
}

// top returns the commands called, most called first.
func (s redisSnap) top() []string {
	names := slices.Collect(maps.Keys(s.calls))
	slices.SortFunc(names, func(a, b string) int { return cmp.Or(int(s.calls[b]-s.calls[a]), strings.Compare(a, b)) })
	return names
}

// keyGroup is the keys of one kind: their number, MEMORY USAGE, and how
// many have an expiry, with the longest; in a difference, all is the
// number of keys after.
type keyGroup struct {
	keys, bytes, expiring, all int64
	maxTTL                     time.Duration
}

func (g keyGroup) expiry() string {
	switch {
	case g.expiring == 0:
		return "never"
	case g.expiring == g.all:
		return "all, in up to " + roundTTL(g.maxTTL)
	}
	return fmt.Sprintf("%d of %d keys, in up to %s", g.expiring, g.all, roundTTL(g.maxTTL))
}

func roundTTL(d time.Duration) string {
	if d >= 24*time.Hour {
		return fmt.Sprintf("%.0fd", d.Hours()/24)
	}
	return d.Round(time.Second).String()
}

// keySet is the keys in Redis by kind: "job" for atoll:job:ID.
type keySet map[string]keyGroup

func redisKeys(b *testing.B, c *redis.Client) keySet {
	b.Helper()
	ctx := b.Context()
	set := keySet{}
	iter := c.Scan(ctx, 0, "*", 100).Iterator()
	for iter.Next(ctx) {
		key := iter.Val()
		kind, _ := strings.CutPrefix(key, redisPrefix)
		kind, _, _ = strings.Cut(kind, ":")
		g := set[kind]
		g.keys++
		n, err := c.MemoryUsage(ctx, key).Result()
		if err != nil && err != redis.Nil {
			b.Fatal(err)
		}
		g.bytes += n
		if ttl, err := c.PTTL(ctx, key).Result(); err == nil && ttl > 0 {
			g.expiring++
			g.maxTTL = max(g.maxTTL, ttl)
		}
		set[kind] = g
	}
	if err := iter.Err(); err != nil {
		b.Fatal(err)
	}
	return set
}

// since returns the kinds whose keys changed from s0 to s, with the
// differences; the expiries are those of s.
func (s keySet) since(s0 keySet) keySet {
	d := keySet{}
	for kind, g := range s {
		g0 := s0[kind]
		if g.keys == g0.keys && g.bytes == g0.bytes {
			continue
		}
		d[kind] = keyGroup{keys: g.keys - g0.keys, bytes: g.bytes - g0.bytes, expiring: g.expiring, all: g.keys, maxTTL: g.maxTTL}
	}
	for kind, g0 := range s0 {
		if _, ok := s[kind]; !ok {
			d[kind] = keyGroup{keys: -g0.keys, bytes: -g0.bytes}
		}
	}
	return d
}
