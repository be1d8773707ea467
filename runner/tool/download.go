package tool

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/go-version"
	"golang.org/x/sync/singleflight"

	"github.com/atoll-iac/atoll/workflows"
)

// Limits on what a release site may send.
const (
	maxIndex = 64 << 20 // a release listing
	maxSums  = 1 << 20  // a SHA256SUMS file
	maxZip   = 1 << 30  // a release zip, and the binary in it
)

// maxFlight bounds a shared listing or download, which no one caller's
// context does.
const maxFlight = 15 * time.Minute

// publisher says where a distribution's releases are listed and how their
// files are laid out.
type publisher struct {
	name   string // for messages: OpenTofu, Terraform
	binary string // the binary in a release zip
	// index is the listing's file under a base URL, and dirPrefix precedes
	// the version in a release's directory ("v" in OpenTofu's v1.10.7).
	index, dirPrefix string
	// defaultIndex and defaultBase are the listing and the base of the
	// release files at the publisher's own sites.
	defaultIndex, defaultBase string
	parse                     func([]byte) ([]release, error)
}

// publisherOf returns the publisher of distribution, if atoll knows it.
func publisherOf(distribution workflows.Distribution) (publisher, bool) {
	switch distribution {
	case workflows.OpenTofu:
		return publisher{
			name: distribution.Title(), binary: distribution.Binary(), index: "api.json", dirPrefix: "v",
			defaultIndex: "https://get.opentofu.org/tofu/api.json",
			defaultBase:  "https://github.com/opentofu/opentofu/releases/download",
			parse:        parseOpenTofuIndex,
		}, true
	case workflows.Terraform:
		return publisher{
			name: distribution.Title(), binary: distribution.Binary(), index: "index.json",
			defaultIndex: "https://releases.hashicorp.com/terraform/index.json",
			defaultBase:  "https://releases.hashicorp.com/terraform",
			parse:        parseTerraformIndex,
		}, true
	}
	return publisher{}, false
}

func (p publisher) zipName(id string) string {
	return fmt.Sprintf("%s_%s_%s_%s.zip", p.binary, id, runtime.GOOS, runtime.GOARCH)
}

func (p publisher) sumsName(id string) string {
	return fmt.Sprintf("%s_%s_SHA256SUMS", p.binary, id)
}

// site returns the URL of distribution's release listing and the base URL
// of its release files.
func (t *Tools) site(distribution workflows.Distribution, pub publisher) (index, base string) {
	if base := strings.TrimRight(t.cfg.DownloadURL[distribution], "/"); base != "" {
		return base + "/" + pub.index, base
	}
	return pub.defaultIndex, pub.defaultBase
}

// platform is the build that downloads fetch.
func platform() string { return runtime.GOOS + "/" + runtime.GOARCH }

// release is a published version.
type release struct {
	id      string // as in file names: 1.10.7
	version *version.Version
	files   []string // nil when the listing does not say
}

func newRelease(id string, files []string) (release, bool) {
	// go-version admits no slashes, so id is safe in URLs and paths.
	v, err := version.NewVersion(id)
	if err != nil {
		return release{}, false
	}
	return release{id: strings.TrimPrefix(id, "v"), version: v, files: files}, true
}

// parseOpenTofuIndex reads OpenTofu's api.json:
// {"versions":[{"id":"1.10.7","files":["tofu_1.10.7_linux_amd64.zip",…]},…]}.
func parseOpenTofuIndex(b []byte) ([]release, error) {
	var index struct {
		Versions []struct {
			ID    string   `json:"id"`
			Files []string `json:"files"`
		} `json:"versions"`
	}
	if err := json.Unmarshal(b, &index); err != nil {
		return nil, err
	}
	var rs []release
	for _, v := range index.Versions {
		if r, ok := newRelease(v.ID, v.Files); ok {
			rs = append(rs, r)
		}
	}
	return rs, nil
}

// parseTerraformIndex reads HashiCorp's index.json:
// {"name":"terraform","versions":{"1.11.4":{"version":"1.11.4","builds":[{"filename":…},…]},…}}.
func parseTerraformIndex(b []byte) ([]release, error) {
	var index struct {
		Versions map[string]struct {
			Builds []struct {
				Filename string `json:"filename"`
			} `json:"builds"`
		} `json:"versions"`
	}
	if err := json.Unmarshal(b, &index); err != nil {
		return nil, err
	}
	var rs []release
	for id, v := range index.Versions {
		var files []string
		for _, b := range v.Builds {
			files = append(files, b.Filename)
		}
		if r, ok := newRelease(id, files); ok {
			rs = append(rs, r)
		}
	}
	return rs, nil
}

// releases lists distribution's releases that have a build for this
// platform, highest first.
func (t *Tools) releases(ctx context.Context, distribution workflows.Distribution, pub publisher) ([]release, error) {
	index, _ := t.site(distribution, pub)
	var buf bytes.Buffer
	if err := t.get(ctx, index, &buf, maxIndex); err != nil {
		return nil, fmt.Errorf("tool: listing %s releases: %w", pub.name, err)
	}
	rs, err := pub.parse(buf.Bytes())
	if err != nil {
		return nil, fmt.Errorf("tool: listing %s releases: reading %s: %w", pub.name, index, err)
	}
	rs = slices.DeleteFunc(rs, func(r release) bool {
		return r.files != nil && !slices.Contains(r.files, pub.zipName(r.id))
	})
	slices.SortFunc(rs, func(a, b release) int { return b.version.Compare(a.version) })
	return rs, nil
}

// install downloads release r of distribution, checks the zip against the
// release's SHA256SUMS, and unpacks its binary to
// BinDir/<binary>/<version>/<binary>. Nothing is run.
func (t *Tools) install(ctx context.Context, distribution workflows.Distribution, pub publisher, r release) (Tool, error) {
	dest := filepath.Join(t.cfg.BinDir, pub.binary, r.id, pub.binary)
	tool := Tool{Distribution: distribution, Path: dest}
	if fi, err := os.Stat(dest); err == nil && fi.Mode().IsRegular() {
		return tool, nil // installed since the caller looked
	}
	_, base := t.site(distribution, pub)
	dir := base + "/" + pub.dirPrefix + r.id + "/"
	zipName, sumsName := pub.zipName(r.id), pub.sumsName(r.id)

	var sums bytes.Buffer
	if err := t.get(ctx, dir+sumsName, &sums, maxSums); err != nil {
		return Tool{}, fmt.Errorf("tool: downloading %s %s: %w", pub.name, r.id, err)
	}
	want, ok := findChecksum(sums.String(), zipName)
	if !ok {
		return Tool{}, versionErrorf("%s has no checksum for %s: atoll will not install %s %s unverified", sumsName, zipName, pub.name, r.id)
	}

	// Unpack beside the destination, so that the final rename stays on
	// one file system and the binary appears whole or not at all.
	parent := filepath.Join(t.cfg.BinDir, pub.binary)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return Tool{}, fmt.Errorf("tool: installing %s %s: %w", pub.name, r.id, err)
	}
	tmp, err := os.MkdirTemp(parent, ".download-")
	if err != nil {
		return Tool{}, fmt.Errorf("tool: installing %s %s: %w", pub.name, r.id, err)
	}
	defer os.RemoveAll(tmp)

	zipPath := filepath.Join(tmp, zipName)
	got, err := t.fetch(ctx, dir+zipName, zipPath)
	if err != nil {
		return Tool{}, fmt.Errorf("tool: downloading %s %s: %w", pub.name, r.id, err)
	}
	if got != want {
		return Tool{}, versionErrorf("checksum mismatch for %s: %s lists %s, the download has %s; atoll will not install it", zipName, sumsName, want, got)
	}
	bin := filepath.Join(tmp, pub.binary)
	if err := unzipBinary(zipPath, pub.binary, bin); err != nil {
		return Tool{}, fmt.Errorf("tool: unpacking %s: %w", zipName, err)
	}
	if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
		return Tool{}, fmt.Errorf("tool: installing %s %s: %w", pub.name, r.id, err)
	}
	if err := os.Rename(bin, dest); err != nil {
		return Tool{}, fmt.Errorf("tool: installing %s %s: %w", pub.name, r.id, err)
	}
	return tool, nil
}

// findChecksum returns the lower-case hex SHA-256 that a SHA256SUMS file
// lists for name, on a line "<hex>  <name>".
func findChecksum(sums, name string) (string, bool) {
	for line := range strings.Lines(sums) {
		f := strings.Fields(line)
		if len(f) != 2 || strings.TrimPrefix(f[1], "*") != name {
			continue
		}
		if b, err := hex.DecodeString(f[0]); err == nil && len(b) == sha256.Size {
			return hex.EncodeToString(b), true
		}
	}
	return "", false
}

// fetch saves the body of url in file and returns its SHA-256 in hex.
func (t *Tools) fetch(ctx context.Context, url, file string) (string, error) {
	f, err := os.Create(file)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	err = t.get(ctx, url, io.MultiWriter(f, h), maxZip)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// get writes the body of url to w; one longer than limit is an error.
func (t *Tools) get(ctx context.Context, url string, w io.Writer, limit int64) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := t.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("tool: GET %s: %s", url, resp.Status)
	}
	n, err := io.Copy(w, io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return fmt.Errorf("tool: GET %s: %w", url, err)
	}
	if n > limit {
		return fmt.Errorf("tool: GET %s: larger than %d bytes", url, limit)
	}
	return nil
}

// unzipBinary writes the file called name at the root of the zip at
// zipPath to dest, executable. Only that entry is read, and an archive
// with any entry that climbs out of it ("../tofu", "/usr/bin/tofu") is
// refused whole.
func unzipBinary(zipPath, name, dest string) error {
	zr, err := zip.OpenReader(zipPath)
	if err != nil && !errors.Is(err, zip.ErrInsecurePath) {
		return err // the loop below names an insecure entry
	}
	defer zr.Close()
	var bin *zip.File
	for _, f := range zr.File {
		if !filepath.IsLocal(f.Name) || strings.Contains(f.Name, `\`) {
			return versionErrorf("the release archive holds a path outside itself (%q): atoll will not install it", f.Name)
		}
		if path.Clean(f.Name) == name {
			bin = f
		}
	}
	if bin == nil {
		return fmt.Errorf("tool: no %s in the archive", name)
	}
	if !bin.Mode().IsRegular() {
		return fmt.Errorf("%s in the archive is not a regular file", name)
	}
	if bin.UncompressedSize64 > maxZip {
		return fmt.Errorf("%s in the archive is larger than %d bytes", name, maxZip)
	}
	rc, err := bin.Open() // checks the entry's size and CRC as it reads
	if err != nil {
		return err
	}
	defer rc.Close()
	out, err := os.OpenFile(dest, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, rc)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.Chmod(dest, 0o755) // whatever the umask
}

// shared runs fn once for all the callers that ask for key while it runs.
// fn's context outlives any one caller, so that the first giving up does
// not fail the others; each caller still stops waiting when its own ctx
// ends.
func shared[T any](ctx context.Context, g *singleflight.Group, key string, fn func(context.Context) (T, error)) (T, error) {
	ch := g.DoChan(key, func() (any, error) {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), maxFlight)
		defer cancel()
		return fn(ctx)
	})
	select {
	case r := <-ch:
		v, _ := r.Val.(T)
		return v, r.Err
	case <-ctx.Done():
		var zero T
		return zero, context.Cause(ctx)
	}
}
