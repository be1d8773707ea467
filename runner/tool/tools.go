package tool

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/go-version"
	"golang.org/x/sync/singleflight"

	"github.com/atoll-iac/atoll/workflows"
)

// ErrToolVersion is wrapped by the errors that say a project's tool
// version cannot be had: a malformed constraint, one that no release
// satisfies, a release that fails its checksum. Their text is written for
// the pull request and may be shown there as is.
var ErrToolVersion = errors.New("tool version")

// ToolsConfig says where tool binaries come from.
type ToolsConfig struct {
	// Default is the binary used when a project sets no version (from
	// --tf-bin / PATH).
	Default Tool
	// BinDir holds installed releases as BinDir/<binary>/<version>/<binary>
	// (BinDir/tofu/1.10.7/tofu, BinDir/terraform/1.11.4/terraform);
	// downloads go there too.
	BinDir string
	// SearchPath lists directories, as PATH does, whose binaries of each
	// distribution count as installed: the plain name (tofu) in each, and
	// names with a version (tofu1.6.2, tofu-1.6.2).
	SearchPath string
	// Download allows fetching releases that are not installed.
	Download bool
	// DownloadURL is, per distribution, the base URL of a mirror of its
	// releases, laid out as its publisher lays them out:
	//
	//	opentofu:  {base}/api.json, {base}/v{V}/tofu_{V}_{os}_{arch}.zip, {base}/v{V}/tofu_{V}_SHA256SUMS
	//	terraform: {base}/index.json, {base}/{V}/terraform_{V}_{os}_{arch}.zip, {base}/{V}/terraform_{V}_SHA256SUMS
	//
	// A distribution without one downloads from its publisher: OpenTofu
	// lists releases at https://get.opentofu.org/tofu/api.json and serves
	// them under https://github.com/opentofu/opentofu/releases/download;
	// Terraform does both under https://releases.hashicorp.com/terraform.
	DownloadURL map[workflows.Distribution]string
	// HTTPClient downloads; a client with a 5-minute timeout when nil.
	HTTPClient *http.Client
	// Runner asks binaries for their version (Runner.Version). When nil,
	// Default serves only projects that set no version.
	Runner *Runner
}

// Tools finds the tofu and terraform binaries that projects' version
// constraints ask for, downloading releases that are not installed when
// allowed. It is safe for concurrent use.
type Tools struct {
	cfg    ToolsConfig
	client *http.Client
	// flights shares release listings and downloads among concurrent
	// calls that need the same one.
	flights singleflight.Group
}

// NewTools returns Tools for cfg.
func NewTools(cfg ToolsConfig) *Tools {
	if cfg.BinDir != "" {
		// Steps run in their project's directory, where a relative path
		// to a binary would mean something else.
		if abs, err := filepath.Abs(cfg.BinDir); err == nil {
			cfg.BinDir = abs
		}
	}
	cfg.DownloadURL = maps.Clone(cfg.DownloadURL)
	client := cmp.Or(cfg.HTTPClient, &http.Client{Timeout: 5 * time.Minute, CheckRedirect: noDowngrade})
	return &Tools{cfg: cfg, client: client}
}

// noDowngrade refuses a redirect from https to plain http, which would
// let anyone on the way swap a release and its checksums.
func noDowngrade(req *http.Request, via []*http.Request) error {
	if len(via) >= 10 {
		return errors.New("tool: stopped after 10 redirects")
	}
	if req.URL.Scheme != "https" && via[0].URL.Scheme == "https" {
		return fmt.Errorf("tool: refusing a redirect from https to %s", req.URL.Redacted())
	}
	return nil
}

// Resolve returns a binary of distribution whose version satisfies
// constraint, a hashicorp/go-version constraint such as ">= 1.6, < 1.11"
// or an exact "1.10.7". An empty distribution is the default tool's.
//
// An empty constraint on the default tool's distribution is met by
// cfg.Default. Otherwise the highest installed version that satisfies the
// constraint wins: versions under BinDir, and the default binary itself
// when it is of distribution. When none does and downloads are allowed,
// the highest release that satisfies it is downloaded, verified against
// its SHA256SUMS and installed under BinDir; concurrent calls needing the
// same release download it once.
//
// A pre-release (1.11.0-beta1) is chosen only by a constraint that names
// it exactly, so that ">= 1.10" never lands on a beta.
//
// Errors for the pull request wrap ErrToolVersion.
func (t *Tools) Resolve(ctx context.Context, distribution workflows.Distribution, constraint string) (Tool, error) {
	def := t.cfg.Default
	distribution = cmp.Or(distribution, def.Distribution)
	pub, ok := publisherOf(distribution)
	if !ok {
		return Tool{}, versionErrorf("unknown tool distribution %q: atoll runs %s or %s", distribution, workflows.OpenTofu, workflows.Terraform)
	}
	constraint = strings.TrimSpace(constraint)
	if constraint == "" && distribution == def.Distribution && def.Path != "" {
		return def, nil
	}
	var cs version.Constraints
	if constraint != "" {
		var err error
		if cs, err = version.NewConstraint(constraint); err != nil {
			return Tool{}, versionErrorf("invalid %s version constraint %q: %v", pub.name, constraint, err)
		}
	}

	local, err := t.local(ctx, distribution, pub)
	if err != nil {
		return Tool{}, err
	}
	for _, l := range local {
		if satisfies(cs, l.version) {
			return l.tool, nil
		}
	}
	if !t.cfg.Download {
		return Tool{}, versionErrorf("%s%s is not installed (installed: %s), and downloading releases is off (--tf-download)",
			pub.name, satisfying(constraint), listInstalled(local))
	}
	if t.cfg.BinDir == "" {
		return Tool{}, fmt.Errorf("tool: downloading %s: no bin directory to install into", pub.name)
	}

	releases, err := shared(ctx, &t.flights, "list "+string(distribution), func(ctx context.Context) ([]release, error) {
		return t.releases(ctx, distribution, pub)
	})
	if err != nil {
		return Tool{}, err
	}
	i := slices.IndexFunc(releases, func(r release) bool { return satisfies(cs, r.version) })
	if i < 0 {
		latest := "none"
		if j := slices.IndexFunc(releases, func(r release) bool { return satisfies(nil, r.version) }); j >= 0 {
			latest = releases[j].id
		}
		return Tool{}, versionErrorf("no %s release for %s%s (installed: %s; latest release: %s)",
			pub.name, platform(), satisfying(constraint), listInstalled(local), latest)
	}
	r := releases[i]
	return shared(ctx, &t.flights, "install "+string(distribution)+" "+r.id, func(ctx context.Context) (Tool, error) {
		return t.install(ctx, distribution, pub, r)
	})
}

// localTool is a binary on disk and its release.
type localTool struct {
	version *version.Version
	tool    Tool
}

// local lists the binaries of distribution on this machine, highest
// version first: the default binary when it is of distribution (first
// among equals), those installed under BinDir, and those on SearchPath.
func (t *Tools) local(ctx context.Context, distribution workflows.Distribution, pub publisher) ([]localTool, error) {
	var local []localTool
	if def := t.cfg.Default; def.Distribution == distribution && def.Path != "" && t.cfg.Runner != nil {
		out, err := t.cfg.Runner.Version(ctx, def)
		if err != nil {
			return nil, fmt.Errorf("tool: asking the default %s binary its version: %w", pub.name, err)
		}
		v, err := parseToolVersion(out)
		if err != nil {
			return nil, fmt.Errorf("tool: default %s binary %s: %w", pub.name, def.Path, err)
		}
		local = append(local, localTool{v, def})
	}
	if t.cfg.BinDir != "" {
		dir := filepath.Join(t.cfg.BinDir, pub.binary)
		entries, err := os.ReadDir(dir)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("tool: listing installed %s releases: %w", pub.name, err)
		}
		for _, e := range entries {
			v, err := version.NewVersion(e.Name())
			if err != nil || !e.IsDir() {
				continue // download scratch space, or not ours
			}
			path := filepath.Join(dir, e.Name(), pub.binary)
			if fi, err := os.Stat(path); err != nil || !fi.Mode().IsRegular() {
				continue
			}
			local = append(local, localTool{v, Tool{Distribution: distribution, Path: path}})
		}
	}
	onPath, err := t.onPath(ctx, distribution, pub)
	if err != nil {
		return nil, err
	}
	local = append(local, onPath...)
	slices.SortStableFunc(local, func(a, b localTool) int { return b.version.Compare(a.version) })
	return local, nil
}

// onPath lists the binaries of distribution in SearchPath's directories,
// each asked for its version. The default binary is left out: local has
// it already.
func (t *Tools) onPath(ctx context.Context, distribution workflows.Distribution, pub publisher) ([]localTool, error) {
	if t.cfg.Runner == nil {
		return nil, nil
	}
	var found []localTool
	seen := map[string]bool{t.cfg.Default.Path: true}
	for _, dir := range filepath.SplitList(t.cfg.SearchPath) {
		if !filepath.IsAbs(dir) {
			continue // a relative PATH entry would mean each project's directory
		}
		names, err := filepath.Glob(filepath.Join(dir, pub.binary+"*"))
		if err != nil {
			return nil, err
		}
		for _, path := range names {
			rest := strings.TrimPrefix(strings.TrimPrefix(filepath.Base(path), pub.binary), "-")
			if rest != "" && !startsWithDigit(rest) {
				continue // tofu-ls, terraform-docs: other programs
			}
			real, err := filepath.EvalSymlinks(path)
			if err != nil || seen[real] || seen[path] {
				continue
			}
			seen[real], seen[path] = true, true
			if fi, err := os.Stat(real); err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
				continue
			}
			tool := Tool{Distribution: distribution, Path: path}
			out, err := t.cfg.Runner.Version(ctx, tool)
			if err != nil {
				continue // not a binary that answers as the tool does
			}
			v, err := parseToolVersion(out)
			if err != nil || !strings.EqualFold(strings.Fields(out)[0], pub.name) {
				continue
			}
			found = append(found, localTool{v, tool})
		}
	}
	return found, nil
}

func startsWithDigit(s string) bool { return s != "" && s[0] >= '0' && s[0] <= '9' }

// parseToolVersion reads the release from Runner.Version's answer:
// "OpenTofu v1.10.7-dev" is 1.10.7-dev.
func parseToolVersion(s string) (*version.Version, error) {
	_, v, ok := strings.Cut(s, " v")
	if !ok {
		return nil, fmt.Errorf("tool: no version in %q", s)
	}
	return version.NewVersion(v)
}

// satisfies reports whether v meets cs (nil meets any). A pre-release
// meets only a constraint that names it exactly: "1.11.0-beta1" or
// "= 1.11.0-beta1", not ">= 1.11.0-beta1" nor "!= 1.10.0".
func satisfies(cs version.Constraints, v *version.Version) bool {
	if !cs.Check(v) {
		return false
	}
	if v.Prerelease() == "" {
		return true
	}
	return slices.ContainsFunc(cs, func(c *version.Constraint) bool {
		// Only an equality leaves a bare version once its "=" is gone.
		s := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(c.String()), "="))
		named, err := version.NewVersion(s)
		return err == nil && named.Equal(v)
	})
}

// satisfying phrases constraint for a message: ` satisfying ">= 1.6"`, or
// nothing when there is none.
func satisfying(constraint string) string {
	if constraint == "" {
		return ""
	}
	return " satisfying " + strconv.Quote(constraint)
}

// listInstalled lists the versions of local, lowest first and each once,
// for a message.
func listInstalled(local []localTool) string {
	var vs []string
	for _, l := range slices.Backward(local) {
		vs = append(vs, l.version.Original())
	}
	vs = slices.Compact(vs)
	if len(vs) == 0 {
		return "none"
	}
	return strings.Join(vs, ", ")
}

// versionError is an ErrToolVersion, worded for the pull request.
type versionError struct{ msg string }

func versionErrorf(format string, args ...any) error {
	return &versionError{fmt.Sprintf(format, args...)}
}

func (e *versionError) Error() string        { return e.msg }
func (e *versionError) Is(target error) bool { return target == ErrToolVersion }
