package main

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gocoop/gocoop/clip/ckpt"
	"github.com/gocoop/gocoop/cocoop"
	"github.com/gocoop/gocoop/tensor"
	"github.com/gocoop/gocoop/tensor/devicetest"
)

// deviceCommands are the commands with --device, each with arguments that
// would make it read files (which must not happen when the device fails).
var deviceCommands = [][]string{
	{"train", "--weights", "/nonexistent/w.pt", "--dataset", "EuroSAT", "--root", "/nonexistent", "--out", "/nonexistent/out"},
	{"eval", "--weights", "/nonexistent/w.pt", "--dataset", "EuroSAT", "--root", "/nonexistent", "--method", "zeroshot"},
	{"base2new", "--weights", "/nonexistent/w.pt", "--dataset", "EuroSAT", "--root", "/nonexistent", "--out", "/nonexistent/out"},
	{"inspect", "--weights", "/nonexistent/w.pt", "--image", "/nonexistent/a.png", "--classes", "a,b", "--out", "/nonexistent/out"},
	{"encode", "--weights", "/nonexistent/w.pt", "--text", "a dog", "--out", "/nonexistent/e.safetensors"},
	{"zeroshot", "--weights", "/nonexistent/w.pt", "--classes", "a,b", "/nonexistent/a.png"},
	{"pretrain", "--out", "/nonexistent/out"},
}

// checkDeviceFailsFirst runs every device command with --device cuda and
// wants exit code 1 and an error holding each of wants, about the device
// only (no file was looked at).
func checkDeviceFailsFirst(t *testing.T, wants ...string) {
	t.Helper()
	for _, args := range deviceCommands {
		code, _, stderr := runCmd(append([]string{args[0], "--device", "cuda"}, args[1:]...)...)
		if code != 1 || !strings.HasPrefix(stderr, "cocoop "+args[0]+": --device cuda: ") || strings.Contains(stderr, "nonexistent") {
			t.Errorf("%s --device cuda: exit %d, %q", args[0], code, stderr)
		}
		for _, w := range wants {
			if !strings.Contains(stderr, w) {
				t.Errorf("%s --device cuda: %q lacks %q", args[0], stderr, w)
			}
		}
	}
	if code, _, stderr := runCmd("encode", "--device", "tpu"); code != 2 || !strings.Contains(stderr, `--device "tpu": want cpu or cuda`) {
		t.Errorf("--device tpu: exit %d, %q", code, stderr)
	}
}

// fakeCUDA puts a fresh fake device (tensor/devicetest: the CPU code
// behind the device dispatch) behind --device cuda for the rest of the test.
func fakeCUDA(t *testing.T) *devicetest.Backend {
	be := devicetest.New()
	saved := openCUDA
	openCUDA = func() (tensor.Device, error) { return be.Device(), nil }
	t.Cleanup(func() { openCUDA = saved })
	return be
}

// relClose reports whether a and b agree within rel of the larger.
func relClose(a, b, rel float64) bool {
	return math.Abs(a-b) <= rel*max(math.Abs(a), math.Abs(b), 1e-30)
}

// TestCommandsOnFakeDevice runs train, eval, encode, zeroshot and inspect
// with --device cuda on the fake device and with --device cpu, and compares
// what they write: the same losses and accuracies (to float32 rounding),
// checkpoints with the same
// keys, shapes and metadata, embeddings, zero-shot rankings and inspection
// tables; base2new runs on the device too (pretrain: TestPretrainOnFakeDevice).
func TestCommandsOnFakeDevice(t *testing.T) {
	be := fakeCUDA(t)
	weights := microWeights(t)
	root := makeEuroSAT(t, 4, 3, 1, 2)
	runs := map[string]string{}
	for _, dev := range []string{"cpu", "cuda"} {
		out := filepath.Join(t.TempDir(), dev)
		mustRun(t, "train", "--weights", weights, "--dataset", "EuroSAT", "--root", root, "--out", out,
			"--shots", "2", "--epochs", "2", "--quiet", "--device", dev)
		runs[dev] = out
	}
	if be.Calls()["sgd"] == 0 || be.Calls()["masked_softmax"] == 0 {
		t.Fatalf("train --device cuda did not run on the fake device: %v", be.Calls())
	}
	var cpu, gpu trainReport
	readJSON(t, filepath.Join(runs["cpu"], "train.json"), &cpu)
	readJSON(t, filepath.Join(runs["cuda"], "train.json"), &gpu)
	for i := range cpu.Epochs {
		if !relClose(cpu.Epochs[i].Loss, gpu.Epochs[i].Loss, 1e-5) {
			t.Errorf("train epoch %d: loss %v on the device, %v on the CPU", i+1, gpu.Epochs[i].Loss, cpu.Epochs[i].Loss)
		}
	}
	if cpu.Test == nil || gpu.Test == nil || cpu.Test.Correct != gpu.Test.Correct {
		t.Errorf("train test accuracy: device %+v, CPU %+v", gpu.Test, cpu.Test)
	}
	ckCPU, err := cocoop.LoadCheckpoint(filepath.Join(runs["cpu"], checkpointName))
	if err != nil {
		t.Fatal(err)
	}
	ckGPU, err := cocoop.LoadCheckpoint(filepath.Join(runs["cuda"], checkpointName))
	if err != nil {
		t.Fatal(err)
	}
	if ckCPU.Meta.Epoch != ckGPU.Meta.Epoch || ckCPU.Meta.OptimSteps != ckGPU.Meta.OptimSteps || len(ckCPU.Params) != len(ckGPU.Params) || len(ckCPU.Momentum) != len(ckGPU.Momentum) {
		t.Fatalf("checkpoints differ in layout: %+v vs %+v", ckGPU.Meta, ckCPU.Meta)
	}
	for k, p := range ckCPU.Params {
		if e := tensor.RelErr(ckGPU.Params[k], p); !(e <= 1e-5) {
			t.Errorf("checkpoint %s: relative difference %g", k, e)
		}
	}

	// eval of the device's checkpoint on both devices: the same predictions.
	evals := map[string]evalReport{}
	for _, dev := range []string{"cpu", "cuda"} {
		out := t.TempDir()
		mustRun(t, "eval", "--weights", weights, "--dataset", "EuroSAT", "--root", root, "--checkpoint",
			filepath.Join(runs["cuda"], checkpointName), "--out", out, "--quiet", "--device", dev)
		var er evalReport
		readJSON(t, filepath.Join(out, "eval.json"), &er)
		evals[dev] = er
	}
	if evals["cpu"].Correct != evals["cuda"].Correct || evals["cpu"].Total != evals["cuda"].Total {
		t.Errorf("eval: %d/%d on the device, %d/%d on the CPU", evals["cuda"].Correct, evals["cuda"].Total, evals["cpu"].Correct, evals["cpu"].Total)
	}

	// encode: the same embeddings.
	img := filepath.Join(root, "eurosat", "2750", "Forest", "Forest_test_0.png")
	emb := map[string]*ckpt.StateDict{}
	for _, dev := range []string{"cpu", "cuda"} {
		out := filepath.Join(t.TempDir(), "e.safetensors")
		mustRun(t, "encode", "--weights", weights, "--image", img, "--text", "a photo of a forest.", "--out", out, "--device", dev)
		sd, _, err := ckpt.Load(out)
		if err != nil {
			t.Fatal(err)
		}
		emb[dev] = sd
	}
	for _, k := range []string{"image_embeds", "text_embeds"} {
		a, b := emb["cuda"].Get(k), emb["cpu"].Get(k)
		if e := tensor.RelErr(tensor.FromSlice(a.Data, a.Shape...), tensor.FromSlice(b.Data, b.Shape...)); !(e <= 1e-5) {
			t.Errorf("encode %s: relative difference %g", k, e)
		}
	}

	// zeroshot: the same ranking and percentages.
	zs := map[string]string{}
	for _, dev := range []string{"cpu", "cuda"} {
		zs[dev] = mustRun(t, "zeroshot", "--weights", weights, "--classes", "Forest,River,Sea or Lake", "--device", dev, img)
	}
	if zs["cpu"] != zs["cuda"] {
		t.Errorf("zeroshot differs:\ndevice:\n%s\nCPU:\n%s", zs["cuda"], zs["cpu"])
	}

	// inspect, with two training steps: the same table of gradients.
	tables := map[string][][]string{}
	for _, dev := range []string{"cpu", "cuda"} {
		out := t.TempDir()
		mustRun(t, "inspect", "--weights", weights, "--image", img, "--dataset", "EuroSAT", "--root", root,
			"--label", "Forest", "--out", out, "--train-steps", "2", "--device", dev)
		tables[dev] = readCSV(t, filepath.Join(out, "inspect.csv"))
	}
	compareTables(t, "inspect.csv", tables["cuda"], tables["cpu"], 1e-4)

	// base2new runs there too (its steps are train's and eval's).
	before := be.Calls()["sgd"]
	mustRun(t, "base2new", "--weights", weights, "--dataset", "EuroSAT", "--root", root, "--out", t.TempDir(),
		"--shots", "2", "--epochs", "1", "--seeds", "1", "--quiet", "--device", "cuda")
	if be.Calls()["sgd"] == before {
		t.Error("base2new --device cuda did not train on the device")
	}
}

// compareTables wants the same rows, the last column equal within rel
// (of the largest value of its kind: gradients of ~0 differ in relative
// terms only).
func compareTables(t *testing.T, name string, got, want [][]string, rel float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d rows on the device, %d on the CPU", name, len(got), len(want))
	}
	scale := map[string]float64{}
	val := func(s string) float64 {
		var v float64
		if _, err := fmt.Sscan(s, &v); err != nil {
			return math.NaN()
		}
		return v
	}
	for _, r := range want[1:] {
		scale[r[0]] = max(scale[r[0]], math.Abs(val(r[len(r)-1])))
	}
	bad := 0
	for i := range want {
		g, w := got[i], want[i]
		if strings.Join(g[:len(g)-1], ",") != strings.Join(w[:len(w)-1], ",") {
			t.Fatalf("%s row %d: %v on the device, %v on the CPU", name, i, g, w)
		}
		if i == 0 {
			continue
		}
		gv, wv := val(g[len(g)-1]), val(w[len(w)-1])
		if math.Abs(gv-wv) > rel*max(scale[w[0]], 1e-30) && bad < 5 {
			bad++
			t.Errorf("%s row %d %v: %v on the device, %v on the CPU", name, i, w[:len(w)-1], gv, wv)
		}
	}
}

// TestPretrainOnFakeDevice pretrains the shrunk demo model a few steps on
// the fake device and on the CPU: the same losses and temperature to
// float32 rounding, and model files with the same tensors (written from
// host copies).
func TestPretrainOnFakeDevice(t *testing.T) {
	shrinkDemo(t)
	be := fakeCUDA(t)
	s, err := defaultPretrainSettings("embedded")
	if err != nil {
		t.Fatal(err)
	}
	s.Pairs, s.Epochs, s.Batch, s.Warmup = 64, 2, 16, 2
	rep := newReporter(&strings.Builder{}, true)
	reports := map[string]*pretrainReport{}
	dirs := map[string]string{}
	for _, dev := range []tensor.Device{tensor.CPU, be.Device()} {
		dir := t.TempDir()
		r, err := pretrain(context.Background(), pretrainJob{dir: dir, settings: s, rep: rep, device: dev})
		if err != nil {
			t.Fatalf("pretrain on %v: %v", dev, err)
		}
		reports[dev.String()], dirs[dev.String()] = r, dir
	}
	if be.Calls()["adamw"] == 0 {
		t.Fatalf("pretraining did not run on the fake device: %v", be.Calls())
	}
	cpu, gpu := reports["cpu"], reports[be.Device().String()]
	for i := range cpu.Epochs {
		if !relClose(cpu.Epochs[i].Loss, gpu.Epochs[i].Loss, 1e-4) || !relClose(cpu.Epochs[i].Scale, gpu.Epochs[i].Scale, 1e-5) {
			t.Errorf("epoch %d: loss %v scale %v on the device, %v and %v on the CPU", i+1,
				gpu.Epochs[i].Loss, gpu.Epochs[i].Scale, cpu.Epochs[i].Loss, cpu.Epochs[i].Scale)
		}
	}
	a, _, err := ckpt.Load(filepath.Join(dirs["cpu"], pretrainModelFile))
	if err != nil {
		t.Fatal(err)
	}
	b, _, err := ckpt.Load(filepath.Join(dirs[be.Device().String()], pretrainModelFile))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(a.Keys(), ",") != strings.Join(b.Keys(), ",") {
		t.Fatalf("model files hold other tensors: %v vs %v", b.Keys(), a.Keys())
	}
	for _, k := range a.Keys() {
		x, y := a.Get(k), b.Get(k)
		if e := tensor.RelErr(tensor.FromSlice(y.Data, y.Shape...), tensor.FromSlice(x.Data, x.Shape...)); !(e <= 1e-3) {
			t.Errorf("pretrained %s: relative difference %g", k, e)
		}
	}
}
