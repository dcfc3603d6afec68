package autograd_test

import (
	"fmt"
	"os"

	"github.com/gocoop/gocoop/autograd"
	"github.com/gocoop/gocoop/tensor"
)

// A trainable vector passes through a frozen linear layer into a
// cross-entropy loss; only the vector gets a gradient.
func Example() {
	prompt := autograd.Param(tensor.FromSlice([]float32{1, -1}, 1, 2))
	w := autograd.Constant(tensor.FromSlice([]float32{1, 0, 0, 1, 1, 1}, 3, 2)) // frozen [3, 2]
	logits := autograd.Linear(prompt, w, nil)                                   // [1, 3]
	loss := autograd.CrossEntropy(logits, []int{0})
	loss.Backward()
	fmt.Printf("loss %.4f\n", loss.Value.Item())
	fmt.Printf("d prompt %.4f\n", prompt.Grad.ToSlice())
	fmt.Println("w has grad:", w.Grad != nil)
	// Output:
	// loss 0.4076
	// d prompt [-0.0900 0.3348]
	// w has grad: false
}

// Grad returns ∂loss/∂x for any node x, leaf or intermediate, without
// touching any Grad field (torch.autograd.grad).
func ExampleGrad() {
	x := autograd.Param(tensor.FromSlice([]float32{1, 2, 3}, 3))
	h := autograd.Mul(x, x) // an intermediate: h = x²
	loss := autograd.Sum(autograd.MulScalar(h, 0.5), nil, false)
	g := autograd.Grad([]*autograd.Var{loss}, []*autograd.Var{x, h}, nil)
	fmt.Println("d loss/d x:", g[0].ToSlice())
	fmt.Println("d loss/d h:", g[1].ToSlice())
	fmt.Println("x.Grad still nil:", x.Grad == nil)
	// Output:
	// d loss/d x: [1 2 3]
	// d loss/d h: [0.5 0.5 0.5]
	// x.Grad still nil: true
}

// GradCheck compares an op's backward with finite differences.
func ExampleGradCheck() {
	rng := tensor.NewRNG(1)
	q := autograd.Param(rng.Normal(0, 1, 2, 4, 8))
	k := autograd.Param(rng.Normal(0, 1, 2, 4, 8))
	attn := func() *autograd.Var { return autograd.AttentionProbs(q, k, true) }
	worst, err := autograd.GradCheck(attn, []*autograd.Var{q, k}, autograd.GradCheckOptions{})
	fmt.Println("passed:", err == nil && worst <= 1)
	// Output:
	// passed: true
}

// WriteDot exports the graph behind a Var for Graphviz (dot -Tsvg).
func ExampleVar_WriteDot() {
	x := autograd.Param(tensor.FromSlice([]float32{1, 2}, 1, 2)).SetName("ctx")
	w := autograd.Constant(tensor.FromSlice([]float32{1, 0, 0, 1}, 2, 2)) // frozen: not drawn
	loss := autograd.Sum(autograd.Linear(x, w, nil), nil, false)
	_ = loss.WriteDot(os.Stdout)
	// Output:
	// digraph autograd {
	// 	node [fontname="Helvetica" fontsize=10];
	// 	n0 [label="ctx\n[1 2]" shape=ellipse];
	// 	n1 [label="linear\n[1 2]" shape=box];
	// 	n2 [label="sum\n[]" shape=box];
	// 	n0 -> n1;
	// 	n1 -> n2;
	// }
}
