package tensor_test

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/gocoop/gocoop/tensor"
	"github.com/gocoop/gocoop/tensor/devicetest"
)

// The device dispatch, checked with the fake backend of tensor/devicetest:
// its kernels run the CPU ops on the operands they are handed, so a device
// op comes out as on the CPU if and only if the dispatch passes the right
// shapes, offsets and strides (and reads nothing on the host).

func randU(seed uint64, shape ...int) *tensor.Tensor {
	return tensor.NewRNG(seed).Uniform(-1, 1, shape...)
}

func TestDeviceKernelsDispatch(t *testing.T) {
	be := devicetest.New()
	dev := be.Device()
	to := func(x *tensor.Tensor) *tensor.Tensor {
		y, err := x.To(dev)
		if err != nil {
			t.Fatal(err)
		}
		return y
	}
	a := randU(11, 2, 3, 4, 5)
	bias := randU(12, 1, 5)
	pos := tensor.AddScalar(tensor.Square(a), 0.5)
	w, b := randU(13, 5), randU(14, 5)
	ad, bd, posd, wd, bdd := to(a), to(bias), to(pos), to(w), to(b)
	// Views: a transposed (strided) operand and an offset slice.
	tr, trd := a.Transpose(1, 3), ad.Transpose(1, 3)
	sl, sld := a.Slice(1, 1, 3), ad.Slice(1, 1, 3)
	type pair struct {
		name     string
		cpu, dev *tensor.Tensor
	}
	cases := []pair{
		{"Add broadcast", tensor.Add(a, bias), tensor.Add(ad, bd)},
		{"Sub broadcast", tensor.Sub(bias, a), tensor.Sub(bd, ad)},
		{"Mul strided", tensor.Mul(tr, tr), tensor.Mul(trd, trd)},
		{"Div", tensor.Div(a, pos), tensor.Div(ad, posd)},
		{"Maximum", tensor.Maximum(a, bias), tensor.Maximum(ad, bd)},
		{"MaximumScalar", tensor.MaximumScalar(sl, 0.1), tensor.MaximumScalar(sld, 0.1)},
		{"GreaterThan", tensor.GreaterThan(tr, 0), tensor.GreaterThan(trd, 0)},
		{"AddScalar slice", tensor.AddScalar(sl, 2), tensor.AddScalar(sld, 2)},
		{"MulScalar", tensor.MulScalar(a, -3), tensor.MulScalar(ad, -3)},
		{"Exp strided", tensor.Exp(tr), tensor.Exp(trd)},
		{"Log", tensor.Log(pos), tensor.Log(posd)},
		{"Sqrt", tensor.Sqrt(pos), tensor.Sqrt(posd)},
		{"Neg", tensor.Neg(a), tensor.Neg(ad)},
		{"Tanh", tensor.Tanh(a), tensor.Tanh(ad)},
		{"Sigmoid", tensor.Sigmoid(a), tensor.Sigmoid(ad)},
		{"Relu", tensor.Relu(a), tensor.Relu(ad)},
		{"Square", tensor.Square(sl), tensor.Square(sld)},
		{"QuickGELU strided", tensor.QuickGELU(tr), tensor.QuickGELU(trd)},
		{"QuickGELUGrad", tensor.QuickGELUGrad(a, pos), tensor.QuickGELUGrad(ad, posd)},
		{"Clone strided", tr.Clone(), trd.Clone()},
		{"Reshape of a transpose", tr.Reshape(2, -1), trd.Reshape(2, -1)},
		{"Sum axes", tensor.Sum(a, []int{0, 2}, false), tensor.Sum(ad, []int{0, 2}, false)},
		{"Sum all keepdim", tensor.Sum(tr, nil, true), tensor.Sum(trd, nil, true)},
		{"SumTo", tensor.SumTo(a, []int{3, 1, 5}), tensor.SumTo(ad, []int{3, 1, 5})},
		{"Mean", tensor.Mean(a, []int{-1}, false), tensor.Mean(ad, []int{-1}, false)},
		{"Max", tensor.Max(sl, []int{1}, true), tensor.Max(sld, []int{1}, true)},
		{"Softmax", tensor.Softmax(a, -1), tensor.Softmax(ad, -1)},
		{"LogSoftmax strided", tensor.LogSoftmax(tr, 3), tensor.LogSoftmax(trd, 3)},
		{"MaskedSoftmax causal", tensor.MaskedSoftmax(a, 0.3, true), tensor.MaskedSoftmax(ad, 0.3, true)},
		{"MaskedSoftmax strided", tensor.MaskedSoftmax(tr, 2, false), tensor.MaskedSoftmax(trd, 2, false)},
		{"MatMul batched", tensor.MatMul(a, a.Transpose(2, 3)), tensor.MatMul(ad, ad.Transpose(2, 3))},
		{"MatMul 2-D", tensor.MatMul(a.Reshape(24, 5), w.Reshape(5, 1)), tensor.MatMul(ad.Reshape(24, 5), wd.Reshape(5, 1))},
		{"MatMul broadcast", tensor.MatMul(a, randU(15, 5, 2)), tensor.MatMul(ad, to(randU(15, 5, 2)))},
		{"Concat dim 1", tensor.Concat([]*tensor.Tensor{sl, a, a.Slice(1, 0, 1)}, 1), tensor.Concat([]*tensor.Tensor{sld, ad, ad.Slice(1, 0, 1)}, 1)},
		{"Concat expanded", tensor.Concat([]*tensor.Tensor{bias.Expand(4, 5), w.Reshape(1, 5)}, 0), tensor.Concat([]*tensor.Tensor{bd.Expand(4, 5), wd.Reshape(1, 5)}, 0)},
		{"IndexSelect dim 0", tensor.IndexSelect(a, 0, []int{1, 1, 0}), tensor.IndexSelect(ad, 0, []int{1, 1, 0})},
		{"IndexSelect dim 2 strided", tensor.IndexSelect(tr, 2, []int{3, 0}), tensor.IndexSelect(trd, 2, []int{3, 0})},
		{"ZerosOn", tensor.Zeros(2, 3), tensor.ZerosOn(dev, 2, 3)},
		{"FullOn", tensor.Full(-1.5, 4), tensor.FullOn(dev, -1.5, 4)},
	}
	// In-place: IndexAdd (repeated indices accumulate) and Copy into a view.
	ia, iad := tensor.Zeros(3, 4, 5), tensor.ZerosOn(dev, 3, 4, 5)
	src := randU(16, 3, 2, 5)
	tensor.IndexAdd(ia, 1, []int{2, 2}, src)
	tensor.IndexAdd(iad, 1, []int{2, 2}, to(src))
	cp, cpd := a.Clone(), ad.Clone()
	cp.Slice(2, 1, 3).CopyFrom(bias)
	tensor.Copy(cpd.Slice(2, 1, 3), bd)
	cases = append(cases, pair{"IndexAdd", ia, iad}, pair{"Copy into a view", cp, cpd})
	// Layer norm forward and backward.
	y, m, r := tensor.LayerNorm(sl, w, b, 1e-5)
	yd, md, rd := tensor.LayerNorm(sld, wd, bdd, 1e-5)
	y0, _, _ := tensor.LayerNorm(a, nil, nil, 1e-5)
	y0d, _, _ := tensor.LayerNorm(ad, nil, nil, 1e-5)
	g := randU(17, 2, 2, 4, 5)
	dx, dw, db := tensor.LayerNormBackward(sl, w, m, r, g, true, true, true)
	dxd, dwd, dbd := tensor.LayerNormBackward(sld, wd, md, rd, to(g), true, true, true)
	dx0, _, _ := tensor.LayerNormBackward(sl, nil, m, r, g, true, false, false)
	dx0d, dw0d, _ := tensor.LayerNormBackward(sld, nil, md, rd, to(g), true, false, false)
	if dw0d != nil {
		t.Error("LayerNormBackward returned a gradient not asked for")
	}
	cases = append(cases, []pair{{"LayerNorm y", y, yd}, {"LayerNorm mean", m, md}, {"LayerNorm rstd", r, rd},
		{"LayerNorm no affine", y0, y0d}, {"LayerNormBackward dx", dx, dxd}, {"LayerNormBackward dw", dw, dwd},
		{"LayerNormBackward db", db, dbd}, {"LayerNormBackward dx, no weight", dx0, dx0d}}...)
	// Cross-entropy over rows of a transposed (non-contiguous) view.
	logits, labels := a.Reshape(6, 20).T(), []int{0, 5, 5, 1, 0, 2, 3, 4, 5, 1, 0, 2, 3, 4, 5, 1, 0, 2, 3, 4}
	logitsd := ad.Reshape(6, 20).T()
	cases = append(cases, pair{"CrossEntropyRows", tensor.CrossEntropyRows(logits, labels), tensor.CrossEntropyRows(logitsd, labels)},
		pair{"CrossEntropyGrad", tensor.CrossEntropyGrad(logits, labels, 0.25), tensor.CrossEntropyGrad(logitsd, labels, 0.25)})

	for _, c := range cases {
		if c.dev.Device() != dev {
			t.Errorf("%s: result on %v, want %v", c.name, c.dev.Device(), dev)
			continue
		}
		got, err := c.dev.To(tensor.CPU)
		if err != nil {
			t.Fatal(err)
		}
		if !tensor.SameShape(got.Shape(), c.cpu.Shape()) {
			t.Errorf("%s: shape %v, want %v", c.name, got.Shape(), c.cpu.Shape())
			continue
		}
		if d := tensor.MaxAbsDiff(got, c.cpu); d > 1e-5 || math.IsNaN(float64(d)) {
			t.Errorf("%s: differs from the CPU by %g", c.name, d)
		}
	}
	calls := be.Calls()
	for _, op := range []string{"add", "copy", "gt", "max", "quickgelu", "quickgelu_grad", "sum", "softmax", "logsoftmax",
		"masked_softmax", "layernorm", "layernorm_backward", "gather", "scatter_add", "cross_entropy",
		"cross_entropy_backward", "sgemm", "sgemm_batched"} {
		if calls[op] == 0 {
			t.Errorf("kernel %q never called", op)
		}
	}
}

func TestDeviceErrors(t *testing.T) {
	dev := devicetest.New().Device()
	a := randU(1, 3, 4)
	ad, err := a.To(dev)
	if err != nil {
		t.Fatal(err)
	}
	fails := func(name, want string, f func()) {
		t.Helper()
		err := tensor.Try(f)
		var de *tensor.DeviceError
		if !errors.As(err, &de) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want a *DeviceError containing %q", name, err, want)
		}
	}
	fails("mixed devices", "different devices", func() { tensor.Add(ad, a) })
	fails("mixed Concat", "different devices", func() { tensor.Concat([]*tensor.Tensor{a, ad}, 0) })
	fails("softmax on a middle axis", "last axis", func() { tensor.Softmax(ad.Reshape(3, 2, 2), 1) })
	fails("host read", "move it with To(tensor.CPU)", func() { ad.Data() })
	fails("IndexAdd into a strided view", "contiguous", func() {
		tensor.IndexAdd(ad.T(), 0, []int{0}, tensor.ZerosOn(dev, 1, 3))
	})
	if _, err := tensor.KernelsOf(a); err == nil {
		t.Error("KernelsOf a host tensor: no error")
	}
	if _, err := tensor.KernelsOf(ad, a); err == nil || !strings.Contains(err.Error(), "different devices") {
		t.Errorf("KernelsOf on mixed devices: %v", err)
	}
	// An explicit Copy moves between devices; the host tensor is unchanged.
	h := tensor.Zeros(3, 4)
	tensor.Copy(h, ad)
	if tensor.MaxAbsDiff(h, a) != 0 {
		t.Error("Copy from the device differs")
	}
	// Float16 storage is widened to float32 on its way to a device.
	hd, err := a.Half().To(dev)
	if err != nil {
		t.Fatal(err)
	}
	back, _ := hd.To(tensor.CPU)
	if back.DType() != tensor.Float32 || tensor.MaxAbsDiff(back, a.Half().Float()) != 0 {
		t.Errorf("a float16 tensor moved to the device and back: %v, differs by %g", back.DType(), tensor.MaxAbsDiff(back, a.Half().Float()))
	}
}
