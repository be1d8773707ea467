package server

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/atoll-iac/atoll/locking"
	"github.com/atoll-iac/atoll/runner"
	"github.com/atoll-iac/atoll/vcs"
	"github.com/atoll-iac/atoll/workflows"
)

// Server receives forge events and runs what they ask for.
type Server struct {
	log        *slog.Logger
	allow      Allowlist
	forges     []vcs.Forge
	locker     locking.Locker
	closeStore func() error
	// queueing is held for reading by webhooks while they queue a task,
	// and for writing to close the store: none is cut off midway. Once
	// storeClosed, webhooks are refused.
	queueing    sync.RWMutex
	storeClosed bool
	// tasks is the durable queue of jobs; pingStore checks that it and
	// the locks answer.
	tasks     runner.TaskStore
	pingStore func(context.Context) error
	// replica names this process among the consumers of tasks.
	replica string
	// claimTTL is how long a task stays claimed without being extended.
	claimTTL time.Duration
	// lockTTL, when set, bounds how long a project lock outlives its pull
	// request's last command.
	lockTTL time.Duration
	// workers run tasks; see startWorkers.
	workers    workers
	workspaces *runner.Workspaces
	runner     *runner.Runner
	tools      *runner.Tools
	jobTimeout time.Duration
	// reading admits a bounded number of webhook bodies into memory at once.
	reading chan struct{}
	redact  *runner.Redactor
	dataDir string
	// slots bound the projects running at once across all jobs.
	slots chan struct{}

	requirements Requirements
	serverConfig workflows.ServerConfig
	commenters   []string
	allowForks   bool
	allowedExtra []string
	automerge    bool
	hidePrev     bool
}

// New builds a server from cfg: it opens the lock store under cfg.DataDir
// and starts the job workers. Close releases them.
func New(cfg Config) (*Server, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	if cfg.DataDir == "" {
		return nil, errors.New("no data directory")
	}
	if cfg.Tool.Path == "" {
		return nil, errors.New("no tofu or terraform binary")
	}
	if cfg.ClaimTTL != 0 && cfg.ClaimTTL < time.Second {
		return nil, fmt.Errorf("claim TTL %v: want at least 1s", cfg.ClaimTTL)
	}
	if cfg.LockTTL != 0 && cfg.LockTTL < time.Second {
		return nil, fmt.Errorf("lock TTL %v: want 0 (never) or at least 1s", cfg.LockTTL)
	}
	forges, err := newForges(cfg)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("creating data directory: %w", err)
	}
	st, err := openStores(cfg)
	if err != nil {
		return nil, err
	}
	if len(forges) == 0 {
		log.Warn("no forge configured: every webhook will be refused; set --gh-token")
	}
	if cfg.GitHub.WebhookSecret == "" {
		log.Warn("NO WEBHOOK SECRET: anyone who can reach this server can make it plan any open pull request; set --gh-webhook-secret")
	}
	workers := max(cfg.Parallelism, 1)
	binDir := cmp.Or(cfg.TFBinDir, filepath.Join(cfg.DataDir, "bin"))
	if err := os.MkdirAll(binDir, 0o755); err != nil {
		return nil, errors.Join(fmt.Errorf("creating the tool directory: %w", err), st.close())
	}
	redactValues := envValues(cfg.Env, cfg.RedactEnv)
	for name, v := range redactValues {
		if len(v) < minRedacted {
			log.Warn("not redacting a value this short: it would garble every comment", "variable", name)
			delete(redactValues, name)
		}
	}
	redact := runner.NewRedactor(append(secrets(cfg), slices.Collect(maps.Values(redactValues))...)...)
	claimTTL := cmp.Or(cfg.ClaimTTL, defaultClaimTTL)
	// A tool stopped because its job lost the claim must be gone before
	// the claim lapses to another replica: it is stopped at half the TTL
	// at the latest, and gets a quarter to exit.
	run := runner.New(runner.Config{Tool: cfg.Tool, Env: cfg.Env, Secrets: secrets(cfg), Redactor: redact,
		PluginCacheDir: filepath.Join(cfg.DataDir, "plugin-cache"), StopGrace: claimTTL / 4})
	workspaces := runner.NewWorkspaces(cfg.DataDir, runner.ScrubEnv(cfg.Env, secrets(cfg)))
	if st.plans != nil {
		workspaces.SharePlans(st.plans)
	}
	s := &Server{
		log:        log,
		allow:      cfg.RepoAllowlist,
		forges:     forges,
		locker:     st.locker,
		tasks:      st.tasks,
		pingStore:  st.ping,
		closeStore: st.close,
		replica:    replicaName(),
		claimTTL:   claimTTL,
		lockTTL:    cfg.LockTTL,
		workspaces: workspaces,
		runner:     run,
		tools:      runner.NewTools(runner.ToolsConfig{Default: cfg.Tool, BinDir: binDir, SearchPath: envValues(cfg.Env, []string{"PATH"})["PATH"], Download: cfg.TFDownload, DownloadURL: cfg.TFDownloadURL, Runner: run}),
		jobTimeout: cmp.Or(cfg.JobTimeout, time.Hour),
		reading:    make(chan struct{}, 64),
		redact:     redact,
		dataDir:    cfg.DataDir,
		slots:      make(chan struct{}, workers),

		requirements: cfg.ApplyRequirements,
		serverConfig: cfg.RepoConfig,
		commenters:   cfg.AllowedCommenters,
		allowForks:   cfg.AllowForkPRs,
		allowedExtra: cfg.AllowedExtraArgs,
		automerge:    cfg.Automerge,
		hidePrev:     cfg.HidePrevPlanComments,
	}
	s.startWorkers(workers)
	return s, nil
}

// minRedacted is the length below which a --redact-env value is not
// redacted: hiding "1" or "true" everywhere would make comments unreadable.
const minRedacted = 6

// envValues returns the values of the named variables in env, by name.
func envValues(env, names []string) map[string]string {
	values := map[string]string{}
	for _, kv := range env {
		name, value, _ := strings.Cut(kv, "=")
		if slices.Contains(names, name) && value != "" {
			values[name] = value
		}
	}
	return values
}

// Handler serves atoll's HTTP endpoints.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /events", s.handleEvents)
	mux.HandleFunc("GET /healthz", s.healthz)
	return mux
}

// healthz answers whether the server can work: 200 and "ok", or 503 and
// "degraded" when its store (Redis) does not answer. It recovers by
// itself when the store comes back.
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	w.Header().Set("Content-Type", "application/json")
	if err := s.pingStore(ctx); err != nil {
		s.log.Warn("health check: the store does not answer", "err", err)
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintln(w, `{"status":"degraded","reason":"the lock and job store does not answer"}`)
		return
	}
	fmt.Fprintln(w, `{"status":"ok"}`)
}

// Close stops taking jobs, waits until ctx is done for running ones to
// finish, cancels the rest, and closes the lock store.
func (s *Server) Close(ctx context.Context) error {
	s.stopWorkers(ctx)
	return s.shutStore()
}

// shutStore closes the store once no webhook is queueing a task.
func (s *Server) shutStore() error {
	s.queueing.Lock()
	defer s.queueing.Unlock()
	if s.storeClosed {
		return nil
	}
	s.storeClosed = true
	return s.closeStore()
}

// Run serves cfg until ctx is cancelled, then shuts down gracefully.
func Run(ctx context.Context, cfg Config) error {
	s, err := New(cfg)
	if err != nil {
		return err
	}
	addr := cfg.Addr
	if addr == "" {
		addr = ":4141"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		s.Close(context.Background())
		return err
	}
	srv := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       time.Minute,
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	s.log.Info("atoll listening", "addr", ln.Addr().String(), "tool", cfg.Tool.Path)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err = <-errc:
	case <-ctx.Done():
		s.log.Info("shutting down")
	}
	// No new webhooks and no new tasks, at once; running jobs get
	// ShutdownTimeout to finish, and what is left stays queued for the
	// next run or another replica. The store stays open until the last
	// webhook has queued its task (see queueing).
	shutdown, cancel := context.WithTimeout(context.Background(), cmp.Or(cfg.ShutdownTimeout, time.Minute))
	defer cancel()
	var draining sync.WaitGroup
	draining.Go(func() { srv.Shutdown(shutdown) })
	s.stopWorkers(shutdown)
	draining.Wait()
	if cerr := s.shutStore(); cerr != nil && err == nil {
		err = cerr
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}
