package workflows

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// writeModuleRepo writes files (slash-separated name → content) under a new
// temporary directory and returns it.
func writeModuleRepo(t testing.TB, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for name, content := range files {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// hclModule returns a module block named name with the given source.
func hclModule(name, source string) string {
	return fmt.Sprintf("module %q {\n  source = %q\n}\n", name, source)
}

const hclResource = "resource \"terraform_data\" \"x\" {}\n"

func TestModuleGraph(t *testing.T) {
	t.Parallel()
	// want holds, for a directory, what Dependents and Roots return; IsModule
	// must hold exactly when dependents is not empty.
	type want struct{ dependents, roots []string }
	tests := []struct {
		name  string
		files map[string]string
		skip  func(dir string) bool
		want  map[string]want
	}{
		{
			name: "direct and transitive",
			files: map[string]string{
				"modules/net/main.tf":  hclResource,
				"modules/vpc/main.tf":  hclModule("net", "../net"),
				"envs/prod/main.tf":    hclModule("vpc", "../../modules/vpc"),
				"envs/stage/main.tf":   hclModule("vpc", "../../modules/vpc"),
				"envs/stage/more.tf":   hclModule("vpc2", "./../../modules/vpc/") + hclModule("vpc3", "../../modules/vpc"),
				"envs/dev/main.tf":     hclModule("net", "../../modules/net"),
				"envs/solo/main.tofu":  hclResource,
				"modules/unused/x.tf":  hclResource,
				"modules/net/README":   "module \"x\" { source = \"../vpc\" }",
				"envs/prod/terraform":  "not a configuration file",
				"envs/prod/vars.tfvar": "x = 1",
			},
			want: map[string]want{
				"modules/net":    {[]string{"envs/dev", "envs/prod", "envs/stage", "modules/vpc"}, []string{"envs/dev", "envs/prod", "envs/stage"}},
				"modules/vpc":    {[]string{"envs/prod", "envs/stage"}, []string{"envs/prod", "envs/stage"}},
				"./modules/vpc/": {[]string{"envs/prod", "envs/stage"}, []string{"envs/prod", "envs/stage"}},
				"envs/dev":       {nil, []string{"envs/dev"}},
				"envs/prod":      {nil, []string{"envs/prod"}},
				"envs/solo":      {nil, []string{"envs/solo"}},
				"modules/unused": {nil, []string{"modules/unused"}},
				"not/there":      {nil, []string{"not/there"}},
			},
		},
		{
			name: "parent sources from nested directories",
			files: map[string]string{
				"shared/tags/main.tf":       hclResource,
				"teams/a/svc/eu/main.tf":    hclModule("tags", "../../../../shared/tags") + hclModule("base", "../base"),
				"teams/a/svc/base/main.tf":  hclModule("tags", "../../../../shared/tags/."),
				"teams/a/svc/us/main.tf":    hclModule("base", "../eu/../base"),
				"main.tf":                   hclModule("tags", "./shared/tags"),
				"teams/b/main.tf":           hclModule("tags", `..\..\shared\tags`),
				"teams/a/svc/base/extra.tf": hclResource,
			},
			want: map[string]want{
				"shared/tags":      {[]string{".", "teams/a/svc/base", "teams/a/svc/eu", "teams/a/svc/us", "teams/b"}, []string{".", "teams/a/svc/eu", "teams/a/svc/us", "teams/b"}},
				"teams/a/svc/base": {[]string{"teams/a/svc/eu", "teams/a/svc/us"}, []string{"teams/a/svc/eu", "teams/a/svc/us"}},
				".":                {nil, []string{"."}},
				"":                 {nil, []string{"."}},
			},
		},
		{
			name: "trailing slash and ./ prefix",
			files: map[string]string{
				"main.tf":          hclModule("a", "./modules/a/") + hclModule("b", "./modules/./b") + hclModule("c", "./modules//c//"),
				"modules/a/a.tf":   hclResource,
				"modules/b/b.tf":   hclResource,
				"modules/c/c.tf":   hclResource,
				"modules/d/d.tf":   hclModule("self", "./") + hclModule("self2", "."),
				"modules/e/e.tofu": hclModule("a", "./../a"),
			},
			want: map[string]want{
				"modules/a": {[]string{".", "modules/e"}, []string{".", "modules/e"}},
				"modules/b": {[]string{"."}, []string{"."}},
				"modules/c": {[]string{"."}, []string{"."}},
				"modules/d": {nil, []string{"modules/d"}},
			},
		},
		{
			name: "remote and computed sources ignored",
			files: map[string]string{
				"main.tf": hclModule("consul", "hashicorp/consul/aws") +
					hclModule("git", "git::https://example.com/modules/x.git") +
					hclModule("http", "https://example.com/modules/x.zip") +
					hclModule("github", "github.com/hashicorp/example") +
					hclModule("s3", "s3::https://s3.amazonaws.com/bucket/x.zip") +
					hclModule("bare", "modules/x") +
					"module \"var\" {\n  source = \"./${var.dir}\"\n}\n" +
					"module \"local\" {\n  source = local.dir\n}\n" +
					"module \"number\" {\n  source = 5\n}\n" +
					"module \"nosource\" {\n  version = \"1.0\"\n}\n" +
					"module {\n}\n" +
					"locals {\n  source = \"./modules/y\"\n}\n" +
					"resource \"terraform_data\" \"module\" {\n  input = { source = \"./modules/y\" }\n}\n",
				"hashicorp/consul/aws/main.tf": hclResource,
				"modules/x/main.tf":            hclResource,
				"modules/y/main.tf":            hclResource,
			},
			want: map[string]want{
				"hashicorp/consul/aws": {nil, []string{"hashicorp/consul/aws"}},
				"modules/x":            {nil, []string{"modules/x"}},
				"modules/y":            {nil, []string{"modules/y"}},
			},
		},
		{
			name: "sources leaving the repository or without configuration ignored",
			files: map[string]string{
				"main.tf":          hclModule("up", "../outside") + hclModule("docs", "./docs") + hclModule("gone", "./gone"),
				"a/main.tf":        hclModule("up", "../../outside") + hclModule("back", "../../repo/b"),
				"b/main.tf":        hclResource,
				"docs/README.md":   "module \"x\" {}",
				"docs/nested/x.tf": hclResource,
			},
			want: map[string]want{
				"b":    {nil, []string{"b"}},
				"docs": {nil, []string{"docs"}},
			},
		},
		{
			name: "cycle terminates",
			files: map[string]string{
				"a/main.tf":    hclModule("b", "../b"),
				"b/main.tf":    hclModule("a", "../a") + hclModule("c", "../c"),
				"c/main.tf":    hclModule("b", "../b"),
				"root/main.tf": hclModule("a", "../a"),
			},
			want: map[string]want{
				"a":    {[]string{"b", "c", "root"}, []string{"root"}},
				"b":    {[]string{"a", "c", "root"}, []string{"root"}},
				"root": {nil, []string{"root"}},
			},
		},
		{
			name: "syntax errors keep readable module blocks",
			files: map[string]string{
				"envs/prod/main.tf": hclModule("net", "../../modules/net") +
					"resource \"terraform_data\" \"x\" {\n  input = \n}\n" +
					hclModule("vpc", "../../modules/vpc"),
				"envs/stage/main.tf":     hclModule("net", "../../modules/net") + "this is { not hcl\n",
				"envs/json/main.tf.json": `{"module": {"net": {"source": "../../modules/net"}}, "oops": [}`,
				"envs/dev/main.tf":       hclModule("vpc", "../../modules/vpc"),
				"modules/net/main.tf":    hclResource,
				"modules/vpc/main.tf":    "}}}",
			},
			want: map[string]want{
				"modules/net": {[]string{"envs/prod", "envs/stage"}, []string{"envs/prod", "envs/stage"}},
				"modules/vpc": {[]string{"envs/dev", "envs/prod"}, []string{"envs/dev", "envs/prod"}},
			},
		},
		{
			name: "skipped directories, .git and .terraform are invisible",
			files: map[string]string{
				"modules/m/main.tf":                               hclResource,
				"modules/skipped/main.tf":                         hclResource,
				"vendor/x/main.tf":                                hclModule("m", "../../modules/m"),
				"vendor/x/nested/main.tf":                         hclModule("m", "../../../modules/m"),
				"envs/prod/main.tf":                               hclModule("skipped", "../../modules/skipped"),
				"envs/prod/.terraform/modules/m/main.tf":          hclModule("m", "../../../../../modules/m"),
				".git/main.tf":                                    hclModule("m", "../modules/m"),
				"envs/prod/.terraform/modules/modules.json.tf":    hclModule("m", "../../../../modules/m"),
				"envs/dev/main.tf":                                hclModule("m", "../../modules/m"),
				"envs/dev/.git/hooks/x.tf":                        hclModule("m", "../../../../modules/m"),
				"envs/dev/not.terraform/main.tf":                  hclModule("m", "../../../modules/m"),
				"envs/dev/.terraformrc.d/main.tf":                 hclModule("m", "../../../modules/m"),
				"envs/dev/.terraform.lock.hcl":                    "",
				"envs/prod/.terraform/terraform.tfstate":          "",
				"envs/prod/.terraform/modules/m/deeper/x.tf.json": `{"module": {"m": {"source": "../../../../../../modules/m"}}}`,
			},
			skip: func(dir string) bool { return dir == "vendor" || strings.HasSuffix(dir, "/skipped") },
			want: map[string]want{
				"modules/m":       {[]string{"envs/dev", "envs/dev/.terraformrc.d", "envs/dev/not.terraform"}, []string{"envs/dev", "envs/dev/.terraformrc.d", "envs/dev/not.terraform"}},
				"modules/skipped": {nil, []string{"modules/skipped"}},
			},
		},
		{
			name: "JSON and tofu files",
			files: map[string]string{
				"envs/a/main.tf.json":      `{"module": {"net": {"source": "../../modules/net"}, "vpc": {"source": "../../modules/vpc/"}}}`,
				"envs/b/main.tofu.json":    `{"module": [{"net": {"source": "../../modules/net", "count": 2}}, {"remote": {"source": "hashicorp/consul/aws"}}]}`,
				"envs/c/main.tofu":         hclModule("vpc", "../../modules/vpc"),
				"envs/d/main.tf.json":      `{"module": {"net": {"source": 5}, "vpc": {"source": ["../../modules/vpc"]}}}`,
				"modules/net/main.tf":      hclResource,
				"modules/vpc/main.tf.json": `{"module": {"net": {"source": "../net"}}}`,
			},
			want: map[string]want{
				"modules/net": {[]string{"envs/a", "envs/b", "envs/c", "modules/vpc"}, []string{"envs/a", "envs/b", "envs/c"}},
				"modules/vpc": {[]string{"envs/a", "envs/c"}, []string{"envs/a", "envs/c"}},
				"envs/d":      {nil, []string{"envs/d"}},
			},
		},
		{
			name:  "skip the root",
			files: map[string]string{"main.tf": hclModule("m", "./m"), "m/main.tf": hclResource},
			skip:  func(dir string) bool { return dir == "." },
			want:  map[string]want{"m": {nil, []string{"m"}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			repo := writeModuleRepo(t, tt.files)
			g, err := LoadModuleGraph(repo, tt.skip)
			if err != nil {
				t.Fatalf("LoadModuleGraph: %v", err)
			}
			for dir, w := range tt.want {
				if got := g.Dependents(dir); !slices.Equal(got, w.dependents) {
					t.Errorf("Dependents(%q) = %q, want %q", dir, got, w.dependents)
				}
				if got := g.Roots(dir); !slices.Equal(got, w.roots) {
					t.Errorf("Roots(%q) = %q, want %q", dir, got, w.roots)
				}
				if got, want := g.IsModule(dir), len(w.dependents) > 0; got != want {
					t.Errorf("IsModule(%q) = %v, want %v", dir, got, want)
				}
			}
		})
	}
}

func TestLoadModuleGraphMissingRepo(t *testing.T) {
	t.Parallel()
	if _, err := LoadModuleGraph(filepath.Join(t.TempDir(), "missing"), nil); err == nil {
		t.Error("LoadModuleGraph of a missing directory: nil error")
	}
}

// TestModuleGraphConcurrentQueries lets the race detector check that
// memoised queries are safe from several goroutines.
func TestModuleGraphConcurrentQueries(t *testing.T) {
	t.Parallel()
	files := map[string]string{"modules/base/main.tf": hclResource}
	for i := range 20 {
		files[fmt.Sprintf("modules/m%d/main.tf", i)] = hclModule("base", "../base")
		files[fmt.Sprintf("envs/e%d/main.tf", i)] = hclModule("m", fmt.Sprintf("../../modules/m%d", i))
	}
	g, err := LoadModuleGraph(writeModuleRepo(t, files), nil)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for i := range 20 {
				if got := g.Roots(fmt.Sprintf("modules/m%d", i)); !slices.Equal(got, []string{fmt.Sprintf("envs/e%d", i)}) {
					t.Errorf("Roots(modules/m%d) = %q", i, got)
					return
				}
				if got := g.Roots("modules/base"); len(got) != 20 {
					t.Errorf("Roots(modules/base) has %d roots, want 20", len(got))
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestRequiredVersion(t *testing.T) {
	t.Parallel()
	repo := writeModuleRepo(t, map[string]string{
		"one/main.tf":            "terraform {\n  required_version = \">= 1.6\"\n}\n" + hclResource,
		"one/other.tf":           hclResource,
		"two/b.tf":               "terraform {\n  required_version = \"< 2.0\"\n}\n",
		"two/a.tofu":             "terraform {\n  required_version = \">= 1.6\"\n  backend \"local\" {}\n}\n",
		"two/notes.md":           "terraform {\n  required_version = \"9\"\n}\n",
		"none/main.tf":           "terraform {\n  backend \"local\" {}\n}\n" + hclResource,
		"none/vars.tf":           "variable \"required_version\" {\n  default = \"1.0\"\n}\n",
		"json/main.tf.json":      `{"terraform": {"required_version": "~> 1.8.0"}, "resource": {}}`,
		"computed/main.tf":       "terraform {\n  required_version = var.v\n}\n",
		"broken/main.tf":         "terraform {\n  required_version = \"1.9.0\"\n}\nresource {{{\n",
		"nested/main.tf":         "module \"m\" {\n  source = \"./m\"\n  terraform {\n    required_version = \"1\"\n  }\n}\n",
		"empty/README.md":        "",
		"shadow/main.tf":         hclResource,
		"shadow/versions.tf":     "terraform {\n  required_version = \"~> 1.5.0\"\n}\n",
		"shadow/versions.tofu":   "terraform {\n  required_version = \">= 1.8\"\n}\n",
		"jshadow/v.tf.json":      `{"terraform": {"required_version": "~> 1.5.0"}}`,
		"jshadow/v.tofu.json":    `{"terraform": {"required_version": ">= 1.8"}}`,
		"jshadow/v.tofu":         "terraform {\n  required_version = \"< 3\"\n}\n",
		"tofuonly/versions.tofu": "terraform {\n  required_version = \">= 1.8\"\n}\n",
	})
	tests := []struct {
		dir, distribution, want string
	}{
		{"one", "opentofu", ">= 1.6"},
		{"two", "opentofu", ">= 1.6, < 2.0"},
		{"two", "terraform", "< 2.0"},
		{"none", "opentofu", ""},
		{"json", "opentofu", "~> 1.8.0"},
		{"json", "terraform", "~> 1.8.0"},
		{"computed", "opentofu", ""},
		{"broken", "opentofu", "1.9.0"},
		{"nested", "opentofu", ""},
		{"empty", "opentofu", ""},
		// OpenTofu reads x.tofu instead of x.tf, x.tofu.json instead of
		// x.tf.json; Terraform never reads .tofu files.
		{"shadow", "opentofu", ">= 1.8"},
		{"shadow", "", ">= 1.8"},
		{"shadow", "terraform", "~> 1.5.0"},
		{"jshadow", "opentofu", "< 3, >= 1.8"},
		{"jshadow", "terraform", "~> 1.5.0"},
		{"tofuonly", "opentofu", ">= 1.8"},
		{"tofuonly", "terraform", ""},
	}
	for _, tt := range tests {
		got, err := RequiredVersion(repo, tt.dir, Distribution(tt.distribution))
		if err != nil || got != tt.want {
			t.Errorf("RequiredVersion(%q, %q) = %q, %v; want %q", tt.dir, tt.distribution, got, err, tt.want)
		}
	}
	if _, err := RequiredVersion(repo, "missing", "opentofu"); err == nil {
		t.Error("RequiredVersion of a missing directory: nil error")
	}
}

// moduleSourcesTests are files in native syntax and the sources of their
// module blocks; FuzzModuleSources starts from them.
var moduleSourcesTests = []struct {
	name, src string
	want      []string
}{
	{"plain", hclModule("a", "./a") + hclModule("b", "hashicorp/consul/aws"), []string{"./a", "hashicorp/consul/aws"}},
	{"one-line and empty blocks", "module \"a\" { source = \"./a\" }\nmodule \"b\" {}\nmodule {\n}\n", []string{"./a"}},
	{"comment after the source", "module \"a\" {\n  source = \"./a\" # why\n  count  = 2\n}\n", []string{"./a"}},
	{"comments everywhere", "module /* c */ \"a\" b /* d */ {\n  /* e */ source /* f */ = /* g */ \"./a\" /* h */\n}\n", []string{"./a"}},
	{"heredoc source", "module \"a\" {\n  source = <<-EOT\n    ./a\n  EOT\n}\n", []string{"./a\n"}},
	{"interpolated source", "module \"a\" {\n  source = \"./${var.x}\"\n}\nmodule \"b\" {\n  source = \"${\"./\"}b\"\n}\n", []string{"./b"}},
	{"escapes", "module \"a\\\"b\" {\n  source = \"./a$${x}%%{y}\\\\\"\n}\n", []string{`./a${x}%{y}\`}},
	{"CRLF and byte order mark", "\xef\xbb\xbfmodule \"a\" {\r\n  source = \"./a\"\r\n}\r\n", []string{"./a"}},
	{
		"nested source attributes",
		"module \"a\" {\n  source = (\n    \"./a\"\n  )\n  providers = { source = \"./b\" }\n  dynamic \"x\" {\n    source = \"./c\"\n  }\n}\n",
		[]string{"./a"},
	},
	{
		"module blocks in strings, heredocs, comments and other blocks",
		"# module \"a\" {\n/* module \"b\" { */\nlocals {\n  a = \"${\"}\"}\"\n  module \"x\" {\n    source = \"./x\"\n  }\n  b = <<EOT\n}\nmodule \"y\" {\n  source = \"./y\"\n}\n${\"EOT\"}\nEOT\n}\nmodule \"z\" {\n  source = \"./z\"\n}\n",
		[]string{"./z"},
	},
	{"not module blocks", "module = { source = \"./m\" }\nresource \"x\" \"module\" {\n  module = 1\n  source = \"./x\"\n}\n", nil},
	{"unterminated string", hclModule("a", "./a") + "locals {\n  x = \"oops\n}\n" + hclModule("b", "./b"), []string{"./a"}},
}

func TestModuleSources(t *testing.T) {
	t.Parallel()
	for _, tt := range moduleSourcesTests {
		if got := moduleSources("main.tf", []byte(tt.src)); !slices.Equal(got, tt.want) {
			t.Errorf("%s: moduleSources(%q) = %q, want %q", tt.name, tt.src, got, tt.want)
		}
	}
}

// FuzzModuleSources checks the skimmer that finds module sources against
// hclsyntax's parser: on every file that parses cleanly they must find the
// same sources. On any input, neither syntax may panic.
func FuzzModuleSources(f *testing.F) {
	for _, tt := range moduleSourcesTests {
		f.Add([]byte(tt.src))
	}
	f.Add([]byte(`{"module": {"a": {"source": "../a"}}}`))
	f.Add([]byte(`{"module": [{"a": {"source": "../a"}}, 1, null], "terraform": [{"required_version": "1"}]}`))
	f.Fuzz(func(t *testing.T, src []byte) {
		for _, name := range []string{"main.tf", "main.tf.json"} {
			for _, s := range moduleSources(name, src) {
				resolveLocalSource("a/b", s)
			}
			hclBlockStrings(parseHCL(name, src), terraformBlockSchema, "required_version")
		}
		got, ok := skimModuleSources(src)
		file, diags := hclsyntax.ParseConfig(src, "main.tf", hcl.InitialPos)
		if diags.HasErrors() || !utf8.Valid(src) {
			// Where hclsyntax recovers, or lets broken UTF-8 pass, the two
			// may read differently.
			return
		}
		if want := hclBlockStrings(file, moduleBlockSchema, "source"); !ok || !slices.Equal(got, want) {
			t.Errorf("skimModuleSources(%q) = %q, %v; hclsyntax finds %q", src, got, ok, want)
		}
	})
}
