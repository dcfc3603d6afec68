package main

import (
	"bytes"
	"strings"
	"testing"
)

// runCmd runs the command line and returns exit code, stdout and stderr.
func runCmd(args ...string) (int, string, string) {
	var out, errOut bytes.Buffer
	code := run(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestTokenize(t *testing.T) {
	code, out, _ := runCmd("tokenize", "--", "a photo of a dog.", "-x")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 {
		t.Fatalf("want 2 lines, got %q", out)
	}
	want := "[49406,320,1125,539,320,1929,269,49407,0,"
	if !strings.HasPrefix(lines[0], want) || strings.Count(lines[0], ",") != 76 {
		t.Errorf("line 0 = %s, want prefix %s and 77 ids", lines[0], want)
	}
}

func TestTokenizeErrors(t *testing.T) {
	long := strings.Repeat("dog ", 80)
	for _, tc := range []struct {
		args     []string
		code     int
		inStderr string
	}{
		{[]string{"tokenize"}, 2, "no TEXT given"},
		{[]string{"tokenize", long}, 1, "more than the context length 77"},
		{[]string{"tokenize", "--bogus", "x"}, 2, "flag provided but not defined"},
		{[]string{"nosuch"}, 2, `unknown command "nosuch"`},
	} {
		code, _, stderr := runCmd(tc.args...)
		if code != tc.code || !strings.Contains(stderr, tc.inStderr) {
			t.Errorf("%q: exit %d stderr %q; want exit %d containing %q", tc.args, code, stderr, tc.code, tc.inStderr)
		}
	}
	if code, out, _ := runCmd("tokenize", "--truncate", long); code != 0 || !strings.Contains(out, ",49407]") {
		t.Errorf("--truncate: exit %d, out %q", code, out)
	}
}

func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"help"}, {"--help"}, {"tokenize", "--help"}, {"help", "tokenize"}} {
		code, out, _ := runCmd(args...)
		if code != 0 || !strings.Contains(out, "tokenize") {
			t.Errorf("%q: exit %d, out %q", args, code, out)
		}
	}
}
