package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/atoll-iac/atoll/runner"
	"github.com/atoll-iac/atoll/server"
	"github.com/atoll-iac/atoll/vcs/github"
	"github.com/atoll-iac/atoll/workflows"
)

// errHelp reports that -h was asked for and usage printed.
var errHelp = errors.New("help requested")

// serverConfig reads the server's flags, each of which may also come from
// its environment variable, into a server.Config. Errors name the flag.
func serverConfig(args []string, getenv func(string) (string, bool), stdout io.Writer) (server.Config, error) {
	fs := flag.NewFlagSet("atoll server", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	port := fs.Int("port", 4141, "port to listen on")
	bind := fs.String("bind-addr", "", "address to listen on (default: all interfaces)")
	dataDir := fs.String("data-dir", "~/.atoll", "where locks, workspaces and plan files are kept")
	allowlist := fs.String("repo-allowlist", "", "comma-separated globs on owner/repo that atoll acts for, * for all (required)")
	ghToken := fs.String("gh-token", "", "GitHub token atoll comments and fetches with")
	ghSecret := fs.String("gh-webhook-secret", "", "secret the GitHub webhook is signed with")
	ghAPI := fs.String("gh-api-url", github.DefaultAPIURL, "GitHub REST API root; for GitHub Enterprise https://HOST/api/v3/")
	dist := fs.String("tf-distribution", runner.OpenTofu, "opentofu or terraform")
	bin := fs.String("tf-bin", "", "tofu or terraform binary to run (default: tofu or terraform on PATH)")
	binDir := fs.String("tf-bin-dir", "", "other releases, as DIR/tofu/1.10.7/tofu and DIR/terraform/1.11.4/terraform (default: DATA_DIR/bin)")
	download := fs.Bool("tf-download", true, "download, verify and install releases that projects ask for and --tf-bin-dir lacks")
	downloadURL := fs.String("tf-download-url", "", "base URL of releases: URL for --tf-distribution, or opentofu=URL,terraform=URL (default: the publishers' sites)")
	parallelism := fs.Int("parallelism", runtime.NumCPU(), "how many jobs run at once")
	requirements := fs.String("apply-requirements", "approved", "what a pull request needs before apply: comma-separated approved, mergeable, undiverged, or none")
	commenters := fs.String("allowed-commenters", "", "comma-separated users and org/team names who may run commands (default: everyone with write access)")
	allowForks := fs.Bool("allow-fork-prs", false, "plan and apply pull requests from forks, whose code then runs with the server's credentials")
	extraArgs := fs.String("allowed-extra-args", "", "comma-separated prefixes of tool arguments comments may add after --, e.g. -target=,-var=")
	automerge := fs.Bool("automerge", false, "merge a pull request once all its plans are applied")
	hidePrev := fs.Bool("hide-prev-plan-comments", false, "collapse a pull request's earlier plan comments when it gets a new one")
	redactEnv := fs.String("redact-env", "", "comma-separated environment variables whose values never appear in comments")
	repoConfig := fs.String("repo-config", "", "server-side repo config file: what each repository gets and may set in its own config")
	lockTTL := fs.Duration("lock-ttl", 0, "let a project lock lapse this long after its pull request's last plan or apply (default: hold until closed or merged)")
	claimTTL := fs.Duration("claim-ttl", 30*time.Second, "how soon another replica takes over the jobs of one that died")
	shutdownTimeout := fs.Duration("shutdown-timeout", time.Minute, "on SIGTERM, how long running jobs may finish; the rest stay queued")
	redisAddr := fs.String("redis-addr", "", "host:port of the Redis that replicas share locks and deliveries through (default: an embedded store in --data-dir)")
	redisPassword := fs.String("redis-password", "", "password for --redis-addr")
	redisDB := fs.Int("redis-db", 0, "Redis database number")
	redisTLS := fs.Bool("redis-tls", false, "connect to --redis-addr with TLS")

	if err := parse(fs, args, getenv); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printFlags(stdout, fs)
			return server.Config{}, errHelp
		}
		return server.Config{}, err
	}
	if *allowlist == "" {
		return server.Config{}, errors.New("--repo-allowlist is required (comma-separated owner/repo globs, * for all)")
	}
	allow, err := server.ParseAllowlist(*allowlist)
	if err != nil {
		return server.Config{}, fmt.Errorf("--repo-allowlist: %v", err)
	}
	if *port < 0 || *port > 65535 {
		return server.Config{}, fmt.Errorf("--port %d is not a TCP port", *port)
	}
	if *parallelism < 1 {
		return server.Config{}, fmt.Errorf("--parallelism must be at least 1")
	}
	tool, err := runner.FindTool(*dist, *bin)
	if err != nil {
		return server.Config{}, fmt.Errorf("--tf-distribution/--tf-bin: %v", err)
	}
	reqs, err := server.ParseRequirements(*requirements)
	if err != nil {
		return server.Config{}, fmt.Errorf("--apply-requirements: %v", err)
	}
	urls, err := downloadURLs(*downloadURL, *dist)
	if err != nil {
		return server.Config{}, fmt.Errorf("--tf-download-url: %v", err)
	}
	var serverRepoConfig workflows.ServerConfig
	if *repoConfig != "" {
		if serverRepoConfig, err = workflows.LoadServerConfig(*repoConfig); err != nil {
			return server.Config{}, fmt.Errorf("--repo-config: %v", err)
		}
	}
	if *ghToken == "" {
		return server.Config{}, errors.New("--gh-token is required: atoll needs a forge to read pull requests from and comment on")
	}
	if *redisAddr != "" {
		if _, _, err := net.SplitHostPort(*redisAddr); err != nil {
			return server.Config{}, fmt.Errorf("--redis-addr %q: want host:port", *redisAddr)
		}
	}
	if *lockTTL != 0 && *lockTTL < time.Second {
		return server.Config{}, fmt.Errorf("--lock-ttl %v: want 0 (never) or at least 1s", *lockTTL)
	}
	if *claimTTL < time.Second {
		return server.Config{}, fmt.Errorf("--claim-ttl %v: want at least 1s", *claimTTL)
	}
	if *shutdownTimeout <= 0 {
		return server.Config{}, fmt.Errorf("--shutdown-timeout %v: want a positive duration", *shutdownTimeout)
	}
	if *redisDB < 0 {
		return server.Config{}, fmt.Errorf("--redis-db %d: want 0 or more", *redisDB)
	}
	dir, err := expandHome(*dataDir)
	if err != nil {
		return server.Config{}, fmt.Errorf("--data-dir: %v", err)
	}
	return server.Config{
		Addr:          net.JoinHostPort(*bind, strconv.Itoa(*port)),
		DataDir:       dir,
		RepoAllowlist: allow,
		GitHub:        github.Config{Token: *ghToken, WebhookSecret: *ghSecret, APIURL: *ghAPI},
		Tool:          tool,
		TFBinDir:      *binDir,
		TFDownload:    *download,
		TFDownloadURL: urls,
		Parallelism:   *parallelism,

		ApplyRequirements:    reqs,
		AllowedCommenters:    list(*commenters),
		AllowForkPRs:         *allowForks,
		AllowedExtraArgs:     list(*extraArgs),
		Automerge:            *automerge,
		HidePrevPlanComments: *hidePrev,
		RedactEnv:            list(*redactEnv),
		RepoConfig:           serverRepoConfig,
		ShutdownTimeout:      *shutdownTimeout,
		ClaimTTL:             *claimTTL,
		LockTTL:              *lockTTL,
		Redis:                server.RedisConfig{Addr: *redisAddr, Password: *redisPassword, DB: *redisDB, TLS: *redisTLS},
	}, nil
}

// downloadURLs reads --tf-download-url: a bare URL is for the default
// distribution; "opentofu=URL,terraform=URL" names each.
func downloadURLs(s, defaultDist string) (map[string]string, error) {
	urls := map[string]string{}
	for _, item := range list(s) {
		dist, u, named := strings.Cut(item, "=")
		if !named {
			dist, u = defaultDist, item
		}
		if dist != runner.OpenTofu && dist != runner.Terraform {
			return nil, fmt.Errorf("unknown distribution %q", dist)
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
		return err
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

func printFlags(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprintln(w, "Usage: atoll server [flags]\n\nEach flag can also be set by its environment variable.\n\nFlags:")
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
