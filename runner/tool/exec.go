package tool

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// maxOutput caps the output kept from one step; beyond it the middle is
// dropped, keeping the start and the end, where a tool's summary and errors
// stand.
const maxOutput = 8 << 20

// Config configures a Runner. Tool is required.
type Config struct {
	Tool Tool
	// Env is the environment the tool inherits, less what ScrubEnv
	// removes; typically the server's own environment.
	Env []string
	// Secrets are values that must never reach the tool's environment
	// (atoll's tokens and webhook secrets).
	Secrets []string
	// Redactor hides secrets in the captured output; when nil, one for
	// Secrets.
	Redactor *Redactor
	// PluginCacheDir, when set, is a provider cache (TF_PLUGIN_CACHE_DIR)
	// shared by the tool's inits, which fill it and so run one at a time.
	// Other steps do not see it: a command that inits by itself would
	// write it alongside another init.
	PluginCacheDir string
	// StopGrace is how long a step interrupted by its context has to
	// exit (the tool releasing its state lock) before it is killed; 30
	// seconds when zero.
	StopGrace time.Duration
	// Sandbox confines the steps; the zero value does not.
	Sandbox Sandbox
}

// Runner runs tool steps.
type Runner struct {
	tool   Tool
	env    []string
	redact *Redactor

	mu       sync.Mutex
	versions map[toolFile]string

	stopGrace time.Duration
	sandbox   Sandbox

	// initSem keeps inits from writing the shared plugin cache at once.
	initSem     chan struct{}
	pluginCache string
}

// New returns a Runner for cfg.
func New(cfg Config) *Runner {
	secrets := slices.DeleteFunc(slices.Clone(cfg.Secrets), func(s string) bool { return s == "" })
	env := ScrubEnv(cfg.Env, secrets)
	env = slices.DeleteFunc(env, func(kv string) bool {
		name, _, _ := strings.Cut(kv, "=")
		switch name {
		case "HOME", "TMPDIR", "TF_IN_AUTOMATION", "TF_INPUT", "CHECKPOINT_DISABLE", "TF_WORKSPACE", "TF_CLI_ARGS", "TF_PLUGIN_CACHE_DIR":
			return true
		}
		return false
	})
	env = append(env, "TF_IN_AUTOMATION=1", "TF_INPUT=0", "CHECKPOINT_DISABLE=1")
	redact := cfg.Redactor
	if redact == nil {
		redact = NewRedactor(secrets...)
	}
	return &Runner{tool: cfg.Tool, env: env, redact: redact, versions: map[toolFile]string{}, initSem: make(chan struct{}, 1), pluginCache: cfg.PluginCacheDir,
		stopGrace: cmp.Or(cfg.StopGrace, 30*time.Second), sandbox: cfg.Sandbox}
}

// ScrubEnv returns env without atoll's own variables (ATOLL_*, in any
// case) and without any variable whose value holds one of secrets (a
// Redis URL with its password, say): what is left may be handed to a
// child process.
func ScrubEnv(env, secrets []string) []string {
	return slices.DeleteFunc(slices.Clone(env), func(kv string) bool {
		name, value, _ := strings.Cut(kv, "=")
		return strings.HasPrefix(strings.ToUpper(name), "ATOLL_") ||
			slices.ContainsFunc(secrets, func(s string) bool { return s != "" && strings.Contains(value, s) })
	})
}

// Step is one run of the tool.
type Step struct {
	// Tool runs the step; the runner's when zero.
	Tool Tool
	// Dir is the directory the tool runs in.
	Dir string
	// Checkout is the checkout Dir is in, which a confined step may
	// write; Dir alone when empty.
	Checkout string
	// Home is the tool's HOME, private to the job, with its TMPDIR.
	Home string
	// Files are files outside the checkout that the step may read and
	// write, such as its plan file; Reads, files it may only read.
	Files, Reads []string
	// Args follow the binary name.
	Args []string
	// Env is added to the runner's environment for this step.
	Env []string
	// StdoutFile, when set, receives the step's standard output instead
	// of the captured output.
	StdoutFile string
	// PathPrefix, when set, comes first on the step's PATH.
	PathPrefix string
	// Runs are other programs the step may run, by path, besides the
	// system's: the project's tool, for a shell step.
	Runs []string
	// Init marks the tool's own init, which fills the plugin cache: the
	// one step that may write it.
	Init bool
	// Live, when set, also receives the step's output as it comes, a
	// whole line at a time, redacted as the returned output is (see
	// liveWriter), for a reader following the job.
	Live io.Writer
}

// Run runs one step and returns its combined output with secrets redacted.
// A step that exits non-zero returns its output and an *exec.ExitError.
// Cancelling ctx interrupts the tool, which then has a while to release its
// state lock before it is killed. Nothing the step started outlives it.
func (r *Runner) Run(ctx context.Context, s Step) (string, error) {
	tool := cmp.Or(s.Tool, r.tool)
	tmp := filepath.Join(s.Home, "tmp")
	cmd := exec.CommandContext(ctx, tool.Path, s.Args...)
	cmd.Dir = s.Dir
	cmd.Env = append(slices.Concat(r.env, s.Env), "HOME="+s.Home, "TMPDIR="+tmp)
	if s.PathPrefix != "" {
		cmd.Env = append(cmd.Env, "PATH="+s.PathPrefix+string(os.PathListSeparator)+lookupEnv(r.env, "PATH"))
	}
	if s.StdoutFile != "" {
		f, err := os.Create(s.StdoutFile)
		if err != nil {
			return "", fmt.Errorf("tool: creating %s: %w", s.StdoutFile, err)
		}
		defer f.Close()
		cmd.Stdout = f
	}
	if err := os.MkdirAll(tmp, 0o700); err != nil {
		return "", fmt.Errorf("tool: creating tool home: %w", err)
	}
	var pluginCache string
	if r.pluginCache != "" && s.Init {
		if err := os.MkdirAll(r.pluginCache, 0o755); err != nil {
			return "", fmt.Errorf("tool: creating the plugin cache: %w", err)
		}
		select {
		case r.initSem <- struct{}{}:
			defer func() { <-r.initSem }()
		case <-ctx.Done():
			return "", ctx.Err()
		}
		pluginCache = r.pluginCache
		cmd.Env = append(cmd.Env, "TF_PLUGIN_CACHE_DIR="+pluginCache)
	}
	if r.sandbox.On || r.sandbox.User != nil {
		// Made by atoll, for a rule to name or a user to be given.
		made, err := makeFiles(s.Files)
		defer removeEmpty(made)
		if err != nil {
			return "", err
		}
	}
	start := cmd.Start
	if r.sandbox.On {
		c := r.confinement(s, cmd.Path, pluginCache)
		start = func() error { return startConfined(cmd, c) }
	}
	if r.sandbox.User != nil {
		if err := r.handOver(s, pluginCache); err != nil {
			return "", err
		}
	}
	var out capped
	var sink io.Writer = &out
	if s.Live != nil {
		live := newLiveWriter(s.Live, r.redact)
		defer live.Close()
		sink = io.MultiWriter(&out, live)
	}
	err := runGroup(cmd, start, sink, r.stopGrace, r.sandbox.OwnPIDs, r.sandbox.User)
	return r.redact.Redact(out.String()), err
}

// lookupEnv returns the value of name in env, the last one set.
func lookupEnv(env []string, name string) string {
	for i := len(env) - 1; i >= 0; i-- {
		if k, v, _ := strings.Cut(env[i], "="); k == name {
			return v
		}
	}
	return ""
}

// Tool is the runner's default binary.
func (r *Runner) Tool() Tool { return r.tool }

// Sets reports whether the environment tools run with sets name.
func (r *Runner) Sets(name string) bool {
	return slices.ContainsFunc(r.env, func(kv string) bool { return strings.HasPrefix(kv, name+"=") })
}

// capped keeps the first and last maxOutput/2 bytes written to it.
type capped struct {
	head, tail bytes.Buffer
	dropped    int
}

func (c *capped) Write(p []byte) (int, error) {
	n := len(p)
	if room := maxOutput/2 - c.head.Len(); room > 0 {
		k := min(room, len(p))
		c.head.Write(p[:k])
		p = p[k:]
	}
	if len(p) > 0 {
		c.tail.Write(p)
		if over := c.tail.Len() - maxOutput/2; over > 0 {
			c.dropped += over
			c.tail.Next(over)
		}
	}
	return n, nil
}

func (c *capped) String() string {
	if c.dropped == 0 {
		return c.head.String() + c.tail.String()
	}
	// The redactor matches whole secrets: one cut in two where output was
	// omitted would show its ends. The partial lines there go too.
	head, tail := c.head.Bytes(), c.tail.Bytes()
	head, tail = head[:keepBefore(head)], tail[keepAfter(tail):]
	dropped := c.dropped + c.head.Len() - len(head) + c.tail.Len() - len(tail)
	return fmt.Sprintf("%s\n… %d bytes of output omitted …\n%s", head, dropped, tail)
}

// cutMargin bounds what goes at a cut: the rest of a line, or as much of
// a longer one, which is longer than secrets come.
const cutMargin = 4 << 10

// keepBefore is how much of b to keep before a cut: up to its last line
// end within cutMargin of the cut.
func keepBefore(b []byte) int {
	from := max(len(b)-cutMargin, 0)
	if i := bytes.LastIndexByte(b[from:], '\n'); i >= 0 {
		return from + i + 1
	}
	return from
}

// keepAfter is where to resume in b after a cut: past its first line end
// within cutMargin of the cut.
func keepAfter(b []byte) int {
	end := min(cutMargin, len(b))
	if i := bytes.IndexByte(b[:end], '\n'); i >= 0 {
		return i + 1
	}
	return end
}
