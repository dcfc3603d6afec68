package main

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

// TestDocsClipbenchFlags: every "go run ./bench/clipbench ..." in the README
// and docs/ names flags the command defines.
func TestDocsClipbenchFlags(t *testing.T) {
	paths, _ := filepath.Glob(filepath.Join("..", "..", "docs", "*.md"))
	paths = append(paths, filepath.Join("..", "..", "README.md"))
	call := regexp.MustCompile(`go run \./bench/clipbench([^\x60\n|#]*)`)
	flagRe := regexp.MustCompile(`(?:^|\s)-([a-z][a-z0-9-]*)`)
	n := 0
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range call.FindAllStringSubmatch(string(b), -1) {
			for _, f := range flagRe.FindAllStringSubmatch(m[1], -1) {
				n++
				if !definedFlag(f[1]) {
					t.Errorf("%s: go run ./bench/clipbench%s: no flag -%s", filepath.Base(p), m[1], f[1])
				}
			}
		}
	}
	if n == 0 {
		t.Error("no clipbench flags found in the docs")
	}
}

// definedFlag reports whether main defines flag name (the worker's
// internal flags included), from the source: main registers its flags on
// the default FlagSet when it runs, so the names are read from main.go.
func definedFlag(name string) bool {
	src, err := os.ReadFile("main.go")
	if err != nil {
		return false
	}
	return regexp.MustCompile(`flag\.\w+\((?:&[\w.]+, )?"` + regexp.QuoteMeta(name) + `"`).Match(src)
}
