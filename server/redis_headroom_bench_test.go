package server

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// What one Redis serves at most: atoll's own commands, recorded with
// MONITOR, replayed from many connections until Redis is busy.

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
// those shared names.
const streamKey = redisPrefix + "tasks"

// shared reports whether key is one every job uses: a replayed job
// keeps it, and gets its own copy of the rest.
func shared(key string) bool {
	switch strings.TrimPrefix(key, redisPrefix) {
	case "task-claims", "task-releases", "task-notes", "task-turns-last", "task-turns-served", "jobs":
		return strings.HasPrefix(key, redisPrefix)
	}
	return false
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
				case strings.HasPrefix(a, redisPrefix) && !shared(a), p.groups[a]:
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
