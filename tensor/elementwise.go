package tensor

import "github.com/gocoop/gocoop/asm"

// Elementwise ops with NumPy broadcasting. Each returns a fresh contiguous
// tensor (one allocation); the loops are in kernels.go and iter.go.

// Add returns a + b.
func Add(a, b *Tensor) *Tensor { return binary("Add", opAdd, a, b) }

// Sub returns a - b.
func Sub(a, b *Tensor) *Tensor { return binary("Sub", opSub, a, b) }

// Mul returns a * b.
func Mul(a, b *Tensor) *Tensor { return binary("Mul", opMul, a, b) }

// Div returns a / b.
func Div(a, b *Tensor) *Tensor { return binary("Div", opDiv, a, b) }

// Maximum returns the elementwise max of a and b (a where they tie).
func Maximum(a, b *Tensor) *Tensor { return binary("Maximum", opMax, a, b) }

// AddScalar returns a + s.
func AddScalar(a *Tensor, s float32) *Tensor { return binaryScalar("AddScalar", opAdd, a, s) }

// MulScalar returns a * s.
func MulScalar(a *Tensor, s float32) *Tensor { return binaryScalar("MulScalar", opMul, a, s) }

// Neg returns -a.
func Neg(a *Tensor) *Tensor { return unary("Neg", opNeg, a) }

// Exp returns e^a.
func Exp(a *Tensor) *Tensor { return unary("Exp", opExp, a) }

// Log returns the natural log of a.
func Log(a *Tensor) *Tensor { return unary("Log", opLog, a) }

// Sqrt returns √a.
func Sqrt(a *Tensor) *Tensor { return unary("Sqrt", opSqrt, a) }

// Tanh returns tanh(a).
func Tanh(a *Tensor) *Tensor { return unary("Tanh", opTanh, a) }

// Sigmoid returns 1/(1+e^-a), computed without overflow for any a.
func Sigmoid(a *Tensor) *Tensor { return unary("Sigmoid", opSigmoid, a) }

// Relu returns max(a, 0).
func Relu(a *Tensor) *Tensor { return unary("Relu", opRelu, a) }

// Square returns a².
func Square(a *Tensor) *Tensor { return unary("Square", opSquare, a) }

// MaximumScalar returns max(a, s) elementwise (a where a is NaN).
func MaximumScalar(a *Tensor, s float32) *Tensor { return binaryScalar("MaximumScalar", opMax, a, s) }

// GreaterThan returns 1 where a > s and 0 elsewhere (NaN: 0), a mask for
// products (the ReLU and clamp gradients of device tensors).
func GreaterThan(a *Tensor, s float32) *Tensor {
	if !a.onHost() {
		return deviceMap("GreaterThan", "gt", a, s)
	}
	a.float32Only("GreaterThan")
	out := a.Clone()
	for i, v := range out.data {
		out.data[i] = 0
		if v > s {
			out.data[i] = 1
		}
	}
	return out
}

// QuickGELU returns x·σ(1.702x), CLIP's activation, elementwise: on the
// CPU the fused row kernel asm.QuickGELU, on a device the backend's.
func QuickGELU(a *Tensor) *Tensor { return unary("QuickGELU", opQuickGELU, a) }

// QuickGELUGrad returns g·QuickGELU'(x) = g·(s + 1.702·x·s·(1−s)) with
// s = σ(1.702x), for x and g of one shape.
func QuickGELUGrad(x, g *Tensor) *Tensor {
	if !SameShape(x.shape, g.shape) {
		panic(&ShapeError{Op: "QuickGELUGrad", Shapes: [][]int{x.Shape(), g.Shape()}, Msg: "differ"})
	}
	if !x.onHost() || !g.onHost() {
		return deviceBinary("QuickGELUGrad", "quickgelu_grad", x, g)
	}
	out := empty(x.shape...)
	xd, gd, od := x.Contiguous().Data(), g.Contiguous().Data(), out.data
	parallelForVec(len(od), 8, func(lo, hi int) { asm.QuickGELUGrad(od[lo:hi], gd[lo:hi], xd[lo:hi]) })
	return out
}

// Map applies f to every element. It is a convenience for tests and cold
// code: f is called once per element, so prefer the named ops in hot paths.
func Map(a *Tensor, f func(float32) float32) *Tensor {
	a.host("Map")
	out := a.Clone()
	for i, v := range out.data {
		out.data[i] = f(v)
	}
	return out
}

// Map2 applies f to broadcast pairs of elements (convenience, as Map).
func Map2(a, b *Tensor, f func(x, y float32) float32) *Tensor {
	a.host("Map2")
	b.host("Map2")
	shape := broadcast("Map2", nil, a.shape, b.shape)
	ae, be := a.Expand(shape...).Contiguous(), b.Expand(shape...).Contiguous()
	out := New(shape...)
	ad, bd := ae.data[ae.offset:], be.data[be.offset:]
	for i := range out.data {
		out.data[i] = f(ad[i], bd[i])
	}
	return out
}

func binary(name string, op binOp, a, b *Tensor) *Tensor {
	if !a.onHost() || !b.onHost() {
		return deviceBinary(name, op.deviceName(), a, b)
	}
	a.host(name)
	b.host(name)
	if SameShape(a.shape, b.shape) && a.IsContiguous() && b.IsContiguous() {
		out := empty(a.shape...)
		od, ad, bd := out.data, a.data[a.offset:], b.data[b.offset:]
		if len(od) < parallelGrain {
			binVV(op, 0, od, ad, bd)
			return out
		}
		parallelForVec(len(od), 1, func(lo, hi int) { binVV(op, 0, od[lo:hi], ad[lo:hi], bd[lo:hi]) })
		return out
	}
	var buf [maxLoopRank]int
	shape := broadcast(name, buf[:0], a.shape, b.shape)
	out := empty(shape...)
	apply2(op, 0, out.shape, out.operand(), a.operand(), b.operand())
	return out
}

func binaryScalar(name string, op binOp, a *Tensor, s float32) *Tensor {
	if !a.onHost() {
		return deviceMap(name, op.deviceName(), a, s)
	}
	a.float32Only(name)
	out := empty(a.shape...)
	if a.IsContiguous() {
		od, ad := out.data, a.data[a.offset:]
		if len(od) < parallelGrain {
			binVS(op, 0, od, ad, s)
			return out
		}
		parallelForVec(len(od), 1, func(lo, hi int) { binVS(op, 0, od[lo:hi], ad[lo:hi], s) })
		return out
	}
	// Gather the strided input into the output, then apply in place.
	apply2(opCopy, 0, out.shape, out.operand(), out.operand(), a.operand())
	binVS(op, 0, out.data, out.data, s)
	return out
}

func unary(name string, op unOp, a *Tensor) *Tensor {
	if !a.onHost() {
		return deviceMap(name, op.deviceName(), a, 0)
	}
	a.float32Only(name)
	out := empty(a.shape...)
	src := out.data
	if a.IsContiguous() {
		src = a.data[a.offset : a.offset+len(out.data)]
	} else {
		// Gather the strided input into the output, then transform in place.
		apply2(opCopy, 0, out.shape, out.operand(), out.operand(), a.operand())
	}
	od := out.data
	cost := 1
	if op >= opExp && op <= opSigmoid || op == opQuickGELU {
		cost = 8 // transcendental: worth threads sooner
	}
	if len(od)*cost < parallelGrain {
		unaryKernel(op, od, src)
		return out
	}
	parallelForVec(len(od), cost, func(lo, hi int) { unaryKernel(op, od[lo:hi], src[lo:hi]) })
	return out
}
