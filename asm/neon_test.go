package asm

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestNEONWords checks the encodings gen_neon.go writes as WORD: it
// assembles every *_arm64.s file for arm64 with go tool asm, disassembles
// the object with go tool objdump (Go's arm64 decoder, independent of the
// generator's encoder) and compares each WORD's disassembly with the
// instruction in its comment. It runs on any host.
func TestNEONWords(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go tool asm and objdump")
	}
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command:", err)
	}
	env := append(os.Environ(), "GOTOOLCHAIN=local", "GOOS=linux", "GOARCH=arm64")
	goroot, err := exec.Command(goCmd, "env", "GOROOT").Output()
	if err != nil {
		t.Fatal("go env GOROOT:", err)
	}
	files, err := filepath.Glob("*_arm64.s")
	if err != nil || len(files) == 0 {
		t.Fatalf("no arm64 .s files: %v", err)
	}
	words := 0
	for _, f := range files {
		obj := filepath.Join(t.TempDir(), f+".o")
		cmd := exec.Command(goCmd, "tool", "asm", "-p", "github.com/gocoop/gocoop/asm",
			"-I", filepath.Join(strings.TrimSpace(string(goroot)), "pkg", "include"), "-o", obj, f)
		cmd.Env = env
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go tool asm %s: %v\n%s", f, err, out)
		}
		cmd = exec.Command(goCmd, "tool", "objdump", obj)
		cmd.Env = env
		dis, err := cmd.Output()
		if err != nil {
			t.Fatalf("go tool objdump %s: %v", f, err)
		}
		// Lines read "  file.s:LINE\tADDR\t\tHEX\t\tTEXT".
		at := map[int]string{}
		sc := bufio.NewScanner(strings.NewReader(string(dis)))
		for sc.Scan() {
			var fields []string
			for _, s := range strings.Split(sc.Text(), "\t") {
				if s = strings.TrimSpace(s); s != "" {
					fields = append(fields, s)
				}
			}
			if len(fields) < 4 || !strings.HasPrefix(fields[0], f+":") {
				continue
			}
			ln, err := strconv.Atoi(strings.TrimPrefix(fields[0], f+":"))
			if err == nil {
				if _, seen := at[ln]; !seen {
					at[ln] = fields[3]
				}
			}
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(src), "\n") {
			if !strings.HasPrefix(strings.TrimSpace(line), "WORD ") {
				continue
			}
			words++
			_, want, ok := strings.Cut(line, "// ")
			if !ok {
				t.Errorf("%s:%d: WORD without the instruction as comment", f, i+1)
				continue
			}
			if got := at[i+1]; got != strings.TrimSpace(want) {
				t.Errorf("%s:%d: WORD disassembles as %q, comment says %q", f, i+1, got, want)
			}
		}
	}
	if words == 0 {
		t.Fatal("no WORD directives found")
	}
	t.Logf("%d WORD encodings checked", words)
}
