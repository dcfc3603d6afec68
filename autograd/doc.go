// Package autograd is GoCoOp's reverse-mode automatic differentiation: a
// define-by-run graph of Vars over float32 tensors, in the spirit of
// micrograd with tensors instead of scalars.
//
// Every op computes its forward value with package tensor and, when any input
// requires a gradient and recording is on, attaches a backward closure that
// adds the op's vector-Jacobian product into those inputs. Backward sorts the
// graph topologically once and walks it in reverse, so each node's gradient
// is complete before its hooks run and before it is passed on.
//
// Frozen inputs (RequiresGrad false, e.g. CLIP's weights) get no gradient
// buffer and the math for their gradient is skipped, while gradients still
// flow through them to trainable inputs (e.g. prompt vectors).
//
// The graph links nodes, not Vars, and each backward closure keeps only the
// tensors its vector-Jacobian product reads (a frozen Linear keeps its
// weight, not its input; attention its probabilities and q, k, v). An
// intermediate value no backward reads is freed as soon as the caller drops
// its Var, so a forward keeps alive only what its backward needs.
//
// Beyond Backward: Grad returns gradients with respect to any nodes without
// accumulating into Grad (torch.autograd.grad), GradCheck checks a backward
// against finite differences (every op's is, in gradcheck_test.go), and
// Var.WriteDot exports a graph for Graphviz.
//
// Graphs are not safe for concurrent use: do not run Backward on graphs
// that share nodes from several goroutines at once.
//
// Ops live one family per file, forward and backward side by side:
// arith.go, matmul.go, reduce.go, shape.go, index.go, activation.go,
// softmax.go, layernorm.go, attention.go, packed_attention.go (causal
// attention over packed sequences sharing prefixes), loss.go. The engine is
// var.go and engine.go; gradcheck.go and dot.go are its tools.
package autograd
