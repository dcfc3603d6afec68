package autograd

import (
	"fmt"

	"github.com/gocoop/gocoop/tensor"
)

// newOp makes the result of an op from its value and inputs. The result
// requires grad iff recording is on and any input does; only then is the
// backward closure kept, with the inputs that require grad as graph edges.
// Closures must test p.requiresGrad before computing p's gradient, so frozen
// inputs cost nothing.
//
// The closure should capture its inputs' nodes (a.node) and the tensors it
// needs rather than the input Vars, so that values no backward needs can be
// freed while the graph lives (see Var).
func newOp(name string, value *tensor.Tensor, backward func(g *tensor.Tensor), inputs ...*Var) *Var {
	out := newVar(value, name, false)
	if !GradEnabled() {
		return out
	}
	for _, in := range inputs {
		if in != nil && in.requiresGrad {
			out.parents = append(out.parents, in.node)
		}
	}
	if len(out.parents) > 0 {
		out.requiresGrad = true
		out.backward = backward
		out.node.v = nil // not a leaf: the graph must not keep out's value
	}
	return out
}

// keepForBackward hands over tensors an op made for itself (copies,
// scratch) that its backward reads and nothing else holds: saved for the
// backward (SaveForBackward) if v, the op's result, is in a graph, else
// recycled at once. One that shares the storage of an input (Contiguous of
// a contiguous input returns the input) is left alone.
func (v *Var) keepForBackward(inputs []*tensor.Tensor, own ...*tensor.Tensor) {
	var mine []*tensor.Tensor
	shared := append(inputs[:len(inputs):len(inputs)], v.Value)
next:
	for _, t := range own {
		for _, in := range shared {
			if tensor.SharesStorage(t, in) {
				continue next
			}
		}
		mine = append(mine, t)
	}
	if v.requiresGrad {
		v.SaveForBackward(mine...)
	} else {
		tensor.Recycle(mine...)
	}
}

// accumulate adds g into v's pending gradient. g may be shared with other
// nodes or be a view, so it is only ever updated in place after the engine
// has made its own copy.
func (v *node) accumulate(g *tensor.Tensor) {
	if !v.walking {
		return // not an edge of the graph walked: see walking
	}
	if !tensor.SameShape(g.Shape(), v.shape) {
		panic(fmt.Sprintf("autograd: gradient of shape %v for %s (internal error in an op's backward)", g.Shape(), v.label()))
	}
	switch {
	case v.pending == nil:
		v.pending, v.owned = g, false
	case !v.owned || onDevice(g):
		// On a device the sum is a fresh tensor too (the in-place
		// methods are host code).
		v.pending, v.owned = tensor.Add(v.pending, g), true
	default:
		v.pending.AddInPlace(g)
	}
}

// accumulateSlice adds g into [start, end) along dim d of v's pending
// gradient, as accumulate would a gradient of v's shape that is g there
// and zero elsewhere, without making that tensor unless nothing is pending.
func (v *node) accumulateSlice(d, start, end int, g *tensor.Tensor) {
	if !v.walking {
		return
	}
	if onDevice(g) { // the same, with tensor.Copy writing into the slice
		switch {
		case v.pending == nil:
			p := tensor.ZerosOn(g.Device(), v.shape...)
			tensor.Copy(p.Slice(d, start, end), g)
			v.pending, v.owned = p, true
		case !v.owned:
			p := v.pending.Clone()
			s := p.Slice(d, start, end)
			tensor.Copy(s, tensor.Add(s, g))
			v.pending, v.owned = p, true
		default:
			s := v.pending.Slice(d, start, end)
			tensor.Copy(s, tensor.Add(s, g))
		}
		return
	}
	switch {
	case v.pending == nil:
		p := tensor.Zeros(v.shape...)
		p.Slice(d, start, end).CopyFrom(g)
		v.pending, v.owned = p, true
	case !v.owned:
		p := v.pending.Clone()
		p.Slice(d, start, end).AddInPlace(g)
		v.pending, v.owned = p, true
	default:
		v.pending.Slice(d, start, end).AddInPlace(g)
	}
}

// Backward of a scalar (numel 1) output, seeded with 1.
func (v *Var) Backward() {
	if v.Value.Numel() != 1 {
		panic(fmt.Sprintf("autograd: Backward needs a scalar output (numel 1), got %s; use BackwardWith to seed a gradient", v.label()))
	}
	v.BackwardWith(tensor.FullOn(v.Value.Device(), 1, v.Value.Shape()...))
}

// BackwardWith seeds the output gradient explicitly (fake-loss trick). grad
// must have v's shape. Gradients accumulate into the Grad of every leaf that
// requires grad and of every retained node; other intermediate gradients are
// dropped as soon as they have been passed on. The graph is kept, so
// Backward may be called again (gradients add up, as in PyTorch), except
// through a Var whose saved tensors (SaveForBackward) this walk freed: that
// panics, as PyTorch's second backward without retain_graph.
func (v *Var) BackwardWith(grad *tensor.Tensor) {
	checkSeed("Backward", v, grad)
	backprop([]*node{v.node}, []*tensor.Tensor{grad}, nil, true, func(n *node, g *tensor.Tensor, mine bool) bool {
		if (n.backward == nil || n.retain) && n.v != nil { // a leaf or retained
			switch {
			case n.v.Grad == nil && mine:
				n.v.Grad = g // the walk's own tensor, handed over
				return true
			case n.v.Grad == nil:
				n.v.Grad = g.Clone() // own storage: optimizers may update it in place
			case onDevice(g):
				n.v.Grad = tensor.Add(n.v.Grad, g)
			default:
				n.v.Grad.AddInPlace(g)
			}
		}
		return false
	})
}

// Grad returns the gradients of Σ_i ⟨seeds[i], outputs[i]⟩ with respect to
// each of inputs, as torch.autograd.grad: nothing is accumulated into any
// Grad (leaves' and retained ones' included), and only the part of the
// graph between the outputs and the inputs is walked. seeds may be nil (every
// output a scalar, seeded with 1) or give one gradient per output, of its
// shape. An input may be any Var that requires grad, leaf or intermediate;
// the gradient of one no output depends on is nil. Hooks registered on the
// nodes walked run as in Backward (and may replace the gradient passed on).
// The graph is kept.
func Grad(outputs, inputs []*Var, seeds []*tensor.Tensor) []*tensor.Tensor {
	if seeds != nil && len(seeds) != len(outputs) {
		panic(fmt.Sprintf("autograd: Grad: %d seeds for %d outputs", len(seeds), len(outputs)))
	}
	roots := make([]*node, len(outputs))
	grads := make([]*tensor.Tensor, len(outputs))
	for i, o := range outputs {
		if seeds == nil {
			if o.Value.Numel() != 1 {
				panic(fmt.Sprintf("autograd: Grad: output %d is %s, not a scalar; give its seed", i, o.label()))
			}
			grads[i] = tensor.FullOn(o.Value.Device(), 1, o.Value.Shape()...)
		} else {
			grads[i] = seeds[i]
		}
		checkSeed("Grad", o, grads[i])
		roots[i] = o.node
	}
	want := make(map[*node]int, len(inputs)) // input node -> its first index
	for i, in := range inputs {
		if !in.requiresGrad {
			panic(fmt.Sprintf("autograd: Grad: input %d (%s) does not require grad", i, in.label()))
		}
		if _, ok := want[in.node]; !ok {
			want[in.node] = i
		}
	}
	out := make([]*tensor.Tensor, len(inputs))
	backprop(roots, grads, want, false, func(n *node, g *tensor.Tensor, mine bool) bool {
		if i, ok := want[n]; ok {
			if mine {
				out[i] = g
				return true
			}
			out[i] = g.Clone()
		}
		return false
	})
	for i, in := range inputs { // an input listed twice gets the same gradient
		out[i] = out[want[in.node]]
	}
	return out
}

// checkSeed panics unless out requires grad and seed has its shape.
func checkSeed(op string, out *Var, seed *tensor.Tensor) {
	if !out.requiresGrad {
		panic(fmt.Sprintf("autograd: %s on %s, which does not require grad (no input requires grad, or it was made under NoGrad)", op, out.label()))
	}
	if !tensor.SameShape(seed.Shape(), out.Value.Shape()) {
		panic(fmt.Sprintf("autograd: %s: gradient of shape %v for %s", op, seed.Shape(), out.label()))
	}
	checkDevice(op, out, seed)
}

// backprop is the reverse walk shared by BackwardWith and Grad: it seeds
// roots with grads, then visits every node reachable from them after all of
// its consumers, runs its hooks, hands its complete gradient to visit and
// passes it on through the node's backward. With stop non-nil, a node's
// backward runs only when some node of stop lies behind it, so the walk
// ends at the inputs Grad asks for. With free, the tensors saved
// (SaveForBackward) on each node whose backward ran are freed once the walk
// is done. visit's mine says that g is the walk's own tensor, held by
// nothing else and read by nothing after visit (a leaf's gradient, most
// often): visit may keep it instead of a copy, and returns whether it did.
func backprop(roots []*node, grads []*tensor.Tensor, stop map[*node]int, free bool, visit func(n *node, g *tensor.Tensor, mine bool) bool) {
	order := topoOrder(roots...)
	// Only the nodes of order accumulate: a closure tests its inputs'
	// requiresGrad when it runs, and a leaf unfrozen after the forward
	// (SetRequiresGrad) is no edge of the graph; its gradient would
	// outlive the walk (and the storage the walk recycles).
	for _, n := range order {
		n.walking = true
	}
	defer func() { // drop partial sums if an op's backward or a hook panicked
		for _, n := range order {
			n.pending, n.owned, n.walking = nil, false, false
		}
	}()
	var leadsToStop map[*node]bool // nodes with a node of stop behind them (inputs first in order)
	if stop != nil {
		leadsToStop = make(map[*node]bool, len(order))
		for _, n := range order {
			for _, p := range n.parents {
				if _, ok := stop[p]; ok || leadsToStop[p] {
					leadsToStop[n] = true
					break
				}
			}
		}
	}
	for _, n := range order {
		if n.freed && (stop == nil || leadsToStop[n]) {
			panic(fmt.Sprintf("autograd: backward through %s a second time: the tensors saved for its backward (SaveForBackward) were freed by the first Backward, as PyTorch's without retain_graph; walk it with autograd.Grad, which frees nothing", n.label()))
		}
	}
	for i, r := range roots {
		r.accumulate(grads[i])
	}
	// Once passed on, a gradient is recycled (recycleGrad) unless still
	// held. pending lists the nodes that may hold one not yet passed on:
	// the roots, then the parents of each node walked (a backward
	// accumulates into its own inputs only); kept, those the caller or a
	// hook may hold: the seeds, and every gradient a hook saw or returned.
	pending := append([]*node(nil), roots...)
	kept := append([]*tensor.Tensor(nil), grads...)
	var saving []*node // nodes whose backward ran, with tensors to free
	for i := len(order) - 1; i >= 0; i-- {
		n := order[i]
		g := n.pending
		n.pending, n.owned = nil, false
		if g == nil {
			continue // not reached: pruned by stop, or (defensive) an op that skipped an input
		}
		for _, h := range n.hooks {
			kept = append(kept, g)
			if r := h(g); r != nil {
				g = r
			}
		}
		if len(n.hooks) > 0 {
			kept = append(kept, g)
		}
		walksOn := n.backward != nil && (stop == nil || leadsToStop[n])
		if !walksOn { // nothing reads g after visit: it may take g if the walk alone holds it
			var held bool
			pending, held = heldGrad(g, pending, kept)
			if !visit(n, g, !held && tensor.OwnsStorage(g)) && !held {
				tensor.Recycle(g)
			}
			continue
		}
		visit(n, g, false)
		n.backward(g)
		pending = append(pending, n.parents...)
		if free && len(n.saved) > 0 {
			saving = append(saving, n)
		}
		var held bool
		if pending, held = heldGrad(g, pending, kept); !held {
			tensor.Recycle(g)
		}
	}
	// Every backward has run: nothing reads the saved tensors again. One
	// Recycle call, so that a storage saved twice (two views) goes back once.
	var dead []*tensor.Tensor
	for _, n := range saving {
		dead = append(dead, n.saved...)
		n.saved, n.freed = nil, true
	}
	tensor.Recycle(dead...)
}

// heldGrad reports whether g, a gradient the walk has passed on, is still
// held: by a gradient pending at another node (a backward may pass g, or a
// view of it, to its inputs; Add passes one tensor to both) or by kept.
// One not held goes to the allocator for reuse (tensor.Recycle) or to the
// visit that takes it; visit otherwise keeps only copies. A backward must
// therefore pass on only gradients it computed or views of its own g,
// never a tensor of the forward pass (docs/autograd.md §3). It also
// returns pending without the nodes already walked.
func heldGrad(g *tensor.Tensor, pending []*node, kept []*tensor.Tensor) ([]*node, bool) {
	live := pending[:0]
	held := false
	for _, p := range pending {
		if p.pending == nil {
			continue
		}
		live = append(live, p)
		held = held || tensor.SharesStorage(p.pending, g)
	}
	for _, k := range kept {
		held = held || tensor.SharesStorage(k, g)
	}
	return live, held
}

// topoOrder lists the nodes reachable from roots through inputs that
// require grad, every node after all of its inputs. It is an iterative
// depth-first search, so deep graphs (many transformer layers) cannot
// overflow the stack.
func topoOrder(roots ...*node) []*node {
	var order []*node
	visited := map[*node]bool{}
	for _, root := range roots {
		if visited[root] {
			continue
		}
		visited[root] = true
		order = topoVisit(order, visited, root)
	}
	return order
}

// topoVisit appends to order the nodes behind root not yet visited, in
// topological order.
func topoVisit(order []*node, visited map[*node]bool, root *node) []*node {
	type frame struct {
		v    *node
		next int // index of the next parent to visit
	}
	stack := []frame{{root, 0}}
	for len(stack) > 0 {
		top := &stack[len(stack)-1]
		if top.next < len(top.v.parents) {
			p := top.v.parents[top.next]
			top.next++
			if !visited[p] {
				visited[p] = true
				stack = append(stack, frame{p, 0})
			}
			continue
		}
		order = append(order, top.v)
		stack = stack[:len(stack)-1]
	}
	return order
}

// normAxis maps a possibly negative axis into [0, ndim).
func normAxis(op string, axis, ndim int) int {
	a := axis
	if a < 0 {
		a += ndim
	}
	if a < 0 || a >= ndim {
		panic(fmt.Sprintf("autograd: %s: axis %d out of range for %d dims", op, axis, ndim))
	}
	return a
}
