package autograd_test

import (
	"fmt"

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
