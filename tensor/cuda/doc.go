// Package cuda is GoCoOp's optional CUDA backend for package tensor.
//
// Built with -tags cuda it opens the CUDA driver (libcuda.so.1), cuBLAS and
// NVRTC with dlopen at run time — no CUDA headers or libraries are needed to
// build it — compiles the kernels of kernels.go with NVRTC, and registers a
// tensor.Backend for the device returned by Open. Without the tag (the
// default, pure-Go build) Open reports that the binary was built without
// CUDA support.
//
// Tensors move with To (no implicit transfers); MatMul runs on cuBLAS
// (fp32; TF32 only with Options.TF32), and every other tensor op the models
// use — elementwise ops, reductions, softmax and layer norm with their
// backward, gathers, cross-entropy, the optimizer updates — runs on the
// kernels of tensor.Kernels, so that clip.CLIP.To(dev) moves CLIP and CoCoOp
// onto the GPU. What runs where, the kernel list and what is verified (no
// GPU has run it yet) are in docs/cuda.md.
package cuda
