// Package cuda holds the GPU checks and benchmarks above the tensor layer,
// in its tests (built with -tags cuda): autograd's ops, nn's modules and
// the optimizers (autograd/autogradtest, nn/nntest), CLIP parity
// (clip/cliptest) and a CoCoOp/CoOp training step (cocoop/cocooptest)
// against the CPU, and the CoCoOp training step and evaluation timed on
// ViT-B/16 hash weights (BenchmarkCoCoOp). The backend's own ops and the
// sgemm and attention timings are tensor/cuda's tests.
//
// build.sh compiles both test binaries (bench_cuda.test from this package,
// tensor_cuda.test from tensor/cuda) for run.sh, which runs them on a GPU
// machine without Go and prints the tables (docs/cuda.md §6). Without a GPU
// every test here skips with the reason.
package cuda
