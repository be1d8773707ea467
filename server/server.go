package server

import (
	"cmp"
	"context"
	"crypto/tls"
	"encoding/json"
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
	"github.com/atoll-iac/atoll/runner/joblog"
	"github.com/atoll-iac/atoll/runner/policy"
	"github.com/atoll-iac/atoll/runner/queue"
	"github.com/atoll-iac/atoll/runner/tool"
	"github.com/atoll-iac/atoll/runner/workspace"
	"github.com/atoll-iac/atoll/vcs"
	"github.com/atoll-iac/atoll/workflows"
)

// Server receives forge events and runs what they ask for. New builds
// it; nothing runs until Start (or Run).
type Server struct {
	log    *slog.Logger
	allow  Allowlist
	forges []vcs.Forge
	// jobs decides what events ask for and runs it; pool runs the tasks
	// in tasks, the durable queue, with jobs.Handle.
	jobs   *runner.Runner
	pool   *queue.Pool
	tasks  queue.Store
	locker locking.Locker
	// pingStore checks that the store answers; closeStore closes it.
	pingStore  func(context.Context) error
	closeStore func() error
	// queueing is held for reading by intake while it queues a task, and
	// for writing to close the store: none is cut off midway. Once
	// storeClosed, intake refuses events.
	queueing    sync.RWMutex
	storeClosed bool
	// bodies bounds the webhook bodies read: in size, memory and time.
	bodies bodyLimits
	// refused names the forges whose webhooks are refused: unsigned, on a
	// server that polls.
	refused map[string]bool
	// pollers poll the forges, from Start until stopPolling.
	pollers []*poller
	// inboxes names the forges whose delivery log a poller reads: their
	// webhooks mark the deliveries they take (inbox.go).
	inboxes map[string]bool
	// drift keeps the drift checks' reports.
	drift driftReports
	// repoConfig is the server-side repo config, whose drift: entries
	// the drift checks follow.
	repoConfig  workflows.ServerConfig
	polling     sync.WaitGroup
	stopPolling context.CancelFunc
	// sandbox is "on" when steps run confined.
	sandbox string
	// metrics are what /metrics shows.
	metrics *metrics
	// web serves the UI; nil when it is off.
	web *web
	// records keeps each job's record and output.
	records joblog.Store
	// apiSecret is the API's bearer token; no API when empty.
	apiSecret string
	// recording counts the job records being written after their
	// webhook's answer; the store closes once they are written.
	recording sync.WaitGroup
	// prefetch is set when the jobs queued here run here (no replicas):
	// their pull requests' commits are fetched as they are queued.
	prefetch bool
	// lockTTL is how long a project lock lasts untaken; 0 for ever.
	lockTTL time.Duration
}

// New builds a server from cfg: it opens the stores under cfg.DataDir (or
// in Redis) and wires the job runner to them. Close releases them.
func New(cfg Config) (*Server, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	log := cmp.Or(cfg.Logger, slog.Default())
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("server: creating the data directory: %w", err)
	}
	if cfg.ToolUser != nil {
		if err := cfg.checkToolUser(); err != nil {
			if !cfg.ToolUserByDefault {
				return nil, err
			}
			log.Warn("steps run as root, not as the tool user: "+err.Error(), "tool_user", cfg.ToolUser.UID)
			cfg.ToolUser = nil
		}
	}
	for _, g := range cfg.RepoAllowlist.hostLike() {
		log.Warn("a --repo-allowlist entry seems to start with a host: atoll matches owner/repo with no host, so it matches nothing unless its first part is a GitLab group", "entry", g)
	}
	binDir := cmp.Or(cfg.TFBinDir, filepath.Join(cfg.DataDir, "bin"))
	if err := os.MkdirAll(binDir, 0o755); err != nil {
		return nil, fmt.Errorf("server: creating the tool directory: %w", err)
	}
	st, err := openStores(cfg)
	if err != nil {
		return nil, err
	}
	m := newMetrics(log, st.tasks, st.locker)
	forges, err := newForges(log, cfg, m)
	if err != nil {
		return nil, errors.Join(err, st.close())
	}
	sandbox, err := newSandbox(log, cfg.Sandbox, cfg.SandboxReadPaths)
	if err != nil {
		return nil, errors.Join(err, st.close())
	}
	sandbox.User, sandbox.Root = cfg.ToolUser, cfg.DataDir
	if cfg.ToolUser == nil && os.Geteuid() == 0 {
		log.Warn("atoll runs as root and so do its steps, if without capabilities (--tool-user=self); --tool-user runs them as another user")
	}
	drift := driftReports{tasks: st.tasks, m: m}
	policies, err := loadPolicies(cfg.Policy.RepoConfig.Policies)
	if err != nil {
		return nil, errors.Join(err, st.close())
	}
	claimTTL := cmp.Or(cfg.ClaimTTL, queue.DefaultClaimTTL)
	redact := tool.NewRedactor(append(secrets(cfg), redactedValues(log, cfg)...)...)
	// A tool stopped because its job lost the claim must be gone before
	// the claim lapses to another replica: it is stopped at half the TTL
	// at the latest, and gets a quarter to exit.
	exec := tool.New(tool.Config{Tool: cfg.Tool, Env: cfg.Env, Secrets: secrets(cfg), Redactor: redact,
		PluginCacheDir: filepath.Join(cfg.DataDir, "plugin-cache"), StopGrace: claimTTL / 4, Sandbox: sandbox})
	jobs := runner.New(runner.Config{
		Policy:      cfg.Policy,
		Forges:      forges,
		Locker:      st.locker,
		Plans:       st.plans,
		Workspaces:  workspace.NewWorkspaces(filepath.Join(cfg.DataDir, "repos"), tool.ScrubEnv(cfg.Env, secrets(cfg))),
		Exec:        exec,
		Tools:       tool.NewTools(tool.ToolsConfig{Default: cfg.Tool, BinDir: binDir, SearchPath: envValues(cfg.Env, []string{"PATH"})["PATH"], Download: cfg.TFDownload, DownloadURL: cfg.TFDownloadURL, Runner: exec}),
		Redactor:    redact,
		Ping:        st.ping,
		Parallelism: cfg.Parallelism,
		Logger:      log,
		Observer:    m,
		Drift:       drift,
		Policies:    policies,
		Jobs:        st.jobs,
		Tasks:       st.tasks,
	})
	s := &Server{
		log:        log,
		prefetch:   cfg.Redis.Addr == "",
		lockTTL:    cfg.LockTTL,
		allow:      cfg.RepoAllowlist,
		forges:     forges,
		jobs:       jobs,
		pool:       queue.NewPool(queue.PoolConfig{Store: st.tasks, Handler: jobs.Handle, Workers: cfg.Parallelism, ClaimTTL: claimTTL, Logger: log}),
		tasks:      st.tasks,
		locker:     st.locker,
		pingStore:  st.ping,
		closeStore: st.close,
		bodies:     webhookLimits(),
		refused:    unsignedRefused(cfg),
		inboxes:    map[string]bool{},
		repoConfig: cfg.Policy.RepoConfig,
		drift:      drift,
		sandbox:    sandboxState(sandbox),
		metrics:    m,
		apiSecret:  cfg.APISecret,
		records:    st.jobs,
	}
	if cfg.Web.on() {
		s.web = newWeb(s, cfg.Web)
	}
	if cfg.PollInterval > 0 {
		for _, f := range forges {
			if w, ok := f.(vcs.Watcher); ok {
				s.pollers = append(s.pollers, newPoller(s, f, w, cfg.PollInterval))
			}
		}
	}
	if cfg.DriftInterval > 0 {
		for _, f := range forges {
			if w, ok := f.(vcs.Watcher); ok {
				s.pollers = append(s.pollers, newDriftScheduler(s, f, w, cfg.DriftInterval))
			}
		}
	}
	if cfg.InboxInterval > 0 {
		for _, f := range forges {
			if d, ok := f.(vcs.DeliveryLog); ok {
				s.pollers = append(s.pollers, newInbox(s, f, d, cfg.InboxInterval))
				s.inboxes[f.Name()] = true
			}
		}
	}
	return s, nil
}

// minRedacted is the length below which a --redact-env value is not
// redacted: hiding "1" or "true" everywhere would make comments unreadable.
const minRedacted = 6

// redactedValues are the values of cfg.RedactEnv's variables long enough
// to redact.
func redactedValues(log *slog.Logger, cfg Config) []string {
	values := envValues(cfg.Env, cfg.RedactEnv)
	for name, v := range values {
		if len(v) < minRedacted {
			log.Warn("not redacting a value this short: it would garble every comment", "variable", name)
			delete(values, name)
		}
	}
	return slices.Collect(maps.Values(values))
}

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

// Start starts the workers that run queued jobs, those left from before
// a restart first, and the pollers.
func (s *Server) Start() {
	if n, err := s.tasks.Pending(context.Background()); err == nil && n > 0 {
		s.log.Info("jobs waiting in the queue", "count", n)
	}
	s.pool.Start()
	ctx, cancel := context.WithCancel(context.Background())
	s.stopPolling = cancel
	for _, p := range s.pollers {
		s.polling.Go(func() { p.run(ctx) })
	}
	s.polling.Go(func() { s.passTurns(ctx, s.lockTTL) })
}

// stopPollers stops the pollers and waits for them to end.
func (s *Server) stopPollers() {
	if s.stopPolling != nil {
		s.stopPolling()
	}
	s.polling.Wait()
}

// Locks returns the project locks held now, ordered by key: what the web
// UI and the API show operators.
func (s *Server) Locks(ctx context.Context) ([]locking.Lock, error) {
	return s.locker.List(ctx)
}

// Handler serves atoll's HTTP endpoints.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /events", s.countWebhooks(s.handleEvents))
	mux.Handle("GET /metrics", s.metrics.handler())
	if s.web != nil {
		s.web.route(mux)
	}
	if s.apiSecret != "" {
		s.routeAPI(mux, s.apiSecret)
	}
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.Handle("GET /readyz", &readyProbe{s: s})
	return mux
}

// health is what /healthz answers.
type health struct {
	Status string `json:"status"`
	Reason string `json:"reason,omitempty"`
	// Sandbox is "on" when steps run confined, else "off".
	Sandbox string `json:"sandbox"`
	// Pollers says, by forge, how polling goes.
	Pollers map[string]pollStatus `json:"pollers,omitempty"`
}

// healthz answers whether the server can work: 200 and "ok", or 503 and
// "degraded" when its store (Redis) does not answer. It recovers by
// itself when the store comes back. It says how each poller is doing
// too, which does not make the server unhealthy: webhooks may still
// come in.
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	h := health{Status: "ok", Sandbox: s.sandbox}
	for _, p := range s.pollers {
		if h.Pollers == nil {
			h.Pollers = map[string]pollStatus{}
		}
		h.Pollers[p.name] = p.state()
	}
	code := http.StatusOK
	if err := s.pingStore(ctx); err != nil {
		s.log.Warn("health check: the store does not answer", "err", err)
		code = http.StatusServiceUnavailable
		h.Status, h.Reason = "degraded", "the lock and job store does not answer"
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(h)
}

// Close stops taking jobs, waits until ctx is done for running ones to
// finish, hands the rest back to the queue, and closes the store.
func (s *Server) Close(ctx context.Context) error {
	s.stopPollers()
	s.pool.Stop(ctx)
	s.jobs.Close()
	return s.shutStore()
}

// shutStore closes the store once no event is being queued.
func (s *Server) shutStore() error {
	s.queueing.Lock()
	defer s.queueing.Unlock()
	if s.storeClosed {
		return nil
	}
	s.storeClosed = true
	s.recording.Wait()
	return s.closeStore()
}

// httpServer is the HTTP server Run serves s.Handler() with, its
// requests' contexts derived from ctx. Anyone who can reach it may send
// anything, so a connection gets little time and memory before its
// request is whole: headers of at most 64 KiB within 5 seconds, then a
// body within the deadline the handler sets (webhookLimits), and a read
// timeout for the whole request that outlasts both, for handlers that
// set none.
func (s *Server) httpServer(ctx context.Context) *http.Server {
	return &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 5 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ReadTimeout:       20 * time.Second,
		IdleTimeout:       2 * time.Minute,
		BaseContext:       func(net.Listener) context.Context { return ctx },
		// Its own complaints (a TLS handshake gone wrong, a handler's
		// panic) go to the server's log, in its format.
		ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
}

// Run serves cfg on cfg.Addr until ctx is cancelled, then shuts down
// gracefully.
func Run(ctx context.Context, cfg Config) error {
	ln, err := net.Listen("tcp", cmp.Or(cfg.Addr, ":4141"))
	if err != nil {
		return err
	}
	return Serve(ctx, cfg, ln)
}

// Serve is Run on a listener of the caller's, which it closes: for a
// caller that listens on a port of the system's choosing and needs to
// know it (atoll testdrive). cfg.Addr is not used.
func Serve(ctx context.Context, cfg Config, ln net.Listener) error {
	if cfg.TLSCertFile != "" {
		// Refused before anything starts, rather than at the first
		// handshake.
		if _, err := tls.LoadX509KeyPair(cfg.TLSCertFile, cfg.TLSKeyFile); err != nil {
			ln.Close()
			return fmt.Errorf("server: TLS certificate and key: %w", err)
		}
	}
	s, err := New(cfg)
	if err != nil {
		ln.Close()
		return err
	}
	s.Start()
	srv := s.httpServer(ctx)
	s.log.Info("atoll listening", "addr", ln.Addr().String(), "tool", cfg.Tool.Path)
	errc := make(chan error, 1)
	go func() {
		if cfg.TLSCertFile != "" {
			errc <- srv.ServeTLS(ln, cfg.TLSCertFile, cfg.TLSKeyFile)
			return
		}
		errc <- srv.Serve(ln)
	}()
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
	draining.Go(s.stopPollers)
	s.pool.Stop(shutdown)
	draining.Wait()
	if cerr := s.shutStore(); cerr != nil && err == nil {
		err = cerr
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// loadPolicies loads the policy sets of the server-side repo config's
// policies, if any: the runner checks every plan against them. Nil, as
// a runner.PolicyChecker, when there are none.
func loadPolicies(p *workflows.Policies) (runner.PolicyChecker, error) {
	if p == nil {
		return nil, nil
	}
	sets := make([]policy.Set, len(p.Sets))
	for i, s := range p.Sets {
		sets[i] = policy.Set{Name: s.Name, Path: s.Path}
	}
	c, err := policy.Load(context.Background(), sets)
	if err != nil {
		return nil, fmt.Errorf("server: policies: %w", err)
	}
	return c, nil
}
