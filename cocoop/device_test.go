package cocoop_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/gocoop/gocoop/autograd"
	"github.com/gocoop/gocoop/clip"
	"github.com/gocoop/gocoop/clip/cliptest"
	"github.com/gocoop/gocoop/cocoop"
	"github.com/gocoop/gocoop/cocoop/cocooptest"
	"github.com/gocoop/gocoop/nn"
	"github.com/gocoop/gocoop/tensor"
	"github.com/gocoop/gocoop/tensor/devicetest"
)

// tiny is make_parity.py's TINY CLIP.
var tiny = cliptest.Tiny

var deviceNames = []string{"Abyssinian", "Boeing 737-200", "Yorkshire_Terrier", "baby_back_ribs", "X", "great pyrenees"}

// TestStepOnFakeDevice trains one CoCoOp and one CoOp step (cocoop.Trainer:
// SGD with momentum and weight decay) on the tiny CLIP on the fake device
// of tensor/devicetest, and evaluates, against the same on the CPU (both
// take the text tower's shortcut): the two agree to float32 rounding. The
// GPU runs the same check (bench/cuda's TestCoCoOpStep).
func TestStepOnFakeDevice(t *testing.T) {
	dev := devicetest.New().Device()
	for _, batch := range []int{1, 3} {
		cocooptest.LearnerStep(t, dev, tiny, cocoop.MethodCoCoOp, deviceNames, batch, 1e-5)
	}
	cocooptest.LearnerStep(t, dev, tiny, cocoop.MethodCoOp, deviceNames, 2, 1e-5)
}

// TestDeviceCheckpointSameFormat saves a checkpoint from a learner on the
// fake device and one from the same learner moved back to the CPU: the
// files are byte for byte equal, and the device one loads into a learner
// on the device with the same values.
func TestDeviceCheckpointSameFormat(t *testing.T) {
	be := devicetest.New()
	m, err := clip.NewHashCLIP(tiny)
	if err != nil {
		t.Fatal(err)
	}
	cfg := cocoop.DefaultCoCoOpConfig()
	c, err := cocoop.NewCoCoOp(m, cfg, deviceNames)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.To(be.Device()); err != nil {
		t.Fatal(err)
	}
	tr, err := cocoop.NewTrainer(c, cfg)
	if err != nil {
		t.Fatal(err)
	}
	images := cliptest.Images(tiny, 2)
	if _, err := c.ForwardBackward(images, []int{0, 4}); err != nil {
		t.Fatal(err)
	}
	tr.Opt.Step() // momentum buffers on the device too
	dir := t.TempDir()
	onDev := filepath.Join(dir, "device.safetensors")
	if err := cocoop.SaveCheckpoint(onDev, c, tr.Opt, 1); err != nil {
		t.Fatal(err)
	}
	for _, p := range c.NamedParameters("") {
		if p.Var.Value.Device() != be.Device() {
			t.Fatalf("%s on %v after the step", p.Name, p.Var.Value.Device())
		}
	}
	if _, err := c.To(tensor.CPU); err != nil {
		t.Fatal(err)
	}
	st := tr.Opt.State()
	for k, b := range st.Momentum {
		h, _ := b.To(tensor.CPU)
		st.Momentum[k] = h
	}
	if err := tr.Opt.LoadState(st); err != nil { // follows the parameters back to the host
		t.Fatal(err)
	}
	onHost := filepath.Join(dir, "host.safetensors")
	if err := cocoop.SaveCheckpoint(onHost, c, tr.Opt, 1); err != nil {
		t.Fatal(err)
	}
	a, _ := os.ReadFile(onDev)
	b, _ := os.ReadFile(onHost)
	if len(a) == 0 || string(a) != string(b) {
		t.Fatalf("checkpoints differ: %d bytes from the device, %d from the host", len(a), len(b))
	}
	ck, err := cocoop.LoadCheckpoint(onDev)
	if err != nil {
		t.Fatal(err)
	}
	m2, err := clip.NewHashCLIP(tiny)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m2.To(be.Device()); err != nil {
		t.Fatal(err)
	}
	l, err := ck.NewLearner(m2, deviceNames)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range nn.Trainable(l, "") {
		if p.Var.Value.Device() != be.Device() {
			t.Errorf("%s loaded on %v", p.Name, p.Var.Value.Device())
		}
		got, _ := p.Var.Value.To(tensor.CPU)
		if d := tensor.MaxAbsDiff(got, ck.Params[p.Name]); d != 0 {
			t.Errorf("%s: loaded on the device, differs by %g", p.Name, d)
		}
	}
}

// TestForwardTraceOnFakeDevice: ForwardTrace with the attention recorded,
// by either text route, on the fake device against the CPU: the logits,
// the last block's attention maps, block 1's output per prompt, and after
// a backward block 0's gradient per prompt and the prefix's.
func TestForwardTraceOnFakeDevice(t *testing.T) {
	dev := devicetest.New().Device()
	images := cliptest.Images(tiny, 2)
	labels := []int{1, 4}
	type result struct{ logits, attn, block1, block0Grad, prefixGrad *tensor.Tensor }
	run := func(d tensor.Device, full bool) (r result) {
		m := cliptest.HashCLIP(t, tiny, d)
		m.Text.FullPrompts = full
		c, err := cocoop.NewCoCoOp(m, cocoop.DefaultCoCoOpConfig(), deviceNames)
		if err != nil {
			t.Fatal(err)
		}
		host := func(x *tensor.Tensor) *tensor.Tensor { t.Helper(); return devicetest.To(t, x, tensor.CPU) }
		if err := tensor.Try(func() {
			tr := c.ForwardTrace(c.ImageFeatures(images), true)
			tr.Prefix.RetainGrad()
			tr.Text.Blocks[0].RetainGrad()
			autograd.CrossEntropy(tr.Logits, labels).Backward()
			devicetest.OnDevice(t, "trace attention", tr.Text.Attn[1], d)
			r = result{host(tr.Logits.Value), host(tr.Text.Attn[1]), host(tr.Text.PerPrompt(tr.Text.Blocks[1].Value)),
				host(tr.Text.PerPrompt(tr.Text.Blocks[0].Grad)), host(tr.Prefix.Grad)}
		}); err != nil {
			t.Fatalf("trace on %v (full route %v): %v", d, full, err)
		}
		return r
	}
	for _, full := range []bool{false, true} {
		want, got := run(tensor.CPU, full), run(dev, full)
		name := map[bool]string{false: "shortcut", true: "full route"}[full]
		devicetest.Compare(t, name+" logits", got.logits, want.logits, 1e-5)
		devicetest.Compare(t, name+" attention maps", got.attn, want.attn, 1e-5)
		devicetest.Compare(t, name+" block 1 per prompt", got.block1, want.block1, 1e-5)
		devicetest.Compare(t, name+" ∂block 0 per prompt", got.block0Grad, want.block0Grad, 1e-5)
		devicetest.Compare(t, name+" ∂prefix", got.prefixGrad, want.prefixGrad, 1e-5)
	}
}
