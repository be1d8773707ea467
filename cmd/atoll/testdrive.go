package main

import (
	"context"
	"crypto/rand"
	"embed"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/atoll-iac/atoll/server"
	"github.com/atoll-iac/atoll/vcs/vcstest"
)

// sample is the repository a testdrive's pull requests change.
//
//go:embed all:sample
var sample embed.FS

// sampleRepo is the sample repository's name on the testdrive's forge.
const sampleRepo = "acme/infra"

// testdrive shows, on this machine alone, the conversation atoll has on a
// pull request: it starts a local GitHub (the fake forge the tests use),
// a sample repository on it and an atoll server, all on loopback, plays a
// story through them and prints it as it happens; then, at a terminal, it
// takes commands until stopped. With --script, or with no terminal on
// stdin, it plays the story and exits: 0 if every step did what it should.
func testdrive(ctx context.Context, args []string, getenv func(string) (string, bool), environ []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("atoll testdrive", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var f testdriveFlags
	f.define(fs)
	if err := parse(fs, args, getenv); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printFlags(stdout, fs, "atoll testdrive")
			fmt.Fprintln(stdout, "\nIt plays a pull request's story through a local forge, a sample repository and an atoll server, offline.")
			return 0
		}
		fmt.Fprintf(stderr, "atoll testdrive: %v\n", err)
		return 2
	}
	if f.port < 0 || f.port > 65535 {
		fmt.Fprintf(stderr, "atoll testdrive: --port %d is not a TCP port\n", f.port)
		return 2
	}
	interactive := !f.script && isTerminal(stdin)

	dr, err := startDrive(ctx, driveOptions{bin: f.bin, port: f.port, environ: environ, out: newScreen(stdout, isTerminal(stdout))})
	if err != nil {
		fmt.Fprintf(stderr, "atoll testdrive: %v\n", err)
		return 1
	}
	defer dr.stop()
	if err := dr.story(); err != nil {
		dr.out.failed(err)
		dr.out.logTail(dr.logPath, 30)
		return 1
	}
	if !interactive {
		return 0
	}
	dr.prompt(stdin)
	return 0
}

// testdriveFlags are the flags of atoll testdrive, as parsed.
type testdriveFlags struct {
	script bool
	bin    string
	port   int
}

// define defines the flags on fs.
func (f *testdriveFlags) define(fs *flag.FlagSet) {
	fs.BoolVar(&f.script, "script", false, "play the story and exit, 0 only if every step did what it should (the default without a terminal on stdin)")
	fs.StringVar(&f.bin, "tf-bin", "", "tofu binary atoll runs (default: tofu on PATH)")
	fs.IntVar(&f.port, "port", 0, "port atoll listens on, on 127.0.0.1 (default: a free one)")
}

// driveOptions configures startDrive.
type driveOptions struct {
	bin     string // --tf-bin
	port    int    // 0: any free port
	environ []string
	out     *screen
}

// drive is a testdrive's world: the forge, the sample repository on it,
// the atoll server, and what the reader is shown of them.
type drive struct {
	t       *driver
	gh      *vcstest.GitHub
	events  string // atoll's webhook endpoint
	addr    string // where atoll listens
	logPath string
	tool    string // the tofu or terraform binary atoll runs
	getenv  func(string) (string, bool)
	out     *screen
	started time.Time

	secret string // the webhook's

	// main holds the files of the sample repository's main branch; pull
	// is the pull request the prompt's commands go to, and files the
	// files of its head. The prompt's working copy (work) starts as
	// files.
	main  map[string]string
	pull  vcstest.Pull
	files map[string]string
	work  string

	watched    chan struct{} // closed when watch returns
	stopServer context.CancelFunc
	served     chan error
	stopOnce   sync.Once
}

// startDrive starts the forge with the sample repository on it, and
// atoll, and waits until atoll answers.
func startDrive(ctx context.Context, o driveOptions) (*drive, error) {
	started := time.Now()
	t, err := newDriver(ctx)
	if err != nil {
		return nil, err
	}
	dr := &drive{t: t, out: o.out, started: started, logPath: filepath.Join(t.dir, "atoll.log"), getenv: lookup(o.environ)}
	if err := t.do(func() { dr.startForge() }); err != nil {
		t.close()
		return nil, err
	}
	if err := dr.startServer(o); err != nil {
		t.close()
		return nil, err
	}
	o.out.intro(dr)
	dr.watched = make(chan struct{})
	go dr.watch()
	return dr, nil
}

// startForge starts the forge and creates the sample repository on it.
func (dr *drive) startForge() {
	dr.secret = rand.Text()
	dr.gh = vcstest.NewGitHub(dr.t, vcstest.GitHubOptions{Token: "testdrive-" + rand.Text(), WebhookSecret: dr.secret, BotLogin: "atoll-bot"})
	files := map[string]string{}
	err := fs.WalkDir(sample, "sample", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := sample.ReadFile(path)
		files[path[len("sample/"):]] = string(b)
		return err
	})
	if err != nil {
		dr.t.Fatalf("reading the sample repository: %v", err)
	}
	dr.gh.CreateRepo(dr.t, sampleRepo, files)
	dr.main, dr.files = files, files
}

// startServer starts atoll on loopback, talking to the forge, its data
// and log under the drive's directory, and waits until it answers.
func (dr *drive) startServer(o driveOptions) error {
	args := []string{
		"--repo-allowlist", sampleRepo,
		"--gh-api-url", dr.gh.APIURL(),
		"--gh-token", dr.gh.Token(),
		"--gh-webhook-secret", dr.secret,
		"--data-dir", filepath.Join(dr.t.dir, "atoll"),
		"--tf-download=false",
		// On 127.0.0.1 only, for whoever runs the testdrive.
		"--web-auth=none",
	}
	if o.bin != "" {
		args = append(args, "--tf-bin", o.bin)
	}
	// The user's ATOLL_* variables are for their own server, not this one.
	cfg, err := serverConfig(args, func(string) (string, bool) { return "", false }, io.Discard)
	if err != nil {
		return fmt.Errorf("%v (build OpenTofu with scripts/install-tofu and put the directory it prints on PATH, or give --tf-bin)", err)
	}
	dr.tool = cfg.Tool.Path
	logFile, err := os.Create(dr.logPath)
	if err != nil {
		return err
	}
	cfg.Logger = slog.New(slog.NewTextHandler(logFile, nil))
	// Steps see PATH alone: the sample needs nothing else, and the
	// user's own settings (TF_CLI_CONFIG_FILE, credentials) stay out.
	path, _ := dr.getenv("PATH")
	cfg.Env = []string{"PATH=" + path}
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(o.port)))
	if err != nil {
		logFile.Close()
		return err
	}
	dr.addr = ln.Addr().String()
	dr.events = "http://" + dr.addr + "/events"
	ctx, cancel := context.WithCancel(context.WithoutCancel(dr.t.ctx))
	dr.stopServer, dr.served = cancel, make(chan error, 1)
	go func() {
		dr.served <- server.Serve(ctx, cfg, ln)
		logFile.Close()
	}()
	return dr.awaitServer()
}

// awaitServer waits until atoll answers /healthz, or gives up.
func (dr *drive) awaitServer() error {
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case err := <-dr.served:
			dr.served <- err
			return fmt.Errorf("atoll stopped at start: %v (its log: %s)", err, dr.logPath)
		default:
		}
		resp, err := client.Get("http://" + dr.addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("atoll did not answer on %s within 30s (its log: %s)", dr.addr, dr.logPath)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// watch prints what atoll does on the forge as it happens, until the
// drive stops.
func (dr *drive) watch() {
	defer close(dr.watched)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-dr.t.ctx.Done():
			return
		case <-tick.C:
			dr.out.poll(dr)
		}
	}
}

// stop stops atoll, then the forge, and removes what the drive made.
func (dr *drive) stop() {
	dr.stopOnce.Do(func() {
		dr.t.cancel()
		<-dr.watched
		dr.stopServer()
		if err := <-dr.served; err != nil {
			dr.out.say("atoll stopped: %v", err)
		}
		dr.t.close()
	})
}

// driver is what the forge needs of whoever drives it (vcstest.T): a
// failed helper panics with a driveFailure, which do recovers into an
// error, and what the forge makes lives under dir until close.
type driver struct {
	ctx    context.Context
	cancel context.CancelFunc
	dir    string

	mu       sync.Mutex
	cleanups []func()
	dirs     int
}

// driveFailure is what a failed forge helper panics with.
type driveFailure struct{ msg string }

func newDriver(ctx context.Context) (*driver, error) {
	dir, err := os.MkdirTemp("", "atoll-testdrive-")
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	return &driver{ctx: ctx, cancel: cancel, dir: dir}, nil
}

func (t *driver) Helper()                  {}
func (t *driver) Context() context.Context { return t.ctx }

func (t *driver) Fatalf(format string, args ...any) {
	panic(driveFailure{fmt.Sprintf(format, args...)})
}

func (t *driver) Cleanup(f func()) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.cleanups = append(t.cleanups, f)
}

func (t *driver) TempDir() string {
	t.mu.Lock()
	t.dirs++
	dir := filepath.Join(t.dir, fmt.Sprintf("tmp%d", t.dirs))
	t.mu.Unlock()
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatalf("%v", err)
	}
	return dir
}

// do runs f, turning a forge helper's failure into an error.
func (t *driver) do(f func()) (err error) {
	defer func() {
		if r := recover(); r != nil {
			failure, ok := r.(driveFailure)
			if !ok {
				panic(r)
			}
			err = errors.New(failure.msg)
		}
	}()
	f()
	return nil
}

// close runs the cleanups, last registered first, and removes dir.
func (t *driver) close() {
	t.cancel()
	t.mu.Lock()
	cleanups := t.cleanups
	t.cleanups = nil
	t.mu.Unlock()
	for i := len(cleanups) - 1; i >= 0; i-- {
		cleanups[i]()
	}
	os.RemoveAll(t.dir)
}

// isTerminal reports whether f is a terminal.
func isTerminal(f any) bool {
	file, ok := f.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(file.Fd()), unix.TCGETS)
	return err == nil
}
