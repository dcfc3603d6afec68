package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gocoop/gocoop/cocoop"
)

func TestTrainThenEvalOnOtherClasses(t *testing.T) {
	weights := microWeights(t)
	root := makeEuroSAT(t, 6, 4, 2, 3)
	out := filepath.Join(t.TempDir(), "run")
	stdout := mustRun(t, "train", "--weights", weights, "--dataset", "EuroSAT", "--root", root, "--out", out,
		"--method", "coop", "--subsample", "base", "--shots", "4", "--epochs", "3", "--batch", "4", "--lr", "0.05",
		"--seed", "2", "--sampler", "pcg", "--quiet")
	for _, want := range []string{"CoOp on EuroSAT (base classes: 3, 4 shots, seed 2, sampler pcg)", "test accuracy:", "train.json"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout)
		}
	}
	var tr trainReport
	readJSON(t, filepath.Join(out, "train.json"), &tr)
	if tr.Method != "coop" || tr.Config.BatchSize != 4 || tr.Config.Epochs != 3 || tr.Config.Seed != 2 || len(tr.Epochs) != 3 ||
		tr.Test == nil || tr.Test.Total != 9 || tr.Test.Classes != 3 || tr.TrainImages != 12 || tr.OptimSteps != 9 {
		t.Fatalf("train.json %+v", tr)
	}
	ckPath := filepath.Join(out, checkpointName)
	ck, err := cocoop.LoadCheckpoint(ckPath)
	if err != nil || ck.Meta.Epoch != 3 || ck.Meta.NCls != 3 {
		t.Fatalf("checkpoint: %v %+v", err, ck)
	}

	// The learned prompt on the new classes (another class list).
	evalOut := t.TempDir()
	stdout = mustRun(t, "eval", "--weights", weights, "--dataset", "EuroSAT", "--root", root, "--checkpoint", ckPath,
		"--subsample", "new", "--out", evalOut, "--quiet")
	if !strings.Contains(stdout, "accuracy") || !strings.Contains(stdout, "new classes (3-way)") {
		t.Errorf("eval stdout:\n%s", stdout)
	}
	var er evalReport
	readJSON(t, filepath.Join(evalOut, "eval.json"), &er)
	if er.Method != "coop" || er.Total != 9 || len(er.PerClass) != 3 || er.ClassNames[0] != "Highway or Road" || er.Trained == nil || er.Trained.Classes != 3 {
		t.Errorf("eval.json %+v", er)
	}
	// All six classes, val split.
	stdout = mustRun(t, "eval", "--weights", weights, "--dataset", "EuroSAT", "--root", root, "--checkpoint", ckPath, "--split", "val")
	if !strings.Contains(stdout, "val split, all classes (6-way)") || !strings.Contains(stdout, "/12") {
		t.Errorf("eval val stdout:\n%s", stdout)
	}
	// Zero-shot with the dataset template and with the ensemble.
	stdout = mustRun(t, "eval", "--weights", weights, "--dataset", "EuroSAT", "--root", root, "--method", "zeroshot")
	if !strings.Contains(stdout, `"a centered satellite photo of {}."`) {
		t.Errorf("zeroshot stdout:\n%s", stdout)
	}
	stdout = mustRun(t, "eval", "--weights", weights, "--dataset", "EuroSAT", "--root", root, "--method", "zeroshot", "--ensemble")
	if !strings.Contains(stdout, "(8 templates)") {
		t.Errorf("zeroshot --ensemble stdout:\n%s", stdout)
	}

	// Resume: extend the finished run by one epoch (the seed comes from the
	// checkpoint; shots and sampler must be given again).
	stdout = mustRun(t, "train", "--weights", weights, "--dataset", "EuroSAT", "--root", root, "--out", out,
		"--subsample", "base", "--sampler", "pcg", "--resume", ckPath, "--epochs", "4", "--quiet", "--eval=false")
	if !strings.Contains(stdout, "epochs 4-4 of 4") {
		t.Errorf("resume stdout:\n%s", stdout)
	}
	readJSON(t, filepath.Join(out, "train.json"), &tr)
	if tr.StartEpoch != 3 || len(tr.Epochs) != 1 || tr.Epochs[0].Epoch != 4 || tr.Seed != 2 || tr.ResumedFrom != ckPath {
		t.Errorf("resumed train.json %+v", tr)
	}
	if b, _ := os.ReadFile(filepath.Join(out, "log.txt")); strings.Count(string(b), "cocoop train") != 2 {
		t.Errorf("log.txt does not hold both runs:\n%s", b)
	}
}

func TestTrainCoCoOpSkipUnreadable(t *testing.T) {
	weights := microWeights(t)
	root := makeEuroSAT(t, 4, 3, 1, 2)
	bad := filepath.Join(root, "eurosat", "2750", "Forest", "Forest_train_1.png")
	if err := os.WriteFile(bad, []byte("\x89PNG\r\n\x1a\ntruncated"), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"train", "--weights", weights, "--dataset", "EuroSAT", "--root", root, "--shots", "0", "--epochs", "1", "--quiet"}
	code, _, stderr := runCmd(append(args, "--out", t.TempDir())...)
	if code != 1 || !strings.Contains(stderr, "Forest_train_1.png") || !strings.Contains(stderr, "--skip-unreadable") {
		t.Errorf("corrupt image: exit %d, stderr %q", code, stderr)
	}
	out := t.TempDir()
	stdout := mustRun(t, append(args, "--out", out, "--skip-unreadable")...)
	if !strings.Contains(stdout, "skipped 1 unreadable images") || !strings.Contains(stdout, "Forest_train_1.png") {
		t.Errorf("stdout:\n%s", stdout)
	}
	var tr trainReport
	readJSON(t, filepath.Join(out, "train.json"), &tr)
	if tr.Skipped.Count != 1 || tr.Epochs[0].Samples != 11 || tr.Method != "cocoop" || tr.Config.CtxInit != "a photo of a" {
		t.Errorf("train.json %+v", tr)
	}
}

func TestTrainCacheFeatures(t *testing.T) {
	weights := microWeights(t)
	root := makeEuroSAT(t, 4, 3, 1, 1)
	train := func(extra ...string) trainReport {
		out := filepath.Join(t.TempDir(), "run")
		args := append([]string{"train", "--weights", weights, "--dataset", "EuroSAT", "--root", root, "--out", out,
			"--shots", "3", "--epochs", "2", "--seed", "1", "--sampler", "pcg", "--quiet", "--eval=false"}, extra...)
		mustRun(t, args...)
		var tr trainReport
		readJSON(t, filepath.Join(out, "train.json"), &tr)
		return tr
	}
	plain := train("--no-augment")
	cached := train("--no-augment", "--cache-features")
	full := train("--no-augment", "--full-prompts")
	if !cached.Config.CacheImageFeatures || !full.FullPrompts || len(plain.Epochs) != 2 {
		t.Fatalf("configs: cached %+v, full prompts %v", cached.Config, full.FullPrompts)
	}
	for i := range plain.Epochs {
		p, c, f := plain.Epochs[i].Loss, cached.Epochs[i].Loss, full.Epochs[i].Loss
		if p != c {
			t.Errorf("epoch %d: loss %v with the feature cache, %v without (the cache is exact)", i+1, c, p)
		}
		if d := (p - f) / p; d > 1e-4 || d < -1e-4 {
			t.Errorf("epoch %d: loss %v with full prompts, %v with the shortcut", i+1, f, p)
		}
	}
	code, _, stderr := runCmd("train", "--weights", weights, "--dataset", "EuroSAT", "--root", root,
		"--out", t.TempDir(), "--cache-features")
	if code != 2 || !strings.Contains(stderr, "--cache-features needs --no-augment") {
		t.Errorf("--cache-features without --no-augment: exit %d, %q", code, stderr)
	}
}
