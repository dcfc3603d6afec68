package clip

import (
	"bytes"
	"go/format"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// TestFtfyEntitiesCurrent regenerates ftfy_entities.go with its generator
// (the //go:generate line in ftfy.go) and requires the same bytes. The
// table comes from Python's html.entities, so the check needs python3 of
// the version recorded in the file's header; elsewhere it is skipped with
// that reason (Debian's python3 on the project's machines is that version).
func TestFtfyEntitiesCurrent(t *testing.T) {
	have, err := os.ReadFile("ftfy_entities.go")
	if err != nil {
		t.Fatal(err)
	}
	want := regexp.MustCompile(`from Python (\S+) html`).FindSubmatch(have)
	if want == nil {
		t.Fatal("ftfy_entities.go: no Python version in its header")
	}
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skipf("no python3 to regenerate ftfy_entities.go (made with Python %s)", want[1])
	}
	ver, err := exec.Command(py, "-c", "import sys; print(sys.version.split()[0])").Output()
	if err != nil || strings.TrimSpace(string(ver)) != string(want[1]) {
		t.Skipf("python3 is %q, ftfy_entities.go was made with Python %s", strings.TrimSpace(string(ver)), want[1])
	}
	out, err := exec.Command(py, "testdata/gen_html5_entities.py").Output()
	if err != nil {
		t.Fatalf("generator: %v", err)
	}
	got, err := format.Source(out)
	if err != nil {
		t.Fatalf("generated code does not parse: %v", err)
	}
	if !bytes.Equal(got, have) {
		t.Errorf("ftfy_entities.go is stale: run go generate ./clip")
	}
}
