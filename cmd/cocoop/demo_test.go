package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDemo(t *testing.T) {
	dir := t.TempDir()
	stdout := mustRun(t, "demo", "--out", dir, "--epochs", "1", "--shots", "2")
	for _, want := range []string{"| EuroSAT |", "CoCoOp gradient inspection", "everything is in " + dir} {
		if !strings.Contains(stdout, want) {
			t.Errorf("demo output lacks %q:\n%s", want, stdout)
		}
	}
	for _, f := range []string{"runs/base2new.json", "runs/EuroSAT/seed1/prompt_learner.safetensors", "inspect/inspect.csv", "inspect/eot_attention.png"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Error(err)
		}
	}
	if code, _, stderr := runCmd("demo", "--size", "huge"); code != 2 || !strings.Contains(stderr, "--size must be small or vitb16") {
		t.Errorf("--size huge: exit %d, %q", code, stderr)
	}
}
