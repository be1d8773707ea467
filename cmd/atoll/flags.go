package main

import (
	"cmp"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/user"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/atoll-iac/atoll/runner"
	"github.com/atoll-iac/atoll/runner/tool"
	"github.com/atoll-iac/atoll/server"
	"github.com/atoll-iac/atoll/vcs/github"
	"github.com/atoll-iac/atoll/vcs/gitlab"
	"github.com/atoll-iac/atoll/workflows"
)

// errHelp reports that -h was asked for and usage printed.
var errHelp = errors.New("help requested")

// serverFlags are the flags of atoll server, as parsed.
type serverFlags struct {
	port, parallelism, redisDB                                 int
	bind, dataDir, allowlist                                   string
	ghToken, ghSecret, ghAPI, ghAppKeyFile                     string
	ghAppID                                                    int64
	glToken, glSecret, glURL                                   string
	dist, bin, binDir, downloadURL                             string
	requirements, commenters, extraArgs, redactEnv, repoConfig string
	redisAddr, redisPassword                                   string
	download, allowForks, automerge, hidePrev, redisTLS, inbox bool
	enablePolicyChecks, lockQueue, replanStale                 bool
	lockTTL, claimTTL, shutdownTimeout, pollInterval           time.Duration
	inboxInterval, driftInterval                               time.Duration
	sandbox, sandboxReadPaths, toolUser                        string
	logFormat, logLevel                                        string
	webUser, webPassword, webAuth                              string
	tlsCert, tlsKey, apiSecret                                 string
	jobRetention                                               time.Duration
	// secretFiles holds, by secret flag, the file its -file form names.
	secretFiles map[string]*string
}

// secretFlags are the flags whose values are secrets. Each has a -file
// form: a value on the command line is in /proc/PID/cmdline, which every
// local user can read.
var secretFlags = []string{"gh-token", "gh-webhook-secret", "gitlab-token", "gitlab-webhook-secret", "redis-password", "web-password", "api-secret"}

// secret is where the value of secret flag name goes.
func (f *serverFlags) secret(name string) *string {
	return map[string]*string{
		"gh-token": &f.ghToken, "gh-webhook-secret": &f.ghSecret,
		"gitlab-token": &f.glToken, "gitlab-webhook-secret": &f.glSecret,
		"redis-password": &f.redisPassword,
		"web-password":   &f.webPassword,
		"api-secret":     &f.apiSecret,
	}[name]
}

// define defines the flags on fs.
func (f *serverFlags) define(fs *flag.FlagSet) {
	fs.IntVar(&f.port, "port", 4141, "port to listen on")
	fs.StringVar(&f.bind, "bind-addr", "", "address to listen on (default: all interfaces)")
	fs.StringVar(&f.dataDir, "data-dir", "~/.atoll", "where workspaces are kept and, without --redis-addr, the locks, the job queue and plan files")
	fs.StringVar(&f.allowlist, "repo-allowlist", "", "comma-separated globs on owner/repo (GitLab: the full path, group/sub/project) that atoll acts for, such as acme/* or group/sub/*; * alone for all (required)")
	fs.StringVar(&f.ghToken, "gh-token", "", "GitHub token atoll reads, comments and fetches with (required, unless --gh-app-id or --gitlab-token)")
	fs.Int64Var(&f.ghAppID, "gh-app-id", 0, "ID of the GitHub App atoll acts as, with --gh-app-key-file, instead of --gh-token: it speaks for each repository as the App's installation on its account")
	fs.BoolVar(&f.inbox, "gh-app-inbox", true, "with --gh-app-id, read the App's log of webhook deliveries and take those that did not reach atoll: events with no endpoint GitHub can reach, and none lost while atoll was down (GitHub keeps three days; comments older than 12h are not run)")
	fs.DurationVar(&f.inboxInterval, "gh-app-inbox-interval", 5*time.Second, "how often --gh-app-inbox reads the log: one request each time, and one per delivery that did not reach atoll")
	fs.StringVar(&f.ghAppKeyFile, "gh-app-key-file", "", "the GitHub App's private key (the PEM file GitHub hands out); read at start, never logged, kept out of tool environments")
	fs.StringVar(&f.ghSecret, "gh-webhook-secret", "", "secret GitHub signs webhooks with (X-Hub-Signature-256); without one, anyone who can reach atoll can make it plan")
	fs.StringVar(&f.ghAPI, "gh-api-url", github.DefaultAPIURL, "GitHub REST API root; for GitHub Enterprise, https://HOST/api/v3/")
	fs.StringVar(&f.glToken, "gitlab-token", "", "GitLab access token (api scope) atoll reads, comments and fetches with (required, unless --gh-token)")
	fs.StringVar(&f.glSecret, "gitlab-webhook-secret", "", "secret token GitLab sends with webhooks (X-Gitlab-Token)")
	fs.StringVar(&f.glURL, "gitlab-url", gitlab.DefaultURL, "GitLab instance, also under a path, such as https://example.com/gitlab")
	fs.DurationVar(&f.pollInterval, "poll-interval", 0, "ask the forges what changed this often (at least 1s), for a server they cannot reach; 0 for webhooks only")
	fs.DurationVar(&f.driftInterval, "drift-interval", 0, "check the default branch of each repository in --repo-allowlist's scope for drift this often (at least 1m), at a time of its own; 0 for never")
	fs.StringVar(&f.dist, "tf-distribution", string(workflows.OpenTofu), "opentofu or terraform")
	fs.StringVar(&f.bin, "tf-bin", "", "tofu or terraform binary to run (default: the distribution's binary on PATH)")
	fs.StringVar(&f.binDir, "tf-bin-dir", "", "other releases, as DIR/tofu/1.10.7/tofu and DIR/terraform/1.11.4/terraform (default: DATA_DIR/bin)")
	fs.BoolVar(&f.download, "tf-download", true, "download, check against their SHA256SUMS and install releases that projects ask for and --tf-bin-dir lacks")
	fs.StringVar(&f.downloadURL, "tf-download-url", "", "base URL of releases, https (plain http only to this machine): one URL for --tf-distribution, or opentofu=URL,terraform=URL (default: the publishers' sites)")
	fs.IntVar(&f.parallelism, "parallelism", runtime.NumCPU(), "how many jobs this replica runs at once")
	fs.StringVar(&f.requirements, "apply-requirements", "approved", "what a pull request needs before apply: comma-separated approved, mergeable, undiverged, or none")
	fs.StringVar(&f.commenters, "allowed-commenters", "", "comma-separated users and org/teams (GitLab: groups, group/sub) who may run commands (default: everyone with write access; GitLab: Developer)")
	fs.BoolVar(&f.allowForks, "allow-fork-prs", false, "plan and apply pull requests from forks, whose code then runs with the server's credentials")
	fs.StringVar(&f.extraArgs, "allowed-extra-args", "", "comma-separated prefixes of tool arguments comments may add after --, e.g. -target=,-var=")
	fs.BoolVar(&f.automerge, "automerge", false, "merge a pull request once all its plans are applied")
	fs.BoolVar(&f.hidePrev, "hide-prev-plan-comments", false, "collapse a pull request's earlier plan comments when it gets a new one (GitLab: edit them into a block marked outdated)")
	fs.StringVar(&f.redactEnv, "redact-env", "", "comma-separated environment variables whose values (of 6 characters or more; atoll warns of shorter ones) never appear in comments")
	fs.BoolVar(&f.enablePolicyChecks, "enable-policy-checks", false, "accepted, as Atlantis has it: plans are checked against policies whenever --repo-config has policies")
	fs.StringVar(&f.repoConfig, "repo-config", "", "server-side repo config file: what each repository gets and may set in its own config")
	fs.DurationVar(&f.lockTTL, "lock-ttl", 0, "let a project lock lapse this long after its pull request's last plan or apply of it, for pull requests abandoned without a close event; 0 holds it until the pull request is closed or merged")
	fs.BoolVar(&f.lockQueue, "lock-queue", true, "put a pull request whose plan finds a project locked by another in line for the lock, and plan it when its turn comes")
	fs.BoolVar(&f.replanStale, "replan-stale", false, "when an apply makes other pull requests' plans of its projects stale, plan them again (they are marked stale and refused either way)")
	fs.DurationVar(&f.claimTTL, "claim-ttl", 30*time.Second, "how soon another replica takes over the jobs of one that died; a tool atoll stops gets a quarter of it to exit")
	fs.DurationVar(&f.shutdownTimeout, "shutdown-timeout", time.Minute, "on SIGTERM, how long running jobs may finish; the rest stay queued")
	fs.StringVar(&f.redisAddr, "redis-addr", "", "host:port of the Redis that replicas share locks, jobs, plans and webhook deliveries through (default: an embedded store in --data-dir)")
	fs.StringVar(&f.redisPassword, "redis-password", "", "password for --redis-addr, never logged and kept out of tool environments")
	fs.IntVar(&f.redisDB, "redis-db", 0, "Redis database number")
	fs.BoolVar(&f.redisTLS, "redis-tls", false, "connect to --redis-addr with TLS, checking its certificate")
	fs.StringVar(&f.sandbox, "sandbox", string(server.SandboxAuto), "confine every tool run to its workspace with Landlock: auto (when the kernel can, else warn loudly), required (refuse to start without), or off")
	fs.StringVar(&f.toolUser, "tool-user", "", "the user steps run as when atoll runs as root: a name or uid[:gid], or self for root itself, with no capability; the tool and --data-dir must be reachable to it (default: nobody when atoll is root, else atoll's own user)")
	fs.StringVar(&f.sandboxReadPaths, "sandbox-read-paths", "", "comma-separated absolute directories tool runs may also read and run files from, such as where a tool wrapper keeps the binaries it runs")
	fs.StringVar(&f.tlsCert, "tls-cert-file", "", "PEM certificate (chain) to serve HTTPS with, with --tls-key-file (default: plain HTTP, for a proxy that terminates TLS)")
	fs.StringVar(&f.tlsKey, "tls-key-file", "", "PEM private key of --tls-cert-file")
	fs.StringVar(&f.webUser, "web-username", "", "user name of the web UI (/, /locks), which is off unless it and --web-password, or --web-auth=none, are given")
	fs.StringVar(&f.webPassword, "web-password", "", "password of the web UI's user, asked for by HTTP basic auth: serve atoll over TLS (--tls-cert-file, or a proxy)")
	fs.StringVar(&f.webAuth, "web-auth", "basic", "basic: the web UI asks for --web-username and --web-password; none: it is open to whoever reaches the server, unlock included")
	fs.StringVar(&f.apiSecret, "api-secret", "", "token the JSON API under /api/ asks for, as Authorization: Bearer TOKEN (default: no API)")
	fs.DurationVar(&f.jobRetention, "job-log-retention", 14*24*time.Hour, "how long a job's record and output are kept, for the web UI and the API, after its last change")
	fs.StringVar(&f.logFormat, "log-format", "text", "how logs are written to stderr: text (key=value pairs) or json (one object a line)")
	fs.StringVar(&f.logLevel, "log-level", "", "the least severe logs written: debug, info, warn or error (default: info; atoll ci: warn)")
	f.secretFiles = map[string]*string{}
	for _, name := range secretFlags {
		f.secretFiles[name] = fs.String(name+"-file", "", "file holding --"+name+", its trailing newline dropped: a flag's value is in /proc/PID/cmdline, which every local user can read")
	}
}

// readSecretFiles reads the secrets whose -file forms are given.
func (f *serverFlags) readSecretFiles() error {
	for _, name := range secretFlags {
		file := *f.secretFiles[name]
		if file == "" {
			continue
		}
		if *f.secret(name) != "" {
			return fmt.Errorf("--%s and --%s-file are both set: give one", name, name)
		}
		v, err := readSecretFile(file)
		if err != nil {
			return fmt.Errorf("--%s-file: %v", name, err)
		}
		*f.secret(name) = v
	}
	return nil
}

// maxSecretFile bounds a secret file: a token or a password, not a
// mistake such as a log.
const maxSecretFile = 64 << 10

// readSecretFile reads a secret from file, a regular file, without the
// white space around it. Its errors do not quote a file that does not
// exist: a secret given where its file should be would reach the log.
func readSecretFile(file string) (string, error) {
	// Not waiting on a pipe with no writer.
	fh, err := os.OpenFile(file, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if errors.Is(err, os.ErrNotExist) {
		return "", errors.New("no such file (the flag takes the path of a file holding the secret)")
	}
	if err != nil {
		return "", err
	}
	defer fh.Close()
	if fi, err := fh.Stat(); err != nil || !fi.Mode().IsRegular() {
		return "", fmt.Errorf("%s is not a regular file", file)
	}
	b, err := io.ReadAll(io.LimitReader(fh, maxSecretFile+1))
	switch {
	case err != nil:
		return "", err
	case len(b) > maxSecretFile:
		return "", fmt.Errorf("%s is larger than %d bytes: not a secret", file, maxSecretFile)
	}
	v := strings.TrimSpace(string(b))
	if v == "" {
		return "", fmt.Errorf("%s is empty", file)
	}
	return v, nil
}

// secretsOnCommandLine names the secret flags args gives values to.
func secretsOnCommandLine(args []string) []string {
	var named []string
	for _, a := range args {
		name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if strings.HasPrefix(a, "-") && slices.Contains(secretFlags, name) && !slices.Contains(named, name) {
			named = append(named, name)
		}
	}
	return named
}

// serverConfig is readServerFlags with a Logger that writes nowhere, for
// callers that log elsewhere (atoll testdrive).
func serverConfig(args []string, getenv func(string) (string, bool), stdout io.Writer) (server.Config, error) {
	return readServerFlags(args, getenv, stdout, io.Discard)
}

// readServerFlags reads the server's flags, each of which may also come
// from its environment variable, into a server.Config whose Logger writes
// to logs as --log-format and --log-level say. Errors name the flag.
func readServerFlags(args []string, getenv func(string) (string, bool), stdout, logs io.Writer) (server.Config, error) {
	fs := flag.NewFlagSet("atoll server", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var f serverFlags
	f.define(fs)
	if err := parse(fs, args, getenv); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printFlags(stdout, fs, "atoll server")
			return server.Config{}, errHelp
		}
		return server.Config{}, err
	}
	return f.config(logs)
}

// check refuses the values of the flags that need no reading of what
// they name, naming the flag.
func (f *serverFlags) check() error {
	switch {
	case f.ghToken == "" && f.ghAppID == 0 && f.glToken == "":
		return errors.New("--gh-token or --gh-app-id is required, or --gitlab-token: atoll needs a forge to read pull requests from and comment on")
	case f.ghToken != "" && f.ghAppID != 0:
		return errors.New("--gh-token and --gh-app-id are both set: give one, a token or an App")
	case f.ghAppID < 0:
		return fmt.Errorf("--gh-app-id %d: want the App's ID, a positive number", f.ghAppID)
	case f.ghAppID != 0 && f.ghAppKeyFile == "":
		return errors.New("--gh-app-id needs --gh-app-key-file, the App's private key")
	case f.ghAppID == 0 && f.ghAppKeyFile != "":
		return errors.New("--gh-app-key-file needs --gh-app-id")
	case f.inboxInterval < time.Second:
		return fmt.Errorf("--gh-app-inbox-interval %v: want at least 1s", f.inboxInterval)
	case f.driftInterval != 0 && f.driftInterval < time.Minute:
		return fmt.Errorf("--drift-interval %v: want at least 1m, or 0 for never", f.driftInterval)
	}
	if f.glToken != "" {
		if u, err := url.Parse(f.glURL); err != nil || u.Host == "" || u.Scheme != "https" && u.Scheme != "http" {
			return fmt.Errorf("--gitlab-url %q is not an http(s) URL", f.glURL)
		}
	}
	if f.redisAddr != "" {
		if _, _, err := net.SplitHostPort(f.redisAddr); err != nil {
			return fmt.Errorf("--redis-addr %q: want host:port", f.redisAddr)
		}
	}
	if err := server.CheckLockTTL(f.lockTTL); err != nil {
		return fmt.Errorf("--lock-ttl %v", err)
	}
	if err := server.CheckClaimTTL(f.claimTTL); err != nil {
		return fmt.Errorf("--claim-ttl %v", err)
	}
	switch {
	case f.webAuth != "basic" && f.webAuth != "none":
		return fmt.Errorf("--web-auth %q: want basic or none", f.webAuth)
	case f.webAuth == "none" && (f.webUser != "" || f.webPassword != ""):
		return errors.New("--web-auth=none opens the web UI to all: give no --web-username or --web-password with it")
	case f.jobRetention < time.Minute:
		return fmt.Errorf("--job-log-retention %v: want at least 1m", f.jobRetention)
	case f.apiSecret != "" && len(f.apiSecret) < 16:
		return errors.New("--api-secret is shorter than 16 characters: anyone could guess it")
	case (f.tlsCert == "") != (f.tlsKey == ""):
		return errors.New("--tls-cert-file and --tls-key-file go together: give both to serve HTTPS, or neither")
	case (f.webUser == "") != (f.webPassword == ""):
		return errors.New("--web-username and --web-password go together: give both for the web UI, or neither")
	case f.shutdownTimeout <= 0:
		return fmt.Errorf("--shutdown-timeout %v: want a positive duration", f.shutdownTimeout)
	case f.redisDB < 0:
		return fmt.Errorf("--redis-db %d: want 0 or more", f.redisDB)
	case f.pollInterval != 0 && f.pollInterval < time.Second:
		return fmt.Errorf("--poll-interval %v: want at least 1s, or 0 for webhooks only", f.pollInterval)
	}
	return nil
}

// config builds the server's Config from the flags, reading what they
// name; its Logger writes to logs.
func (f *serverFlags) config(logs io.Writer) (server.Config, error) {
	if f.allowlist == "" {
		return server.Config{}, errors.New("--repo-allowlist is required (comma-separated owner/repo globs, * for all)")
	}
	allow, err := server.ParseAllowlist(f.allowlist)
	switch {
	case err != nil:
		return server.Config{}, fmt.Errorf("--repo-allowlist: %v", err)
	case f.port < 0 || f.port > 65535:
		return server.Config{}, fmt.Errorf("--port %d is not a TCP port", f.port)
	case f.parallelism < 1:
		return server.Config{}, fmt.Errorf("--parallelism must be at least 1")
	}
	dist, err := workflows.ParseDistribution(f.dist)
	if err != nil {
		return server.Config{}, fmt.Errorf("--tf-distribution: %v", err)
	}
	tool, err := tool.FindTool(dist, f.bin)
	if err != nil {
		return server.Config{}, fmt.Errorf("--tf-distribution/--tf-bin: %v", err)
	}
	reqs, err := workflows.ParseRequirements("apply", f.requirements)
	if err != nil {
		return server.Config{}, fmt.Errorf("--apply-requirements: %v", err)
	}
	urls, err := downloadURLs(f.downloadURL, dist)
	if err != nil {
		return server.Config{}, fmt.Errorf("--tf-download-url: %v", err)
	}
	var repoConfig workflows.ServerConfig
	if f.repoConfig != "" {
		if repoConfig, err = workflows.LoadServerConfig(f.repoConfig); err != nil {
			return server.Config{}, fmt.Errorf("--repo-config: %v", err)
		}
	}
	if err := f.readSecretFiles(); err != nil {
		return server.Config{}, err
	}
	if err := f.check(); err != nil {
		return server.Config{}, err
	}
	var inboxInterval time.Duration
	if f.inbox && f.ghAppID != 0 {
		inboxInterval = f.inboxInterval
	}
	var appKey []byte
	if f.ghAppKeyFile != "" {
		key, err := readSecretFile(f.ghAppKeyFile)
		if err == nil {
			err = github.CheckAppKey([]byte(key))
		}
		if err != nil {
			return server.Config{}, fmt.Errorf("--gh-app-key-file: %v", err)
		}
		appKey = []byte(key)
	}
	if f.tlsCert != "" {
		if _, err := tls.LoadX509KeyPair(f.tlsCert, f.tlsKey); err != nil {
			return server.Config{}, fmt.Errorf("--tls-cert-file/--tls-key-file: %v", err)
		}
	}
	sandbox, err := server.ParseSandboxMode(f.sandbox)
	if err != nil {
		return server.Config{}, fmt.Errorf("--sandbox %v", err)
	}
	if err := server.CheckSandboxReadPaths(list(f.sandboxReadPaths)); err != nil {
		return server.Config{}, fmt.Errorf("--sandbox-read-paths: %v", err)
	}
	toolUser, err := parseToolUser(f.toolUser)
	byDefault := f.toolUser == ""
	if err != nil {
		return server.Config{}, fmt.Errorf("--tool-user %q: %v", f.toolUser, err)
	}
	dir, err := expandHome(f.dataDir)
	if err != nil {
		return server.Config{}, fmt.Errorf("--data-dir: %v", err)
	}
	logger, err := newLogger(logs, f.logFormat, cmp.Or(f.logLevel, "info"))
	if err != nil {
		return server.Config{}, err
	}
	return server.Config{
		Addr:              net.JoinHostPort(f.bind, strconv.Itoa(f.port)),
		DataDir:           dir,
		RepoAllowlist:     allow,
		GitHub:            github.Config{Token: f.ghToken, AppID: f.ghAppID, AppKey: appKey, WebhookSecret: f.ghSecret, APIURL: f.ghAPI},
		GitLab:            gitlab.Config{Token: f.glToken, WebhookSecret: f.glSecret, URL: f.glURL},
		Tool:              tool,
		TFBinDir:          f.binDir,
		TFDownload:        f.download,
		TFDownloadURL:     urls,
		Parallelism:       f.parallelism,
		ShutdownTimeout:   f.shutdownTimeout,
		ClaimTTL:          f.claimTTL,
		PollInterval:      f.pollInterval,
		InboxInterval:     inboxInterval,
		DriftInterval:     f.driftInterval,
		Sandbox:           sandbox,
		ToolUser:          toolUser,
		ToolUserByDefault: byDefault,
		SandboxReadPaths:  list(f.sandboxReadPaths),
		RedactEnv:         list(f.redactEnv),
		Redis:             server.RedisConfig{Addr: f.redisAddr, Password: f.redisPassword, DB: f.redisDB, TLS: f.redisTLS},
		Logger:            logger,
		APISecret:         f.apiSecret,
		JobRetention:      f.jobRetention,
		TLSCertFile:       f.tlsCert,
		TLSKeyFile:        f.tlsKey,
		Web:               server.WebConfig{Username: f.webUser, Password: f.webPassword, Open: f.webAuth == "none"},
		Policy: runner.Policy{
			ApplyRequirements:    reqs,
			RepoConfig:           repoConfig,
			AllowedCommenters:    list(f.commenters),
			AllowForkPRs:         f.allowForks,
			AllowedExtraArgs:     list(f.extraArgs),
			Automerge:            f.automerge,
			HidePrevPlanComments: f.hidePrev,
			LockTTL:              f.lockTTL,
			LockQueue:            f.lockQueue,
			ReplanStale:          f.replanStale,
		},
	}, nil
}

// newLogger returns a logger that writes to w in format, text or json,
// the records of level (debug, info, warn or error) and above. Errors
// name the flag.
func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	levels := map[string]slog.Level{"debug": slog.LevelDebug, "info": slog.LevelInfo, "warn": slog.LevelWarn, "error": slog.LevelError}
	lv, ok := levels[strings.ToLower(level)]
	if !ok {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch strings.ToLower(format) {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", format)
}

// downloadURLs reads --tf-download-url: a bare URL is for the default
// distribution; "opentofu=URL,terraform=URL" names each.
func downloadURLs(s string, defaultDist workflows.Distribution) (map[workflows.Distribution]string, error) {
	urls := map[workflows.Distribution]string{}
	for _, item := range list(s) {
		name, u, named := strings.Cut(item, "=")
		dist := defaultDist
		if named {
			var err error
			if dist, err = workflows.ParseDistribution(name); err != nil {
				return nil, err
			}
		} else {
			u = item
		}
		parsed, err := url.Parse(u)
		if err != nil || parsed.Host == "" || parsed.Scheme != "https" && parsed.Scheme != "http" {
			return nil, fmt.Errorf("%q is not an https URL", u)
		}
		// The checksums come from the same place as the binaries: over
		// plain http, anyone on the way could swap both.
		if ip := net.ParseIP(parsed.Hostname()); parsed.Scheme == "http" && parsed.Hostname() != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return nil, fmt.Errorf("%q: use https (plain http only to this machine)", u)
		}
		urls[dist] = u
	}
	return urls, nil
}

// list splits a comma-separated flag value, dropping empty items.
func list(s string) []string {
	var items []string
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			items = append(items, item)
		}
	}
	return items
}

// parse parses args, then gives each flag not on the command line the value
// of its environment variable, ATOLL_ and the flag's name upper-cased with
// dashes as underscores.
func parse(fs *flag.FlagSet, args []string, getenv func(string) (string, bool)) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		// The flag package names flags with one dash; atoll's help, two.
		msg := strings.Replace(err.Error(), "for flag -", "for --", 1)
		return errors.New(strings.Replace(msg, "not defined: -", "not defined: --", 1))
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	onCommandLine := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { onCommandLine[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if err != nil || onCommandLine[f.Name] {
			return
		}
		name := envName(f.Name)
		if v, ok := getenv(name); ok {
			if serr := fs.Set(f.Name, v); serr != nil {
				err = fmt.Errorf("%s: invalid value %q for --%s: %v", name, v, f.Name, serr)
			}
		}
	})
	return err
}

func envName(flagName string) string {
	return "ATOLL_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

func printFlags(w io.Writer, fs *flag.FlagSet, command string) {
	fmt.Fprintf(w, "Usage: %s [flags]\n\nEach flag can also be set by its environment variable.\n\nFlags:\n", command)
	fs.VisitAll(func(f *flag.Flag) {
		def := ""
		if f.DefValue != "" {
			def = fmt.Sprintf(" (default %s)", f.DefValue)
		}
		fmt.Fprintf(w, "  --%-20s %s%s\n      env %s\n", f.Name, f.Usage, def, envName(f.Name))
	})
}

func expandHome(p string) (string, error) {
	if p != "~" && !strings.HasPrefix(p, "~/") {
		return filepath.Abs(p)
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(home, strings.TrimPrefix(p, "~")), nil
}

// parseToolUser reads --tool-user: a user's name, or uid[:gid], or self
// for atoll's own (nil). Empty is nobody when atoll runs as root, else
// self.
func parseToolUser(s string) (*tool.User, error) {
	switch {
	case s == "self":
		return nil, nil
	case s == "" && os.Geteuid() != 0:
		return nil, nil
	case s == "":
		if _, err := user.Lookup("nobody"); err != nil {
			return &tool.User{UID: 65534, GID: 65534}, nil
		}
		s = "nobody"
	}
	uid, gid, hasGID := strings.Cut(s, ":")
	if u, err := strconv.Atoi(uid); err == nil {
		g := u
		if hasGID {
			if g, err = strconv.Atoi(gid); err != nil {
				return nil, fmt.Errorf("gid %q is not a number", gid)
			}
		}
		if u <= 0 || g <= 0 {
			return nil, errors.New("not root's: steps run unprivileged")
		}
		return &tool.User{UID: u, GID: g}, nil
	}
	if hasGID {
		return nil, errors.New("want a name, or uid[:gid]")
	}
	found, err := user.Lookup(s)
	if err != nil {
		return nil, err
	}
	u, _ := strconv.Atoi(found.Uid)
	g, _ := strconv.Atoi(found.Gid)
	if u == 0 {
		return nil, errors.New("not root's: steps run unprivileged")
	}
	return &tool.User{UID: u, GID: g}, nil
}
