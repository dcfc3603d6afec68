#!/usr/bin/env bash
# Builds the CUDA test-and-benchmark binary that run.sh runs on a GPU
# machine without Go (docs/cuda.md §6). Needs Go and gcc, not CUDA.
set -euo pipefail
cd "$(dirname "$0")/../.."
go test -c -tags cuda -o bench/cuda/cuda.test ./tensor/cuda
echo "built bench/cuda/cuda.test; copy bench/cuda/ to the GPU machine and run bench/cuda/run.sh there"
