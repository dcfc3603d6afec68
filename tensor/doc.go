// Package tensor is GoCoOp's float32 N-d array: row-major storage with
// strides, views that share storage, NumPy-broadcasting elementwise ops,
// reductions, batched matrix products dispatched to package asm, the row ops
// a transformer needs (softmax, layer norm) and a deterministic RNG.
//
// Conventions:
//   - Views (Reshape of a contiguous tensor, Transpose, Permute, T, Slice,
//     Index, Expand, Unsqueeze, Squeeze) never copy; writing through a view
//     writes the original. Every other op returns a fresh contiguous tensor,
//     with one output allocation.
//   - Shape mismatches panic with a *ShapeError naming the op and all shapes
//     involved; defer Catch(&err) at an API boundary turns that into an error.
//   - Axes and dims may be negative (counting from the end) wherever an
//     axis is taken.
//   - Storage lives on the host (CPU) unless moved with To to a device whose
//     Backend was registered; ops never transfer data implicitly.
package tensor
