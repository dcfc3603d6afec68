#!/usr/bin/env bash
# Builds the two CUDA test-and-benchmark binaries that run.sh runs on a GPU
# machine without Go (docs/cuda.md §6). Needs Go and gcc, not CUDA.
#   tensor_cuda.test  tensor/cuda's tests: the op table, the backend's own
#                     ops, sgemm and attention timings
#   bench_cuda.test   bench/cuda's tests: autograd/nn/optimizers, CLIP
#                     parity, a CoCoOp/CoOp step, the CoCoOp timings
set -euo pipefail
cd "$(dirname "$0")/../.."
rm -f bench/cuda/cuda.test # the single binary of earlier versions
go test -c -tags cuda -o bench/cuda/tensor_cuda.test ./tensor/cuda
go test -c -tags cuda -o bench/cuda/bench_cuda.test ./bench/cuda
echo "built bench/cuda/tensor_cuda.test and bench/cuda/bench_cuda.test; copy bench/cuda/ to the GPU machine and run bench/cuda/run.sh there"
