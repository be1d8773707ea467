package server

import (
	"bufio"
	"cmp"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
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

// monitorLine is one command MONITOR saw.
type monitorLine struct {
	lua  bool   // run by a script
	who  string // the client: "0 127.0.0.1:PORT", or "0 lua"
	args []string
}

func (l monitorLine) name() string { return strings.ToLower(l.args[0]) }

// monitor runs work under MONITOR, on a connection of its own, and
// returns the commands others sent meanwhile.
func monitor(b *testing.B, addr string, work func()) []monitorLine {
	b.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	rd := bufio.NewReaderSize(conn, 1<<20)
	if _, err := conn.Write([]byte("MONITOR\r\n")); err != nil {
		b.Fatal(err)
	}
	if l, err := rd.ReadString('\n'); err != nil || l != "+OK\r\n" {
		b.Fatalf("MONITOR: %q %v", l, err)
	}
	var (
		lines []monitorLine
		read  = make(chan error, 1)
	)
	go func() {
		for {
			l, err := rd.ReadString('\n')
			if err != nil {
				read <- err
				return
			}
			if ml, ok := parseMonitor(strings.TrimSuffix(l, "\r\n")); ok {
				lines = append(lines, ml)
			}
		}
	}()
	work()
	// A last command of its own marks the end of what work sent.
	mark := redis.NewClient(&redis.Options{Addr: addr, Protocol: 2})
	defer mark.Close()
	mark.Echo(b.Context(), "end of the monitored work")
	time.Sleep(200 * time.Millisecond)
	conn.Close()
	<-read
	for i, l := range lines {
		if l.name() == "echo" && len(l.args) == 2 && l.args[1] == "end of the monitored work" {
			// Less the marker's own connection set-up.
			return slices.DeleteFunc(lines[:i], func(m monitorLine) bool { return m.who == l.who })
		}
	}
	b.Fatal("MONITOR missed the end of the work")
	return nil
}

// parseMonitor parses `+1733270000.123456 [0 127.0.0.1:5000] "SET" "k" "v"`
// or `[0 lua]` for a script's command.
func parseMonitor(l string) (monitorLine, bool) {
	l = strings.TrimPrefix(l, "+")
	_, rest, ok := strings.Cut(l, " [")
	if !ok {
		return monitorLine{}, false
	}
	who, rest, ok := strings.Cut(rest, "] ")
	if !ok {
		return monitorLine{}, false
	}
	ml := monitorLine{lua: strings.HasSuffix(who, " lua"), who: who}
	for rest = strings.TrimSpace(rest); rest != ""; rest = strings.TrimSpace(rest) {
		arg, n, ok := unquoteRepr(rest)
		if !ok {
			return monitorLine{}, false
		}
		ml.args = append(ml.args, arg)
		rest = rest[n:]
	}
	return ml, len(ml.args) > 0
}

// unquoteRepr reads one argument as MONITOR quotes it (Redis's
// sdscatrepr) from the start of s, and returns it and the bytes read.
func unquoteRepr(s string) (string, int, bool) {
	if s == "" || s[0] != '"' {
		return "", 0, false
	}
	var out strings.Builder
	for i := 1; i < len(s); i++ {
		switch c := s[i]; c {
		case '"':
			return out.String(), i + 1, true
		case '\\':
			if i+1 >= len(s) {
				return "", 0, false
			}
			i++
			switch e := s[i]; e {
			case 'n':
				out.WriteByte('\n')
			case 'r':
				out.WriteByte('\r')
			case 't':
				out.WriteByte('\t')
			case 'a':
				out.WriteByte('\a')
			case 'b':
				out.WriteByte('\b')
			case 'x':
				if i+2 >= len(s) {
					return "", 0, false
				}
				v, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
				if err != nil {
					return "", 0, false
				}
				out.WriteByte(byte(v))
				i += 2
			default:
				out.WriteByte(e)
			}
		default:
			out.WriteByte(c)
		}
	}
	return "", 0, false
}

// BenchmarkRedisHeadroom measures how many jobs one Redis serves on this
// machine. It records, with MONITOR, the commands one plan and one apply
// send (their webhooks, queue, claims, locks, plan files, job log), then
// replays them, one command at a time as atoll sends them, from many
// connections at once, until Redis is busy. Each copy has keys and a
// task group of its own, and each connection a task stream, so that a
// copy claims and finishes its own tasks as the jobs did. jobs/s counts
// the jobs of the copies, wire-cmds/s the commands sent, redis-cpu the cores
// Redis used, and jobs/redis-cpu-s the jobs a second of Redis's CPU
// serves. Redis runs commands on one thread; here the load shares the
// machine's cores with it, so jobs/s is a floor, and jobs/redis-cpu-s
// what a Redis with a core to itself would serve.
func BenchmarkRedisHeadroom(b *testing.B) {
	r := newRedisBench(b, 1)
	r.apply(b, r.autoplan(b))
	recorded := monitor(b, r.srv.Addr, func() { r.apply(b, r.autoplan(b)) })
	// The replica would take the copies' tasks: stop it.
	r.e.server.Close(b.Context())
	plan := replayable(recorded)
	b.Logf("replaying %d commands a plan and an apply sent, %d tasks", len(plan.cmds), len(plan.ids))
	const jobsPerCopy = 2

	for b.Loop() {
		var best struct{ jobs, cmds, cpu float64 }
		for _, conns := range []int{1, 8, 32, 64} {
			jobs, cmds, cpu, errs := replayFor(b, r.srv.Addr, r.client, plan, conns, 5*time.Second)
			jobs *= jobsPerCopy
			b.Logf("%2d connections: %7.0f commands sent/s, %5.0f jobs/s, Redis %.2f cores (%.0f jobs/s a core), errors %v", conns, cmds, jobs, cpu, jobs/cpu, errs)
			if jobs > best.jobs {
				best.jobs, best.cmds, best.cpu = jobs, cmds, cpu
			}
		}
		b.ReportMetric(best.jobs, "jobs/s")
		b.ReportMetric(best.cmds, "wire-cmds/s")
		b.ReportMetric(best.cpu, "redis-cpu")
		b.ReportMetric(best.jobs/best.cpu, "jobs/redis-cpu-s")
	}
}

// streamKey is the task stream; the other keys every job uses are
// sharedKeys.
const streamKey = redisPrefix + "tasks"

// sharedKeys are the keys every job uses: a replayed job keeps them, and
// gets its own copy of the rest.
var sharedKeys = map[string]bool{}

func init() {
	for _, k := range []string{"task-claims", "task-releases", "task-notes", "task-turns-last", "task-turns-served", "jobs"} {
		sharedKeys[redisPrefix+k] = true
	}
}

// replayPlan is what a replay sends.
type replayPlan struct {
	cmds [][]string
	// enqueues marks the commands that add a task: their replies
	// carry its id.
	enqueues []bool
	// ids are the recorded tasks' ids, in the order they were added.
	ids []string
	// groups are the recorded tasks' groups.
	groups map[string]bool
	// consumerGroup is the stream's consumer group.
	consumerGroup string
}

// streamID is a stream entry's id, as Redis makes them.
var streamID = regexp.MustCompile(`^[0-9]{13}-[0-9]+$`)

// replayable makes a replay of recorded: without the commands of
// connection set-up, with reads of the stream made at once rather than
// waited for, each right after the task it takes is added, since the
// replay has no worker waiting.
func replayable(recorded []monitorLine) replayPlan {
	p := replayPlan{groups: map[string]bool{}, consumerGroup: "atoll"}
	var reads [][]string
	for _, l := range recorded {
		if l.lua || l.name() != "xreadgroup" {
			continue
		}
		var args []string
		for i := 0; i < len(l.args); i++ {
			if strings.EqualFold(l.args[i], "block") {
				i++
				continue
			}
			args = append(args, l.args[i])
		}
		p.consumerGroup = args[2]
		reads = append(reads, args)
	}
	seen := map[string]bool{}
	for i, l := range recorded {
		if l.lua {
			continue
		}
		switch l.name() {
		case "hello", "client", "ping", "info", "echo", "select", "auth", "monitor", "script", "xreadgroup":
			continue
		}
		enqueue := false
		for _, in := range recorded[i+1:] {
			if !in.lua {
				break
			}
			if in.name() == "xadd" {
				enqueue = true
				for j := 3; j+1 < len(in.args); j += 2 {
					if in.args[j] == "group" {
						p.groups[in.args[j+1]] = true
					}
				}
			}
		}
		for _, a := range l.args {
			if streamID.MatchString(a) && !seen[a] {
				seen[a] = true
				p.ids = append(p.ids, a)
			}
		}
		p.cmds = append(p.cmds, l.args)
		p.enqueues = append(p.enqueues, false)
		if enqueue {
			p.enqueues[len(p.enqueues)-1] = true
			if len(reads) > 0 {
				p.cmds = append(p.cmds, reads[0])
				p.enqueues = append(p.enqueues, false)
				reads = reads[1:]
			}
		}
	}
	for _, r := range reads {
		p.cmds = append(p.cmds, r)
		p.enqueues = append(p.enqueues, false)
	}
	return p
}

// replayFor sends copies of p from conns connections for d, and returns
// the copies a second, the commands a second, the cores Redis used, and
// the errors by command. It speaks RESP on plain connections, so that as
// little of the machine as can be goes to making the load.
func replayFor(b *testing.B, addr string, info *redis.Client, p replayPlan, conns int, d time.Duration) (copies, rate, cpu float64, errs map[string]int) {
	b.Helper()
	var (
		done, sent atomic.Int64
		mu         sync.Mutex
		wg         sync.WaitGroup
		failed     error
	)
	errs = map[string]int{}
	before := snapRedis(b, info)
	start := time.Now()
	deadline := start.Add(d)
	for g := range conns {
		wg.Go(func() {
			err := replayConn(addr, p, fmt.Sprintf("%d.%d", conns, g), deadline, &done, &sent, func(cmd string) {
				mu.Lock()
				errs[cmd]++
				mu.Unlock()
			})
			if err != nil {
				mu.Lock()
				failed = err
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if failed != nil {
		b.Fatalf("replaying: %v", failed)
	}
	elapsed := time.Since(start).Seconds()
	after := snapRedis(b, info)
	// What Redis ran per copy, to hold against what the jobs made it run.
	ran := after.since(before)
	var top []string
	for _, c := range ran.top() {
		top = append(top, fmt.Sprintf("%s %.1f", c, float64(ran.calls[c])/float64(done.Load())))
	}
	if conns == 1 {
		b.Logf("Redis ran %.1f commands a copy: %s", float64(ran.total())/float64(done.Load()), strings.Join(top, ", "))
	}
	return float64(done.Load()) / elapsed, float64(sent.Load()) / elapsed, (after.cpu - before.cpu) / elapsed, errs
}

// replayConn is one connection of replayFor, named name.
func replayConn(addr string, p replayPlan, name string, deadline time.Time, done, sent *atomic.Int64, failed func(cmd string)) error {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	rd := bufio.NewReaderSize(conn, 64<<10)
	var req []byte
	send := func(args ...string) (isErr bool, first string, err error) {
		req = append(req[:0], '*')
		req = strconv.AppendInt(req, int64(len(args)), 10)
		req = append(req, "\r\n"...)
		for _, a := range args {
			req = append(req, '$')
			req = strconv.AppendInt(req, int64(len(a)), 10)
			req = append(req, "\r\n"...)
			req = append(req, a...)
			req = append(req, "\r\n"...)
		}
		if _, err := conn.Write(req); err != nil {
			return false, "", err
		}
		return readReply(rd)
	}
	stream := streamKey + "~" + name
	if isErr, _, err := send("XGROUP", "CREATE", stream, p.consumerGroup, "0", "MKSTREAM"); err != nil || isErr {
		return fmt.Errorf("creating stream %s: %v", stream, err)
	}
	ids := map[string]string{}
	args := make([]string, 0, 16)
	for n := 0; time.Now().Before(deadline); n++ {
		suffix := "~" + name + "." + strconv.Itoa(n)
		added := 0
		clear(ids)
		for i, c := range p.cmds {
			args = args[:0]
			for _, a := range c {
				switch {
				case a == streamKey:
					a = stream
				case strings.HasPrefix(a, redisPrefix) && !sharedKeys[a], p.groups[a]:
					a += suffix
				case streamID.MatchString(a):
					if id, ok := ids[a]; ok {
						a = id
					}
				}
				args = append(args, a)
			}
			isErr, first, err := send(args...)
			if err != nil {
				return err
			}
			if isErr {
				failed(strings.ToLower(c[0]))
			}
			if p.enqueues[i] && added < len(p.ids) {
				ids[p.ids[added]] = first
				added++
			}
			sent.Add(1)
		}
		done.Add(1)
	}
	return nil
}

// readReply reads one RESP2 reply, and says whether it is an error and
// the first string in it.
func readReply(rd *bufio.Reader) (isErr bool, first string, err error) {
	line, err := rd.ReadSlice('\n')
	if err != nil {
		return false, "", err
	}
	if len(line) < 3 {
		return false, "", fmt.Errorf("reply %q", line)
	}
	n, _ := strconv.Atoi(string(line[1 : len(line)-2]))
	switch line[0] {
	case '+', ':':
		return false, "", nil
	case '-':
		return true, "", nil
	case '$':
		if n < 0 {
			return false, "", nil
		}
		b := make([]byte, n+2)
		if _, err := io.ReadFull(rd, b); err != nil {
			return false, "", err
		}
		return false, string(b[:n]), nil
	case '*':
		for range max(n, 0) {
			_, s, err := readReply(rd)
			if err != nil {
				return false, "", err
			}
			if first == "" {
				first = s
			}
		}
		return false, first, nil
	}
	return false, "", fmt.Errorf("reply %q", line)
}
