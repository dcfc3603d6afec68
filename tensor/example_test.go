package tensor_test

import (
	"fmt"

	"github.com/gocoop/gocoop/tensor"
)

// A transpose is a view: the same storage read with the strides swapped.
// Contiguous copies only when the layout asks for it.
func ExampleTensor_Transpose() {
	a := tensor.FromSlice([]float32{1, 2, 3, 4, 5, 6}, 2, 3)
	t := a.T()
	fmt.Println("a", a.Shape(), a.Strides(), a.IsContiguous())
	fmt.Println("aᵀ", t.Shape(), t.Strides(), t.IsContiguous(), t.ToSlice())
	c := t.Contiguous()
	fmt.Println("copy", c.Shape(), c.Strides(), c.IsContiguous())
	s := a.Slice(1, 1, 3) // columns 1..2: a view with an offset
	fmt.Println("slice", s.Shape(), s.Strides(), s.IsContiguous(), s.ToSlice())
	// Output:
	// a [2 3] [3 1] true
	// aᵀ [3 2] [1 3] false [1 4 2 5 3 6]
	// copy [3 2] [2 1] true
	// slice [2 2] [3 1] false [2 3 5 6]
}
