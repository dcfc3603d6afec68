package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A GoCoOp prompt exported for the official code and a checkpoint of the
// official code both evaluate through --checkpoint.
func TestExportDassl(t *testing.T) {
	weights := microWeights(t)
	root := makeEuroSAT(t, 4, 4, 1, 2)
	run := filepath.Join(t.TempDir(), "run")
	mustRun(t, "train", "--weights", weights, "--dataset", "EuroSAT", "--root", root, "--out", run,
		"--shots", "2", "--epochs", "1", "--quiet", "--eval=false")
	ck := filepath.Join(run, checkpointName)

	dir := filepath.Join(t.TempDir(), "official")
	stdout := mustRun(t, "export", "--format", "dassl", "--checkpoint", ck, "--out", dir, "--weights", weights)
	file := filepath.Join(dir, "prompt_learner", "model.pth.tar-1")
	for _, want := range []string{"wrote " + file, "class buffers for the 4 classes", "--model-dir " + dir + " --load-epoch 1 --eval-only"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout)
		}
	}
	before, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	// No overwrite without --overwrite; the file is left as it was.
	code, _, stderr := runCmd("export", "--format", "dassl", "--checkpoint", ck, "--out", dir)
	if code != 1 || !strings.Contains(stderr, "exists") || !strings.Contains(stderr, "--overwrite") {
		t.Errorf("second export: exit %d, stderr %q", code, stderr)
	}
	if after, _ := os.ReadFile(file); string(after) != string(before) {
		t.Error("the refused export changed the file")
	}
	stdout = mustRun(t, "export", "--format", "dassl", "--checkpoint", ck, "--out", dir, "--overwrite")
	if !strings.Contains(stdout, "no class buffers") {
		t.Errorf("export without --weights: %s", stdout)
	}

	// The exported folder evaluates as the GoCoOp checkpoint does.
	accuracy := func(ck string) float64 {
		out := filepath.Join(t.TempDir(), "eval")
		mustRun(t, "eval", "--weights", weights, "--dataset", "EuroSAT", "--root", root, "--checkpoint", ck, "--out", out, "--quiet")
		var r struct{ Accuracy float64 }
		readJSON(t, filepath.Join(out, "eval.json"), &r)
		return r.Accuracy
	}
	if a, b := accuracy(ck), accuracy(dir); a != b {
		t.Errorf("accuracy %v with the GoCoOp checkpoint, %v with its Dassl export", a, b)
	}
	// A checkpoint written by PyTorch in the official layout (2 classes)
	// applies to the 4 EuroSAT classes.
	fixture := filepath.Join("..", "..", "cocoop", "testdata", "dassl", "cocoop")
	out := filepath.Join(t.TempDir(), "eval")
	mustRun(t, "eval", "--weights", weights, "--dataset", "EuroSAT", "--root", root, "--checkpoint", fixture, "--out", out, "--quiet")
	var r struct {
		Method  string
		Trained struct{ Epoch int }
	}
	readJSON(t, filepath.Join(out, "eval.json"), &r)
	if b, _ := json.Marshal(r); r.Method != "cocoop" || r.Trained.Epoch != 2 {
		t.Errorf("eval.json %s", b)
	}
	img := filepath.Join(root, "eurosat", "2750", "Forest", "Forest_test_0.png")
	stdout = mustRun(t, "inspect", "--weights", weights, "--image", img, "--dataset", "EuroSAT", "--root", root,
		"--label", "Forest", "--checkpoint", filepath.Join(fixture, "prompt_learner", "model.pth.tar-1"), "--out", t.TempDir())
	if !strings.Contains(stdout, "learned prompt") {
		t.Errorf("inspect with an official checkpoint:\n%s", stdout)
	}
}

func TestExportUsage(t *testing.T) {
	for _, args := range [][]string{
		{"export", "--checkpoint", "x", "--out", "y"},
		{"export", "--format", "onnx", "--checkpoint", "x", "--out", "y"},
		{"export", "--format", "dassl", "--out", "y"},
		{"export", "--format", "dassl", "--checkpoint", "x"},
	} {
		if code, _, _ := runCmd(args...); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
}
