package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/gocoop/gocoop/asm"
	"github.com/gocoop/gocoop/clip"
	"github.com/gocoop/gocoop/cocoop/data"
)

// shrinkDemo makes the embedded world's pretraining model and downstream
// set small enough for tests, for the rest of the test.
func shrinkDemo(t *testing.T) {
	model, world := worldModel, demoWorld
	worldModel = clip.Config{EmbedDim: 32, ImageResolution: 32, VisionLayers: 1, VisionWidth: 32, VisionHeads: 2, VisionPatchSize: 16,
		ContextLength: 77, VocabSize: 49408, TransformerWidth: 32, TransformerHeads: 2, TransformerLayers: 1}
	demoWorld = data.WorldConfig{Train: 3, Val: 1, Test: 3}
	t.Cleanup(func() { worldModel, demoWorld = model, world })
}

// demoArgs is a demo run small enough for tests.
func demoArgs(out, cache string) []string {
	return []string{"demo", "--out", out, "--cache", cache, "--pairs", "256", "--pretrain-epochs", "1", "--shots", "2",
		"--seeds", "1", "--epochs", "1", "--quiet"}
}

func readResults(t *testing.T, dir string) demoResults {
	t.Helper()
	var r demoResults
	b, err := os.ReadFile(filepath.Join(dir, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	// The documented schema: these keys exist.
	var raw map[string]any
	json.Unmarshal(b, &raw)
	for _, k := range []string{"world", "chance", "seeds", "methods", "pretrain"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("results.json lacks %q", k)
		}
	}
	for _, k := range []string{"zeroshot", "coop", "cocoop"} {
		if _, ok := raw["methods"].(map[string]any)[k]; !ok {
			t.Errorf("results.json's methods lack %q", k)
		}
	}
	for _, k := range []string{"zeroshot_accuracy", "seconds"} {
		if _, ok := raw["pretrain"].(map[string]any)[k]; !ok {
			t.Errorf("results.json's pretrain lacks %q", k)
		}
	}
	return r
}

// The demo pretrains once into the cache, runs the three methods, prints
// the table beside the paper, writes results.json and the plots; a second
// run uses the cached model, a corrupt cache is made again with the same
// results, and finished results are not overwritten silently.
func TestDemo(t *testing.T) {
	shrinkDemo(t)
	cache, out1, out2, out3 := t.TempDir(), t.TempDir(), t.TempDir(), t.TempDir()
	stdout := mustRun(t, demoArgs(out1, cache)...)
	for _, want := range []string{"pretraining a small CLIP", "| CLIP | ", "| CoOp | ", "| CoCoOp | ", "| 69.34 | 74.22 | 71.70 |",
		"| 82.69 | 63.22 | 71.66 |", "| 80.47 | 71.69 | 75.83 |", "wrote " + filepath.Join(out1, "results.json")} {
		if !strings.Contains(stdout, want) {
			t.Errorf("demo output lacks %q:\n%s", want, stdout)
		}
	}
	r1 := readResults(t, out1)
	if r1.World != "embedded" || r1.Chance != 12.5 || !reflect.DeepEqual(r1.Seeds, []uint64{1}) || r1.Pretrain.Cached || r1.Pretrain.Seconds <= 0 {
		t.Errorf("results: %+v", r1)
	}
	for _, dm := range demoMethods {
		m := dm.key
		s, ok := r1.Methods[m]
		if !ok {
			t.Fatalf("results lack %s", m)
		}
		h := 0.0
		if s.Base+s.New > 0 {
			h = 2 * s.Base * s.New / (s.Base + s.New)
		}
		if s.Base < 0 || s.Base > 100 || s.New < 0 || s.New > 100 || math.Abs(s.H-h) > 1e-9 {
			t.Errorf("%s: %+v (H of the means %g)", m, s, h)
		}
		// The row is the seed mean that base2new reported.
		var b base2newReport
		if err := readJSONFile(filepath.Join(out1, "runs", m, "base2new.json"), &b); err != nil {
			t.Fatal(err)
		}
		if got := b.Results[0]; got.Base != s.Base || got.New != s.New {
			t.Errorf("%s: results.json %+v, base2new.json %+v", m, s, got)
		}
	}
	if len(r1.Plots) != 2 {
		t.Errorf("plots: %v", r1.Plots)
	}
	for _, p := range r1.Plots {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := png.Decode(bytes.NewReader(b)); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}

	// Cached: no pretraining, same numbers.
	stdout = mustRun(t, demoArgs(out2, cache)...)
	if !strings.Contains(stdout, "using the pretrained CLIP cached in") || strings.Contains(stdout, "pretraining a small CLIP") {
		t.Errorf("second run did not use the cache:\n%s", stdout)
	}
	r2 := readResults(t, out2)
	if !r2.Pretrain.Cached || !reflect.DeepEqual(r2.Methods, r1.Methods) || r2.Pretrain.ZeroShot != r1.Pretrain.ZeroShot {
		t.Errorf("cached run: %+v, first run %+v", r2, r1)
	}

	// A corrupt cached model is made again, to the same bits.
	model := r1.Pretrain.Model
	b, err := os.ReadFile(model)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)-5] ^= 0x40
	if err := os.WriteFile(model, b, 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runCmd(demoArgs(out3, cache)...)
	if code != 0 || !strings.Contains(stderr, "cannot be used") || !strings.Contains(stderr, "SHA-256") || !strings.Contains(stdout, "pretraining a small CLIP") {
		t.Fatalf("corrupt cache: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if r3 := readResults(t, out3); !reflect.DeepEqual(r3.Methods, r1.Methods) {
		t.Errorf("remade model gives %+v, first run %+v", r3.Methods, r1.Methods)
	}

	// Finished results stay unless --overwrite.
	code, _, stderr = runCmd(demoArgs(out1, cache)...)
	if code != 1 || !strings.Contains(stderr, "already holds a demo's results; --overwrite replaces them") {
		t.Errorf("rerun into a finished --out: exit %d, %q", code, stderr)
	}
	code, _, stderr = runCmd("demo", "--world", "fashion-mnist", "--fashion-mnist", t.TempDir(), "--cache", cache, "--out", t.TempDir(), "--quiet")
	if code != 1 || !strings.Contains(stderr, "apt-get install dataset-fashion-mnist") {
		t.Errorf("fashion-mnist without its files: exit %d, %q", code, stderr)
	}
	if code, _, stderr := runCmd("demo", "--world", "mars"); code != 2 || !strings.Contains(stderr, "--world must be embedded or fashion-mnist") {
		t.Errorf("--world mars: exit %d, %q", code, stderr)
	}
}

// pretrain: a run stopped after a step and resumed ends with the same
// model bits and report as a straight run; a finished run is refused
// without --overwrite; --resume needs the same settings.
func TestPretrainResumeCommand(t *testing.T) {
	shrinkDemo(t)
	s, err := defaultPretrainSettings("embedded")
	if err != nil {
		t.Fatal(err)
	}
	s.Pairs, s.Epochs, s.Batch, s.Warmup = 64, 2, 16, 2
	straight, split := t.TempDir(), t.TempDir()
	rep := newReporter(&bytes.Buffer{}, true)
	if _, err := pretrain(context.Background(), pretrainJob{dir: straight, settings: s, rep: rep}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	_, err = pretrain(ctx, pretrainJob{dir: split, settings: s, rep: rep, onStep: func(step int) {
		if step == 6 { // mid second epoch
			cancel()
		}
	}})
	if err == nil || !strings.Contains(err.Error(), "saved at step 6 of 8") || !strings.Contains(err.Error(), "--resume") {
		t.Fatalf("stopped run: %v", err)
	}
	if _, err := pretrain(context.Background(), pretrainJob{dir: split, settings: s, rep: rep}); err == nil || !strings.Contains(err.Error(), "--resume continues it") {
		t.Errorf("unfinished run without --resume: %v", err)
	}
	other := s
	other.LR *= 2
	if _, err := pretrain(context.Background(), pretrainJob{dir: split, settings: other, rep: rep, resume: true}); err == nil || !strings.Contains(err.Error(), "other settings") {
		t.Errorf("--resume with another lr: %v", err)
	}
	r, err := pretrain(context.Background(), pretrainJob{dir: split, settings: s, rep: rep, resume: true})
	if err != nil {
		t.Fatal(err)
	}
	a, _ := os.ReadFile(filepath.Join(straight, pretrainModelFile))
	b, _ := os.ReadFile(filepath.Join(split, pretrainModelFile))
	if !bytes.Equal(a, b) {
		t.Error("resumed model differs from the straight run's")
	}
	want, _ := readPretrainReport(straight)
	// The epoch cut by the stop reports the mean loss of its steps after
	// the resume only; everything else is the straight run's.
	if r.SHA256 != want.SHA256 || len(r.Epochs) != 2 || r.Epochs[0].Loss != want.Epochs[0].Loss || r.Epochs[0].ZeroShot != want.Epochs[0].ZeroShot ||
		r.Epochs[1].ZeroShot != want.Epochs[1].ZeroShot || r.Epochs[1].Scale != want.Epochs[1].Scale {
		t.Errorf("resumed report %+v, straight %+v", r, want)
	}
	if _, err := verifyPretrained(split, s); err != nil {
		t.Error(err)
	}
	if _, err := pretrain(context.Background(), pretrainJob{dir: split, settings: s, rep: rep}); err == nil || !strings.Contains(err.Error(), "finished pretraining run (step 8 of 8); --overwrite replaces it") {
		t.Errorf("finished run: %v", err)
	}
	// The command: its summary line and its loadable model.
	dir := t.TempDir()
	stdout := mustRun(t, "pretrain", "--out", dir, "--pairs", "32", "--batch", "16", "--epochs", "1", "--quiet")
	if !strings.Contains(stdout, "zero-shot accuracy") || !strings.Contains(stdout, filepath.Join(dir, pretrainModelFile)) {
		t.Errorf("pretrain output:\n%s", stdout)
	}
	m, err := clip.Load(filepath.Join(dir, pretrainModelFile))
	if err != nil {
		t.Fatal(err)
	}
	if m.Config != worldModel {
		t.Errorf("loaded config %+v, want %+v", m.Config, worldModel)
	}
	if code, _, stderr := runCmd("pretrain", "--out", dir, "--pairs", "32", "--batch", "16", "--epochs", "1"); code != 1 || !strings.Contains(stderr, "--overwrite") {
		t.Errorf("pretrain into a finished run: exit %d, %q", code, stderr)
	}
}

// TestDemoTables runs the README's main job, `cocoop demo` with its
// defaults, and checks the embedded world's table printed in the README
// and in docs/cocoop.md §9.4 against it, to the last printed digit, with
// what their prose says of it. The numbers are deterministic for a kernel
// tier (any core count), but the tiers round differently (on avx2 the
// New column moves by about 0.1), so the tables are checked on the tier
// they were measured with. After a change to training numerics, rerun
// `go run ./cmd/cocoop demo` and copy its table into both files.
func TestDemoTables(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the full demo, pretraining included, takes about a minute")
	}
	const measuredOn = asm.AVX512 // the README: "Measured here (2 cores, AVX-512)"
	if tier := asm.CurrentTier(); tier != measuredOn {
		t.Skipf("the tables were measured on the %v tier and this run uses %v, whose rounding gives other numbers", measuredOn, tier)
	}
	out := t.TempDir()
	mustRun(t, "demo", "--cache", t.TempDir(), "--out", out, "--quiet")
	r := readResults(t, out)
	rows := map[string]string{"zeroshot": "CLIP (zero-shot)", "coop": "CoOp", "cocoop": "CoCoOp"}
	for _, file := range []string{filepath.Join("..", "..", "README.md"), filepath.Join("..", "..", "docs", "cocoop.md")} {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		table := embeddedTable(t, file, string(b))
		for key, name := range rows {
			s := r.Methods[key]
			want := []string{fmt.Sprintf("%.2f", s.Base), fmt.Sprintf("%.2f", s.New), fmt.Sprintf("%.2f", s.H)}
			if got := table[name]; !reflect.DeepEqual(got, want) {
				t.Errorf("%s: the embedded world's %s row says Base/New/H %v, the demo gives %v", file, name, got, want)
			}
		}
	}
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "cocoop.md"))
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("Pretraining reached %.1f%% zero-shot accuracy over the 16 classes", r.Pretrain.ZeroShot); !strings.Contains(string(doc), want) {
		t.Errorf("docs/cocoop.md §9.4 lacks %q", want)
	}
	// The prose beside the tables: CoOp gains most on the base classes,
	// CoCoOp is best on the new ones, CoOp's context does not hurt the new
	// classes, and CoCoOp's H stays below CoOp's.
	m := r.Methods
	if !(m["coop"].Base > m["cocoop"].Base && m["coop"].Base > m["zeroshot"].Base) {
		t.Errorf("CoOp is not best on the base classes: %+v", m)
	}
	if !(m["cocoop"].New > m["coop"].New && m["cocoop"].New > m["zeroshot"].New) {
		t.Errorf("CoCoOp is not best on the new classes: %+v", m)
	}
	if !(m["coop"].New >= m["zeroshot"].New) {
		t.Errorf("CoOp's context hurts the new classes: %+v", m)
	}
	if !(m["cocoop"].H < m["coop"].H) {
		t.Errorf("CoCoOp's H is not below CoOp's: %+v", m)
	}
}

// embeddedTable returns the Base, New and H cells of each row of the
// markdown table headed "| embedded world |" in text, by method name.
func embeddedTable(t *testing.T, file, text string) map[string][]string {
	t.Helper()
	_, after, ok := strings.Cut(text, "\n| embedded world |")
	if !ok {
		t.Fatalf("%s has no table headed \"| embedded world |\"", file)
	}
	table := map[string][]string{}
	for _, line := range strings.Split(after, "\n")[1:] { // the header's rest, then the rows
		if !strings.HasPrefix(line, "|") {
			break
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		if len(cells) >= 4 && !strings.HasPrefix(cells[0], "---") {
			table[cells[0]] = cells[1:4]
		}
	}
	return table
}
