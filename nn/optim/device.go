package optim

import (
	"fmt"

	"github.com/gocoop/gocoop/autograd"
	"github.com/gocoop/gocoop/tensor"
)

// Device parameters (docs/cuda.md). A parameter whose value lives on a
// device is updated there by the backend's fused kernel (tensor.Kernels'
// SGDStep, AdamWStep: the same order of float32 operations as the CPU
// code below), its state (momentum buffer, moments) created on the same
// device. State and LoadState keep each buffer on its parameter's device:
// callers that write checkpoints move them to the host.

func onDevice(t *tensor.Tensor) bool { return t.Device() != tensor.CPU }

// kernels returns the Kernels for the update of v, whose value must be
// contiguous (parameters are made so, and To keeps them so).
func kernels(op, name string, v *autograd.Var, ts ...*tensor.Tensor) tensor.Kernels {
	if !v.Value.IsContiguous() {
		panic(&tensor.DeviceError{Op: op, Device: v.Value.Device(), Msg: fmt.Sprintf("parameter %s is not contiguous", name)})
	}
	k, err := tensor.KernelsOf(append([]*tensor.Tensor{v.Value}, ts...)...)
	if err != nil {
		panic(fmt.Errorf("optim.%s: parameter %s: %w", op, name, err))
	}
	return k
}

// stepDevice is SGD.Step for one parameter on a device.
func (o *SGD) stepDevice(name string, v *autograd.Var) {
	g := v.Grad.Contiguous()
	var buf tensor.Operand
	ts := []*tensor.Tensor{g} // the tensors the kernel reads beside v
	first := false
	if o.Momentum != 0 {
		b, ok := o.bufs[name]
		if !ok {
			b = tensor.ZerosOn(v.Value.Device(), v.Value.Shape()...)
			o.bufs[name] = b
			first = true
		}
		buf = b.DeviceOperand()
		ts = append(ts, b)
	}
	k := kernels("SGD.Step", name, v, ts...)
	if err := k.SGDStep(v.Value.Numel(), o.LR, o.Momentum, o.Dampening, o.WeightDecay, o.Nesterov, first,
		v.Value.DeviceOperand(), g.DeviceOperand(), buf); err != nil {
		panic(fmt.Errorf("optim.SGD.Step: parameter %s: %w", name, err))
	}
}

// stepDevice is AdamW's update of one parameter on a device at its step t.
func (o *AdamW) stepDevice(name string, v *autograd.Var, wd float32) {
	g := v.Grad.Contiguous()
	m, ok := o.m[name]
	if !ok {
		dev, shape := v.Value.Device(), v.Value.Shape()
		m, o.v[name] = tensor.ZerosOn(dev, shape...), tensor.ZerosOn(dev, shape...)
		o.m[name] = m
	}
	o.t[name]++
	k := kernels("AdamW.Step", name, v, g, m, o.v[name])
	if err := k.AdamWStep(v.Value.Numel(), o.LR, o.Beta1, o.Beta2, o.Eps, wd, o.t[name],
		v.Value.DeviceOperand(), g.DeviceOperand(), m.DeviceOperand(), o.v[name].DeviceOperand()); err != nil {
		panic(fmt.Errorf("optim.AdamW.Step: parameter %s: %w", name, err))
	}
}

// toParam returns a copy of state on the device of the parameter it
// belongs to (a contiguous clone on the CPU).
func toParam(state, param *tensor.Tensor) (*tensor.Tensor, error) {
	if !onDevice(param) {
		if onDevice(state) {
			return state.To(tensor.CPU)
		}
		return state.Contiguous().Clone(), nil
	}
	if !onDevice(state) {
		return state.To(param.Device())
	}
	return state.Contiguous().Clone(), nil
}

// sumSquares returns Σ g² over the gradients of params, in float64: the
// host gradients summed here, the device ones first reduced on their device
// (one float32 sum per parameter, downloaded together).
func sumSquares(grads []*tensor.Tensor) float64 {
	var sq float64
	byDev := map[tensor.Device][]*tensor.Tensor{}
	var devs []tensor.Device
	for _, g := range grads {
		if !onDevice(g) {
			sq += sumSquaresHost(g.Contiguous().Data())
			continue
		}
		d := g.Device()
		if byDev[d] == nil {
			devs = append(devs, d)
		}
		byDev[d] = append(byDev[d], tensor.Sum(tensor.Square(g), nil, true).Reshape(1))
	}
	for _, d := range devs {
		sums, err := tensor.Concat(byDev[d], 0).To(tensor.CPU)
		if err != nil {
			panic(fmt.Errorf("optim.ClipGradNorm: %w", err))
		}
		for _, s := range sums.Data() {
			sq += float64(s)
		}
	}
	return sq
}

// sqBlock is the block of sumSquaresHost: as large as a parallel grain,
// small enough that CLIP's token embedding (6.3 M) splits across cores.
const sqBlock = 1 << 16

// sumSquaresHost returns Σ x² in float64, the same bits on any number of
// cores: x is cut into blocks of sqBlock elements, each block summed by
// sumSquaresBlock (concurrently), and the blocks' sums added in order.
func sumSquaresHost(x []float32) float64 {
	nb := (len(x) + sqBlock - 1) / sqBlock
	sums := make([]float64, nb)
	tensor.ParallelFor(nb, sqBlock, func(_, lo, hi int) {
		for b := lo; b < hi; b++ {
			sums[b] = sumSquaresBlock(x[b*sqBlock : min((b+1)*sqBlock, len(x))])
		}
	})
	var s float64
	for _, v := range sums {
		s += v
	}
	return s
}

// sumSquaresBlock returns Σ x² in float64 with eight running sums (x[i]
// goes into sum i mod 8, then the eight are added in order): eight
// independent chains of additions instead of one.
func sumSquaresBlock(x []float32) float64 {
	var a0, a1, a2, a3, a4, a5, a6, a7 float64
	i := 0
	for ; i+8 <= len(x); i += 8 {
		y := x[i : i+8 : i+8]
		a0 += float64(y[0]) * float64(y[0])
		a1 += float64(y[1]) * float64(y[1])
		a2 += float64(y[2]) * float64(y[2])
		a3 += float64(y[3]) * float64(y[3])
		a4 += float64(y[4]) * float64(y[4])
		a5 += float64(y[5]) * float64(y[5])
		a6 += float64(y[6]) * float64(y[6])
		a7 += float64(y[7]) * float64(y[7])
	}
	a := [8]float64{a0, a1, a2, a3, a4, a5, a6, a7}
	for j, v := range x[i:] {
		a[j] += float64(v) * float64(v)
	}
	return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]))
}
