package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCommandHelp(t *testing.T) {
	for _, c := range []string{"train", "eval", "base2new", "inspect"} {
		code, out, _ := runCmd(c, "--help")
		if code != 0 || !strings.Contains(out, "Example") || !strings.Contains(out, "cocoop "+c+" --weights") || !strings.Contains(out, "-weights") {
			t.Errorf("%s --help: exit %d, out %q", c, code, out)
		}
	}
	if _, out, _ := runCmd("help"); !strings.Contains(out, "base2new") || !strings.Contains(out, "inspect") {
		t.Errorf("help lists no new commands:\n%s", out)
	}
	_, out, _ := runCmd("inspect", "--help")
	if !strings.Contains(out, "cocoop.InspectGradients") {
		t.Errorf("inspect --help does not mention the Go API")
	}
}

func TestCommandErrors(t *testing.T) {
	weights := microWeights(t)
	root := makeEuroSAT(t, 4, 2, 1, 1)
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	img := filepath.Join(root, "eurosat", "2750", "Forest", "Forest_test_0.png")

	// A split file with a bad label.
	badRoot := makeEuroSAT(t, 4, 2, 1, 1)
	splitPath := filepath.Join(badRoot, "eurosat", "split_zhou_EuroSAT.json")
	b, _ := os.ReadFile(splitPath)
	os.WriteFile(splitPath, []byte(strings.Replace(string(b), `Forest_train_0.png",1,`, `Forest_train_0.png",7,`, 1)), 0o644)
	// A corrupt test image.
	corruptRoot := makeEuroSAT(t, 4, 2, 1, 1)
	os.WriteFile(filepath.Join(corruptRoot, "eurosat", "2750", "Highway", "Highway_test_0.png"), []byte("not an image"), 0o644)

	ds := []string{"--dataset", "EuroSAT", "--root", root}
	for _, tc := range []struct {
		args     []string
		code     int
		inStderr []string
	}{
		{[]string{"train", "--weights", filepath.Join(dir, "missing.pt"), "--dataset", "EuroSAT", "--root", root, "--out", out}, 1, []string{"--weights", "missing.pt", "no such file"}},
		{[]string{"base2new", "--weights", filepath.Join(dir, "missing.pt"), "--dataset", "EuroSAT", "--root", root, "--out", out}, 1, []string{"missing.pt"}},
		{[]string{"eval", "--weights", weights, "--dataset", "EuroSAT", "--root", filepath.Join(dir, "nodata"), "--method", "zeroshot"}, 1, []string{"--root", "nodata", "no such file"}},
		{[]string{"train", "--weights", weights, "--dataset", "EuroSAT", "--root", dir, "--out", out}, 1, []string{"eurosat", "does not exist"}},
		{[]string{"train", "--weights", weights, "--dataset", "NoSuchSet", "--root", root, "--out", out}, 2, []string{`unknown dataset "NoSuchSet"`, "EuroSAT", "OxfordPets", "ImageNet"}},
		{[]string{"base2new", "--weights", weights, "--dataset", "EuroSAT,Nope", "--root", root, "--out", out}, 2, []string{`unknown dataset "Nope"`, "Caltech101"}},
		{[]string{"train", "--weights", weights, "--dataset", "EuroSAT", "--root", badRoot, "--out", out}, 1, []string{"split_zhou_EuroSAT.json", "label"}},
		{[]string{"eval", "--weights", weights, "--dataset", "EuroSAT", "--root", corruptRoot, "--method", "zeroshot"}, 1, []string{"Highway_test_0.png", "--skip-unreadable"}},
		{[]string{"inspect", "--weights", weights, "--image", filepath.Join(dir, "nope.png"), "--classes", "a,b", "--out", out}, 1, []string{"--image", "nope.png"}},
		{[]string{"inspect", "--weights", weights, "--image", img, "--classes", "a,b", "--label", "c", "--out", out}, 2, []string{`--label "c"`}},
		{[]string{"base2new", "--weights", weights, "--dataset", "EuroSAT", "--root", root, "--out", out, "--method", "coop", "--csc", "--ctx-init", ""}, 2, []string{"--csc", "issue #69"}},
		{append([]string{"train", "--weights", weights, "--out", out, "--method", "coop", "--csc", "--ctx-init", "random", "--subsample", "base"}, ds...), 2, []string{"--csc cannot be used"}},
		{append([]string{"train", "--weights", weights, "--out", out, "--method", "cocoop", "--csc"}, ds...), 2, []string{"CSC"}},
		{append([]string{"train", "--weights", weights, "--method", "zeroshot", "--out", out}, ds...), 2, []string{"want cocoop or coop"}},
		{append([]string{"train", "--weights", weights}, ds...), 2, []string{"--out is required"}},
		{append([]string{"eval", "--weights", weights}, ds...), 2, []string{"--checkpoint", "--method zeroshot"}},
		{append([]string{"base2new", "--weights", weights, "--out", out, "--method", "zeroshot", "--epochs", "3"}, ds...), 2, []string{"--epochs", "zeroshot"}},
		{append([]string{"base2new", "--weights", weights, "--out", out, "--seeds", "1,x"}, ds...), 2, []string{"--seeds"}},
		{append([]string{"train", "--weights", weights, "--out", out, "--sampler", "mt"}, ds...), 2, []string{"--sampler"}},
	} {
		code, _, stderr := runCmd(tc.args...)
		ok := code == tc.code
		for _, s := range tc.inStderr {
			ok = ok && strings.Contains(stderr, s)
		}
		if !ok {
			t.Errorf("%q: exit %d stderr %q; want exit %d containing %q", tc.args, code, stderr, tc.code, tc.inStderr)
		}
	}
	// With --skip-unreadable the corrupt test image is skipped and counted.
	code, stdout, stderr := runCmd("eval", "--weights", weights, "--dataset", "EuroSAT", "--root", corruptRoot, "--method", "zeroshot", "--skip-unreadable")
	if code != 0 || !strings.Contains(stdout, "skipped 1 unreadable images") || !strings.Contains(stdout, "/3,") && !strings.Contains(stdout, "/3)") {
		t.Errorf("--skip-unreadable: exit %d\n%s\n%s", code, stdout, stderr)
	}
}
