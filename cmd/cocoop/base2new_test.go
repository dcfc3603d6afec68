package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestBase2NewCoCoOp(t *testing.T) {
	weights := microWeights(t)
	root := makeEuroSAT(t, 6, 4, 1, 3)
	out := t.TempDir()
	args := []string{"base2new", "--weights", weights, "--dataset", "eurosat", "--root", root, "--out", out,
		"--seeds", "1,2", "--shots", "4", "--epochs", "3", "--lr", "0.05", "--warmup-epochs", "0", "--quiet", "--threads", "2"}
	stdout := mustRun(t, args...)
	for _, want := range []string{"| Dataset | Base | New | H |", "| EuroSAT |", "EuroSAT", "mean", "base2new.json"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout)
		}
	}
	var rep base2newReport
	readJSON(t, filepath.Join(out, "base2new.json"), &rep)
	if len(rep.Results) != 1 || len(rep.PerSeed) != 2 || rep.Results[0].Dataset != "EuroSAT" || len(rep.Results[0].Seeds) != 2 {
		t.Fatalf("report %+v", rep)
	}
	r := rep.Results[0]
	if mean := (rep.PerSeed[0].Base.Accuracy + rep.PerSeed[1].Base.Accuracy) / 2; mean != r.Base {
		t.Errorf("Base %v is not the seed mean %v", r.Base, mean)
	}
	for _, s := range rep.PerSeed {
		if s.Base.Classes != 3 || s.New.Classes != 3 || s.Base.Total != 9 || s.New.Total != 9 || s.TrainImages != 12 {
			t.Errorf("seed %d: %+v", s.Seed, s)
		}
		if len(s.Epochs) != 3 {
			t.Fatalf("seed %d: %d epochs recorded", s.Seed, len(s.Epochs))
		}
		if first, last := s.Epochs[0].Loss, s.Epochs[2].Loss; !(last < first) {
			t.Errorf("seed %d: training loss did not decrease: %v", s.Seed, s.Epochs)
		}
		dir := filepath.Join(out, "EuroSAT", "seed"+string(rune('0'+s.Seed)))
		for _, f := range []string{checkpointName, "result.json", "log.txt"} {
			if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
				t.Error(err)
			}
		}
	}
	// A second run finds the finished checkpoints and only evaluates,
	// giving the same table.
	again := mustRun(t, args...)
	if tableOf(again) != tableOf(stdout) {
		t.Errorf("rerun table differs:\n%s\nvs\n%s", tableOf(again), tableOf(stdout))
	}
	// Other settings in the same --out are refused.
	code, _, stderr := runCmd(append(args[:len(args):len(args)], "--momentum", "0.5")...)
	if code != 1 || !strings.Contains(stderr, "other settings") {
		t.Errorf("changed settings: exit %d, stderr %q", code, stderr)
	}
}

// tableOf returns the Markdown table lines of stdout.
func tableOf(s string) string {
	var b strings.Builder
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, "|") {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

func TestBase2NewZeroShotTwoDatasets(t *testing.T) {
	weights := microWeights(t)
	root := makeEuroSAT(t, 4, 2, 1, 2)
	// A second dataset in DTD's layout, 3 classes (base 2, new 1).
	dtd := filepath.Join(root, "dtd")
	split := map[string][][]any{}
	for _, s := range []string{"train", "val", "test"} {
		entries := [][]any{}
		for c := range 3 {
			cl := euroClasses[c+2]
			for i := range 2 {
				rel := cl.Folder + "/" + s + string(rune('a'+i)) + ".png"
				writeClassPNG(t, filepath.Join(dtd, "images", filepath.FromSlash(rel)), 34, cl.RGB, i)
				entries = append(entries, []any{rel, c, strings.ToLower(cl.Folder)})
			}
		}
		split[s] = entries
	}
	writeSplit(t, filepath.Join(dtd, "split_zhou_DescribableTextures.json"), split)
	out := t.TempDir()
	stdout := mustRun(t, "base2new", "--weights", weights, "--dataset", "EuroSAT,DescribableTextures", "--root", root,
		"--out", out, "--method", "zeroshot", "--seeds", "1", "--shots", "2", "--quiet")
	for _, want := range []string{"| Average |", "| EuroSAT |", "| DescribableTextures |", "CLIP"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout)
		}
	}
	var rep base2newReport
	readJSON(t, filepath.Join(out, "base2new.json"), &rep)
	if rep.Average == nil || len(rep.Results) != 2 || rep.Method != "zsclip" {
		t.Fatalf("report %+v", rep)
	}
	if rep.PerSeed[0].Base.Classes != 2 || rep.PerSeed[0].New.Classes != 2 || rep.PerSeed[1].Base.Classes != 2 || rep.PerSeed[1].New.Classes != 1 {
		t.Errorf("class counts: %+v", rep.PerSeed)
	}
}
