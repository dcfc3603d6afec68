// Package cocooptest holds the device-against-CPU check of a CoCoOp or
// CoOp training step and the evaluation after it (LearnerStep). It runs on
// the fake device of tensor/devicetest in cocoop's tests and on the GPU in
// the CUDA test binary of bench/cuda; the comparisons are
// tensor/devicetest's Compare.
package cocooptest

import (
	"context"
	"testing"

	"github.com/gocoop/gocoop/clip"
	"github.com/gocoop/gocoop/clip/cliptest"
	"github.com/gocoop/gocoop/cocoop"
	"github.com/gocoop/gocoop/nn"
	"github.com/gocoop/gocoop/tensor"
	"github.com/gocoop/gocoop/tensor/devicetest"
)

// Step is what RunStep measured on one device.
type Step struct {
	Loss   float64
	Logits *tensor.Tensor            // the step's training logits [B, n_cls]
	Grads  map[string]*tensor.Tensor // the trainables' gradients before the update (host)
	Params map[string]*tensor.Tensor // the trainables after the update (host)
	Eval   *tensor.Tensor            // evaluation logits after the update [B, n_cls]
}

// RunStep builds the learner of method ("cocoop" or "coop", the paper's
// default settings) on m for names, trains one step (cocoop.Trainer: SGD
// with momentum and weight decay, the finiteness check) on images with
// labels, and evaluates the images.
func RunStep(t testing.TB, m *clip.CLIP, method string, names []string, images *tensor.Tensor, labels []int) Step {
	t.Helper()
	host := func(x *tensor.Tensor) *tensor.Tensor { t.Helper(); return devicetest.To(t, x, tensor.CPU) }
	cfg := cocoop.DefaultCoCoOpConfig()
	if method == cocoop.MethodCoOp {
		cfg = cocoop.DefaultCoOpConfig(false)
	}
	cfg.BatchSize = images.Dim(0)
	l, err := cocoop.NewLearner(m, cfg, names)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := cocoop.NewTrainer(l, cfg)
	if err != nil {
		t.Fatal(err)
	}
	st := Step{Grads: map[string]*tensor.Tensor{}, Params: map[string]*tensor.Tensor{}}
	tr.OnBackward = func(cocoop.Progress) {
		for _, p := range nn.Trainable(l, "") {
			st.Grads[p.Name] = host(p.Var.Grad)
		}
	}
	src := &cocoop.SliceSource{Images: images, Labels: labels, BatchSize: images.Dim(0)}
	es, err := tr.TrainEpoch(context.Background(), src)
	if err != nil {
		t.Fatalf("%s step on %v: %v", method, m.Device(), err)
	}
	st.Loss = es.Loss
	for _, p := range nn.Trainable(l, "") {
		if p.Var.Value.Device() != m.Device() {
			t.Fatalf("%s: trainable %s on %v, the model on %v", method, p.Name, p.Var.Value.Device(), m.Device())
		}
		st.Params[p.Name] = host(p.Var.Value)
	}
	if err := tensor.Try(func() { st.Eval = l.Logits(images) }); err != nil {
		t.Fatal(err)
	}
	if res, err := l.ForwardBackward(images, labels); err != nil {
		t.Fatal(err)
	} else {
		st.Logits = res.Logits
	}
	return st
}

// LearnerStep trains one step of method on a CLIP of configuration cfg
// with hash weights, on dev and on the CPU from the same initialization,
// and compares the loss, the gradients, the updated trainables and the
// logits (training and evaluation) within rel.
func LearnerStep(t testing.TB, dev tensor.Device, cfg clip.Config, method string, names []string, batch int, rel float64) {
	t.Helper()
	images := cliptest.Images(cfg, batch)
	labels := make([]int, batch)
	for i := range labels {
		labels[i] = (3*i + 1) % len(names)
	}
	want := RunStep(t, cliptest.HashCLIP(t, cfg, tensor.CPU), method, names, images, labels)
	got := RunStep(t, cliptest.HashCLIP(t, cfg, dev), method, names, images, labels)
	devicetest.CompareFloat(t, method+" loss", got.Loss, want.Loss, rel)
	for k, g := range want.Grads {
		devicetest.Compare(t, method+" ∂"+k, got.Grads[k], g, rel)
	}
	for k, p := range want.Params {
		devicetest.Compare(t, method+" "+k+" after the step", got.Params[k], p, rel)
	}
	devicetest.Compare(t, method+" logits after the step", got.Logits, want.Logits, rel)
	devicetest.Compare(t, method+" evaluation logits", got.Eval, want.Eval, rel)
}
