package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestDocsFlags: every "cocoop CMD ... --flag" in a chapter or the README
// (continuation lines ending in "\" included) names a command that exists
// and a flag that command defines, so that the docs' commands keep
// running as written.
func TestDocsFlags(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join("..", "..", "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	paths = append(paths, filepath.Join("..", "..", "README.md"))
	call := regexp.MustCompile(`(?:^|[\s\x60(])(?:bin/|\./cmd/)?cocoop ([a-z][a-z0-9]*)\b([^\x60\n|]*)`)
	flagRe := regexp.MustCompile(`(?:^|\s)--?([a-z][a-z0-9-]*)`)
	flagsOf := map[string]map[string]bool{}
	defined := func(cmd string) map[string]bool {
		if f, ok := flagsOf[cmd]; ok {
			return f
		}
		_, _, stderr := runCmd(cmd, "-h")
		_, stdout, _ := runCmd(cmd, "-h")
		f := map[string]bool{}
		for _, m := range regexp.MustCompile(`(?m)^\s+-([a-z][a-z0-9-]*)`).FindAllStringSubmatch(stderr+stdout, -1) {
			f[m[1]] = true
		}
		if len(f) == 0 && !strings.Contains(stderr+stdout, "Usage: cocoop "+cmd) {
			f = nil // no such command
		}
		flagsOf[cmd] = f
		return f
	}
	n := 0
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		text := strings.ReplaceAll(string(b), "\\\n", " ") // join continued lines
		for _, m := range call.FindAllStringSubmatch(text, -1) {
			cmd := m[1]
			if cmd == "help" {
				continue
			}
			f := defined(cmd)
			if f == nil {
				t.Errorf("%s: `cocoop %s`: no such command", p, cmd)
				continue
			}
			for _, fm := range flagRe.FindAllStringSubmatch(m[2], -1) {
				n++
				if fm[1] == "h" || fm[1] == "help" {
					continue
				}
				if !f[fm[1]] {
					t.Errorf("%s: `cocoop %s --%s`: the command has no such flag", p, cmd, fm[1])
				}
			}
		}
	}
	if n < 20 {
		t.Errorf("found only %d flags in the docs' commands; the pattern no longer matches", n)
	}
	t.Logf("%d flags checked", n)
}
