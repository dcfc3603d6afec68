package main

import (
	"bytes"
	"encoding/binary"
	"flag"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeBombPNG writes a valid PNG header claiming w×h pixels followed by
// a few bytes of data: decoding it would allocate w·h·3 bytes.
func writeBombPNG(t *testing.T, path string, w, h uint32) {
	t.Helper()
	chunk := func(typ string, data []byte) []byte {
		var b bytes.Buffer
		binary.Write(&b, binary.BigEndian, uint32(len(data)))
		b.WriteString(typ)
		b.Write(data)
		binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(append([]byte(typ), data...)))
		return b.Bytes()
	}
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], w)
	binary.BigEndian.PutUint32(ihdr[4:], h)
	ihdr[8], ihdr[9] = 8, 2 // 8-bit RGB
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	b.Write(chunk("IHDR", ihdr))
	b.Write(chunk("IDAT", []byte{0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01}))
	b.Write(chunk("IEND", nil))
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestBadInputs runs the inputs of issue 9 §4 through the command: each
// must exit with the right code and a clear message (every prefix once),
// and leave nothing behind or overwritten.
func TestBadInputs(t *testing.T) {
	weights := microWeights(t)
	root := makeEuroSAT(t, 4, 2, 1, 1)
	noTest := makeEuroSAT(t, 4, 2, 1, 0)
	dir := t.TempDir()
	bomb := filepath.Join(dir, "bomb.png")
	writeBombPNG(t, bomb, 100000, 100000)
	img := filepath.Join(root, "eurosat", "2750", "Forest", "Forest_test_0.png")
	ds := []string{"--dataset", "EuroSAT", "--root", root}
	fast := []string{"--epochs", "1", "--shots", "1", "--quiet", "--eval=false"}

	// A finished run, whose checkpoint must survive a second train into
	// the same --out, and whose prompt checkpoint is misused as --weights.
	done := filepath.Join(dir, "done")
	mustRun(t, append(append([]string{"train", "--weights", weights, "--out", done}, ds...), fast...)...)
	ckPath := filepath.Join(done, checkpointName)
	ckBytes, err := os.ReadFile(ckPath)
	if err != nil {
		t.Fatal(err)
	}

	fresh := func(name string) string { return filepath.Join(dir, "fresh", name) } // must not be created
	for _, tc := range []struct {
		name     string
		args     []string
		code     int
		inStderr []string
		absent   string // a path the command must not create
	}{
		{"encode bomb", []string{"encode", "--weights", weights, "--image", bomb, "--out", fresh("e.safetensors")}, 1,
			[]string{"bomb.png", "100000x100000", "MAX_IMAGE_PIXELS"}, fresh("e.safetensors")},
		{"zeroshot bomb", []string{"zeroshot", "--weights", weights, "--classes", "cat,dog", bomb}, 1,
			[]string{"bomb.png", "100000x100000"}, ""},
		{"inspect bomb", []string{"inspect", "--weights", weights, "--image", bomb, "--classes", "cat,dog", "--out", fresh("inspect")}, 1,
			[]string{"bomb.png", "100000x100000"}, fresh("inspect")},
		{"train into a finished run", append(append([]string{"train", "--weights", weights, "--out", done}, ds...), fast...), 1,
			[]string{"already holds a finished CoCoOp run (epoch 1 of 1)", "--resume " + ckPath, "--overwrite"}, ""},
		{"train on an empty test split", []string{"train", "--weights", weights, "--dataset", "EuroSAT", "--root", noTest, "--out", fresh("notest"), "--epochs", "1"}, 1,
			[]string{"test split", "is empty", "--eval=false"}, fresh("notest")},
		{"lr nan", append([]string{"train", "--weights", weights, "--out", fresh("nan"), "--lr", "nan"}, ds...), 2,
			[]string{"--lr must be a finite number"}, fresh("nan")},
		{"lr inf", append([]string{"train", "--weights", weights, "--out", fresh("inf"), "--lr", "+Inf"}, ds...), 2,
			[]string{"--lr must be a finite number"}, fresh("inf")},
		{"base2new weight decay -1", append([]string{"base2new", "--weights", weights, "--out", fresh("wd"), "--weight-decay", "-1"}, ds...), 2,
			[]string{"--weight-decay must be >= 0"}, fresh("wd")},
		{"duplicate classes", []string{"zeroshot", "--weights", weights, "--classes", "cat,dog,cat", img}, 2,
			[]string{`"cat" twice`}, ""},
		{"duplicate classes after the prompt spelling", []string{"inspect", "--weights", weights, "--image", img, "--classes", "sea_lake,Sea Lake", "--out", fresh("dup")}, 2,
			[]string{"twice"}, fresh("dup")},
		{"weights is a directory (zeroshot)", []string{"zeroshot", "--weights", dir, "--classes", "cat,dog", img}, 1,
			[]string{"--weights", "is a directory"}, ""},
		{"weights is a directory (encode)", []string{"encode", "--weights", dir, "--text", "a", "--out", fresh("w.safetensors")}, 1,
			[]string{"--weights", "is a directory"}, fresh("w.safetensors")},
		{"weights is a directory (train)", append([]string{"train", "--weights", dir, "--out", fresh("wdir")}, ds...), 1,
			[]string{"--weights", "is a directory"}, fresh("wdir")},
		{"prompt checkpoint as weights", append([]string{"train", "--weights", ckPath, "--out", fresh("pw")}, ds...), 1,
			[]string{"is a prompt checkpoint", "--checkpoint", "--resume"}, fresh("pw")},
		{"prompt checkpoint as weights (zeroshot)", []string{"zeroshot", "--weights", ckPath, "--classes", "cat,dog", img}, 1,
			[]string{"is a prompt checkpoint"}, ""},
		{"help of an unknown command", []string{"help", "nosuch"}, 2, []string{`unknown command "nosuch"`}, ""},
	} {
		code, _, stderr := runCmd(tc.args...)
		ok := code == tc.code
		for _, s := range tc.inStderr {
			ok = ok && strings.Contains(stderr, s)
		}
		if !ok {
			t.Errorf("%s: exit %d stderr %q; want exit %d containing %q", tc.name, code, stderr, tc.code, tc.inStderr)
		}
		checkPrefixesOnce(t, tc.name, stderr)
		if tc.absent != "" {
			if _, err := os.Stat(tc.absent); err == nil {
				t.Errorf("%s: left %s behind", tc.name, tc.absent)
			}
		}
	}
	if b, _ := os.ReadFile(ckPath); !bytes.Equal(b, ckBytes) {
		t.Errorf("the refused train changed %s", ckPath)
	}

	// --overwrite replaces the finished run; stale temporary files of a
	// killed run are removed; the real shot count is reported.
	stale := []string{filepath.Join(done, "."+checkpointName+".tmp123456"), filepath.Join(done, ".train.json.tmp987")}
	for _, p := range stale {
		os.WriteFile(p, []byte("partial"), 0o644)
	}
	keep := filepath.Join(done, "notes.tmp")
	os.WriteFile(keep, []byte("mine"), 0o644)
	stdout := mustRun(t, append(append([]string{"train", "--weights", weights, "--out", done, "--overwrite"}, ds...), "--epochs", "1", "--shots", "16", "--quiet", "--eval=false")...)
	if !strings.Contains(stdout, "2 shots (16 requested") {
		t.Errorf("--shots 16 with 2 images per class:\n%s", stdout)
	}
	for _, p := range stale {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("stale %s not removed", p)
		}
	}
	if _, err := os.Stat(keep); err != nil {
		t.Errorf("removed %s, which is not ours", keep)
	}
	if b, _ := os.ReadFile(filepath.Join(done, "log.txt")); !strings.Contains(string(b), "warning: EuroSAT seed 1: --shots 16") {
		t.Errorf("log.txt has no shots warning:\n%s", b)
	}
	var tr trainReport
	readJSON(t, filepath.Join(done, "train.json"), &tr)
	if tr.Shots != 16 || tr.ShotsUsed != [2]int{2, 2} {
		t.Errorf("train.json shots %d, used %v", tr.Shots, tr.ShotsUsed)
	}
}

// checkPrefixesOnce fails when a package prefix repeats in a message line
// ("clip: ... clip: state dict", "data: data: loader").
func checkPrefixesOnce(t *testing.T, name, stderr string) {
	t.Helper()
	for _, line := range strings.Split(stderr, "\n") {
		for _, p := range []string{"clip: ", "data: ", "cocoop: "} {
			if strings.Count(line, p) > 1 {
				t.Errorf("%s: prefix %q repeats in %q", name, p, line)
			}
		}
	}
}

// TestBadImagesInTraining: a decompression bomb inside the train split is
// skipped and counted with --skip-unreadable; without it the run fails
// with the 1-based epoch and step of the progress display, the error is
// in log.txt, and every prefix appears once.
func TestBadImagesInTraining(t *testing.T) {
	weights := microWeights(t)
	root := makeEuroSAT(t, 4, 2, 1, 1)
	writeBombPNG(t, filepath.Join(root, "eurosat", "2750", "Forest", "Forest_train_1.png"), 100000, 100000)
	args := []string{"train", "--weights", weights, "--dataset", "EuroSAT", "--root", root, "--shots", "0", "--epochs", "1", "--batch", "8", "--quiet", "--eval=false"}
	out := t.TempDir()
	code, _, stderr := runCmd(append(args, "--out", out)...)
	if code != 1 || !strings.Contains(stderr, "epoch 1/1, step 1/1: clip: image") || !strings.Contains(stderr, "100000x100000") || strings.Contains(stderr, "epoch 0") {
		t.Errorf("bomb in training: exit %d, stderr %q", code, stderr)
	}
	checkPrefixesOnce(t, "bomb in training", stderr)
	if b, _ := os.ReadFile(filepath.Join(out, "log.txt")); !strings.Contains(string(b), "error: cocoop: epoch 1/1, step 1/1") {
		t.Errorf("log.txt lacks the error:\n%s", b)
	}
	stdout := mustRun(t, append(args, "--out", t.TempDir(), "--skip-unreadable")...)
	if !strings.Contains(stdout, "skipped 1 unreadable images") || !strings.Contains(stdout, "100000x100000") {
		t.Errorf("--skip-unreadable:\n%s", stdout)
	}
}

// TestHelpOnce: --help prints the help once, on stdout, with the flags;
// "cocoop help CMD" is the same text.
func TestHelpOnce(t *testing.T) {
	code, out, errOut := runCmd("train", "--help")
	if code != 0 || errOut != "" || strings.Count(out, "Usage: cocoop train") != 1 || !strings.Contains(out, "-overwrite") {
		t.Errorf("train --help: exit %d, stderr %q, stdout %q", code, errOut, out)
	}
	code, out2, errOut := runCmd("help", "train")
	if code != 0 || errOut != "" || out2 != out {
		t.Errorf("help train: exit %d, stderr %q, differs from train --help:\n%s", code, errOut, out2)
	}
	code, _, errOut = runCmd("train", "--bogus")
	if code != 2 || strings.Count(errOut, "-bogus") != 1 {
		t.Errorf("train --bogus: exit %d, stderr %q (want the error once)", code, errOut)
	}
	code, out, _ = runCmd("version")
	if code != 0 || !strings.Contains(out, "cocoop ") || !strings.Contains(out, "revision") || !strings.Contains(out, "go1") {
		t.Errorf("version: exit %d, %q", code, out)
	}
}

// TestInterruptExitCode: a run stopped by Ctrl-C exits 130 with what to
// do next.
func TestInterruptExitCode(t *testing.T) {
	register("test-interrupt", &command{summary: "test", run: func(fs *flag.FlagSet, args []string, stdout io.Writer) error {
		return interrupted("run it again")
	}})
	defer delete(commands, "test-interrupt")
	code, _, stderr := runCmd("test-interrupt")
	if code != 130 || !strings.Contains(stderr, "interrupted; run it again") {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
}
