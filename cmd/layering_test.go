// Package cmd holds no code of its own: the command is cmd/cocoop. Its one
// test enforces the import layering of the whole module.
package cmd

import (
	"fmt"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// layers are the module's top-level directories, bottom first: a package
// belongs to its top-level directory's layer (tensor/cuda and
// tensor/devicetest to tensor's, nn/optim to nn's, cocoop/data to cocoop's)
// and imports only its own layer and those below it. bench is above all.
// There is no top-level internal/ directory: shared code goes into the
// lowest layer it can (an internal/ directory inside a layer is fine).
var layers = []string{"asm", "tensor", "autograd", "nn", "clip", "cocoop", "cmd", "bench"}

// TestLayering parses the imports of every Go file of the module — tests
// and files behind build tags (cuda) included — and fails on an import of a
// higher layer or of a top-level internal/ package, on a top-level
// internal/ directory, and on a top-level directory missing from layers.
func TestLayering(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	mod, err := modulePath(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	bad, files, err := checkLayering(root, mod)
	if err != nil {
		t.Fatal(err)
	}
	if files < 100 {
		t.Fatalf("only %d Go files under %s: the walk missed the module", files, root)
	}
	for _, b := range bad {
		t.Error(b)
	}
	if len(bad) > 0 {
		t.Logf("layers, bottom first: %s (a package imports only its own layer and those below)", strings.Join(layers, " < "))
	}
}

// TestLayeringCatchesViolations runs the check on a small module with one
// of each violation (an upward import in a test file, one behind a build
// tag, a top-level internal/ package and its importer, an unknown
// top-level directory) and legal imports beside them.
func TestLayeringCatchesViolations(t *testing.T) {
	root := t.TempDir()
	files := map[string]string{
		"go.mod":                     "module example.com/m\n\ngo 1.26\n",
		"asm/asm.go":                 "package asm\n",
		"tensor/tensor.go":           "package tensor\n\nimport _ \"example.com/m/asm\"\n",
		"tensor/cuda/cuda_test.go":   "//go:build cuda\n\npackage cuda\n\nimport (\n\t_ \"example.com/m/tensor\"\n\t_ \"example.com/m/clip\"\n)\n",
		"autograd/x_test.go":         "package autograd_test\n\nimport _ \"example.com/m/internal/check\"\n",
		"nn/internal/ok/ok.go":       "package ok\n\nimport _ \"example.com/m/autograd\"\n",
		"nn/nn.go":                   "package nn\n\nimport _ \"example.com/m/nn/internal/ok\"\n",
		"internal/check/check.go":    "package check\n\nimport _ \"example.com/m/cocoop\"\n",
		"cocoop/cocoop.go":           "package cocoop\n\nimport (\n\t\"fmt\"\n\t_ \"example.com/m/clip\"\n)\n\nvar _ = fmt.Sprint\n",
		"bench/b_test.go":            "package b\n\nimport _ \"example.com/m/cmd/cocoop\"\n",
		"cmd/cocoop/main.go":         "package main\n\nimport _ \"example.com/m/bench\"\n",
		"tools/gen.go":               "package tools\n",
		"clip/testdata/x/x.go":       "package x\n\nimport _ \"example.com/m/bench\"\n",
		"clip/.hidden/x.go":          "package x\n\nimport _ \"example.com/m/bench\"\n",
		"clip/clip.go":               "package clip\n\nimport _ \"example.com/m/nn\"\n",
		"autograd/autograd.go":       "package autograd\n\nimport _ \"example.com/m/tensor/cuda\"\n",
		"autograd/autogradtest/t.go": "package autogradtest\n\nimport _ \"example.com/m/autograd\"\n",
	}
	for name, src := range files {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	bad, n, err := checkLayering(root, "example.com/m")
	if err != nil {
		t.Fatal(err)
	}
	if n != 14 { // testdata and dot directories are skipped, as the go command does
		t.Errorf("checked %d files, want 14", n)
	}
	want := []string{
		"autograd/x_test.go:3: imports example.com/m/internal/check, a top-level internal/ package",
		"cmd/cocoop/main.go:3: imports example.com/m/bench (layer bench, above cmd)",
		"internal/check/check.go: a top-level internal/ directory belongs to no layer",
		"tensor/cuda/cuda_test.go:7: imports example.com/m/clip (layer clip, above tensor)",
		"tools/gen.go: top-level directory tools is in no layer",
	}
	if !slices.Equal(bad, want) {
		t.Errorf("violations:\n\t%s\nwant:\n\t%s", strings.Join(bad, "\n\t"), strings.Join(want, "\n\t"))
	}
}

// checkLayering parses the imports of every .go file under root (module
// mod), skipping what the go command skips (testdata, directories starting
// with "." or "_", nested modules), and returns the violations, sorted, and
// the number of files checked.
func checkLayering(root, mod string) (bad []string, files int, err error) {
	rank := map[string]int{}
	for i, l := range layers {
		rank[l] = i
	}
	top := func(rel string) string { return strings.SplitN(rel, "/", 2)[0] }
	fset := token.NewFileSet()
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		name := d.Name()
		if d.IsDir() {
			if rel == "." {
				return nil
			}
			if name == "testdata" || name == "vendor" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") {
				return filepath.SkipDir
			}
			if _, err := os.Stat(filepath.Join(path, "go.mod")); err == nil {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(name, ".go") || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") {
			return nil
		}
		files++
		layer := top(rel)
		switch _, known := rank[layer]; {
		case !strings.Contains(rel, "/"):
			bad = append(bad, rel+": a Go file at the module root belongs to no layer")
			return nil
		case layer == "internal":
			bad = append(bad, rel+": a top-level internal/ directory belongs to no layer")
		case !known:
			bad = append(bad, fmt.Sprintf("%s: top-level directory %s is in no layer", rel, layer))
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		for _, imp := range f.Imports {
			p, err := strconv.Unquote(imp.Path.Value)
			if err != nil {
				return err
			}
			if p != mod && !strings.HasPrefix(p, mod+"/") {
				continue
			}
			at := fmt.Sprintf("%s:%d", rel, fset.Position(imp.Pos()).Line)
			to := top(strings.TrimPrefix(strings.TrimPrefix(p, mod), "/"))
			r, known := rank[to]
			switch {
			case to == "internal":
				bad = append(bad, fmt.Sprintf("%s: imports %s, a top-level internal/ package", at, p))
			case !known:
				bad = append(bad, fmt.Sprintf("%s: imports %s, in no layer", at, p))
			case layer != "internal" && r > rank[layer]:
				bad = append(bad, fmt.Sprintf("%s: imports %s (layer %s, above %s)", at, p, to, layer))
			}
		}
		return nil
	})
	slices.Sort(bad)
	return bad, files, err
}

// modulePath reads the module path from go.mod.
func modulePath(gomod string) (string, error) {
	b, err := os.ReadFile(gomod)
	if err != nil {
		return "", err
	}
	m := regexp.MustCompile(`(?m)^module\s+(\S+)`).FindSubmatch(b)
	if m == nil {
		return "", fmt.Errorf("%s: no module line", gomod)
	}
	return string(m[1]), nil
}
