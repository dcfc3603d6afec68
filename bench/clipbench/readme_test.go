package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The README's measured side-by-side block sits between these markers.
const (
	readmeBegin = "<!-- clipbench -readme bench/clipbench/testdata/clipbench.json -->"
	readmeEnd   = "<!-- end clipbench -->"
)

// TestREADMETable: the README's side-by-side table and targets are exactly
// what -readme prints from the committed run (testdata/clipbench.json), so
// the README's figures are the run's, and the run passed its loss check.
func TestREADMETable(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	s := string(readme)
	i, j := strings.Index(s, readmeBegin), strings.Index(s, readmeEnd)
	if i < 0 || j < i {
		t.Fatalf("README has no %q ... %q block", readmeBegin, readmeEnd)
	}
	rep, err := readReport(filepath.Join("testdata", "clipbench.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.LossErrors) > 0 {
		t.Errorf("the committed run has loss mismatches: %v", rep.LossErrors)
	}
	if rep.Torch == "" || len(rep.Records) == 0 || rep.B2N == nil {
		t.Errorf("the committed run is not a full one (PyTorch %q, %d records, base2new %v)", rep.Torch, len(rep.Records), rep.B2N != nil)
	}
	got := strings.TrimSpace(s[i+len(readmeBegin) : j])
	var want bytes.Buffer
	printREADME(&want, rep)
	if got != strings.TrimSpace(want.String()) {
		t.Errorf("README's side-by-side block differs from go run ./bench/clipbench -readme bench/clipbench/testdata/clipbench.json:\n%s", want.String())
	}
}

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
