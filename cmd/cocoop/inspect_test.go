package main

import (
	"encoding/csv"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestInspect(t *testing.T) {
	weights := microWeights(t)
	root := makeEuroSAT(t, 4, 4, 1, 1)
	img := filepath.Join(root, "eurosat", "2750", "Forest", "Forest_test_0.png")

	// A learned CoCoOp prompt, class names from the dataset.
	run := filepath.Join(t.TempDir(), "run")
	mustRun(t, "train", "--weights", weights, "--dataset", "EuroSAT", "--root", root, "--out", run,
		"--shots", "2", "--epochs", "1", "--quiet", "--eval=false")
	out := t.TempDir()
	stdout := mustRun(t, "inspect", "--weights", weights, "--image", img, "--dataset", "EuroSAT", "--root", root,
		"--label", "Forest", "--checkpoint", filepath.Join(run, checkpointName), "--out", out)
	for _, want := range []string{"learned prompt", `true class "Forest" (label 1) among 4 classes`, "π(x): norm", "ctx", "EOT attention", "inspect.csv"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout)
		}
	}
	rows := readCSV(t, filepath.Join(out, "inspect.csv"))
	kinds := map[string]int{}
	for _, r := range rows[1:] {
		kinds[r[0]]++
	}
	for _, k := range []string{"loss", "ctx_grad_norm", "ctx_vec_grad_norm", "pi_norm", "pi_grad_norm", "pi", "meta_weight_grad_norm", "block_grad_norm", "total_block_grad_norm", "eot_attn", "eot_grad_attn", "prompt_pos_grad_norm"} {
		if kinds[k] == 0 {
			t.Errorf("CSV has no %q rows (kinds %v)", k, kinds)
		}
	}
	if kinds["pi"] != microConfig.TransformerWidth || kinds["block_grad_norm"] != 4*microConfig.TransformerLayers {
		t.Errorf("CSV kinds %v", kinds)
	}
	for _, name := range []string{"block_grad_norm.png", "eot_attention.png", "eot_attention_heads.png", "grad_position_layer.png", "pi.png", "grad_norms.png"} {
		f, err := os.Open(filepath.Join(out, name))
		if err != nil {
			t.Error(err)
			continue
		}
		cfg, err := png.DecodeConfig(f)
		f.Close()
		if err != nil || cfg.Width < 100 || cfg.Height < 100 {
			t.Errorf("%s: %v %+v", name, err, cfg)
		}
	}

	// A fresh init with explicit classes, two images, labels by index and
	// by name.
	out2 := t.TempDir()
	img2 := filepath.Join(root, "eurosat", "2750", "AnnualCrop", "AnnualCrop_test_0.png")
	stdout = mustRun(t, "inspect", "--weights", weights, "--image", img+","+img2, "--classes", "forest,river,sea_or_lake",
		"--label", "2,river", "--seed", "3", "--out", out2, "--train-steps", "3")
	for _, want := range []string{"fresh initialisation", "2 image(s) among 3 classes", `image 0: ` + img + `, true class "sea_or_lake" (label 2) among 3 classes`,
		`image 1: ` + img2 + `, true class "river" (label 1)`, "per context vector:", "gradient × EOT attention",
		"trained 3 steps: loss", "meta_net.linear2.bias", "grad_history.png"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout)
		}
	}
	// Gradients over training: one loss row per step, a figure.
	b, err := os.ReadFile(filepath.Join(out2, "grad_history.csv"))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(b), ",loss,"); n != 3 {
		t.Errorf("grad_history.csv has %d loss rows, want 3:\n%s", n, b)
	}
	if f, err := os.Open(filepath.Join(out2, "grad_history.png")); err != nil {
		t.Error(err)
	} else {
		if _, err := png.DecodeConfig(f); err != nil {
			t.Errorf("grad_history.png: %v", err)
		}
		f.Close()
	}
	if code, _, _ := runCmd("inspect", "--weights", weights, "--image", img, "--classes", "a,b", "--train-steps", "-1", "--out", t.TempDir()); code != 2 {
		t.Errorf("--train-steps -1: exit %d, want 2", code)
	}
	if code, _, _ := runCmd("inspect", "--weights", weights, "--image", img+","+img2, "--classes", "a,b", "--label", "a,b,a", "--out", t.TempDir()); code != 2 {
		t.Errorf("three labels for two images: exit %d, want 2", code)
	}
}

// readCSV returns the records of the CSV file at path.
func readCSV(t *testing.T, path string) [][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return rows
}
