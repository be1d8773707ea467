package workflows

import (
	"os"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

func BenchmarkZZParts(b *testing.B) {
	repo := b.TempDir()
	generateMonorepo(b, repo, 2000, 200, 500)
	files, _ := findConfigFiles(repo, nil)
	srcs := make([][]byte, len(files))
	for i, f := range files {
		srcs[i], _ = os.ReadFile(f.path)
	}
	b.Run("walk", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			findConfigFiles(repo, nil)
		}
	})
	b.Run("read", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			for _, f := range files {
				os.ReadFile(f.path)
			}
		}
	})
	b.Run("lex", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			for i, f := range files {
				hclsyntax.LexConfig(srcs[i], f.path, hcl.InitialPos)
			}
		}
	})
	b.Run("parse", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			for i, f := range files {
				hclsyntax.ParseConfig(srcs[i], f.path, hcl.InitialPos)
			}
		}
	})
	b.Run("sources", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			for i, f := range files {
				moduleSources(f.path, srcs[i])
			}
		}
	})
	b.Run("readall-parallel", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			readModuleSources(files)
		}
	})
}
