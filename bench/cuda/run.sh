#!/usr/bin/env bash
# On a machine with an NVIDIA GPU and driver (no Go needed): runs the test
# binary that build.sh made and prints a short table — the op table's
# agreement with the CPU, the model kernels' agreement with autograd, and
# sgemm and attention times on the GPU beside the CPU. docs/cuda.md §6.
# cuBLAS and NVRTC must be on the loader path (LD_LIBRARY_PATH), e.g. from
# the nvidia-cublas-cu12 and nvidia-cuda-nvrtc-cu12 wheels or a CUDA install.
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
bin="$here/cuda.test"
[ -x "$bin" ] || { echo "no $bin: run bench/cuda/build.sh on a machine with Go first"; exit 2; }
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
cd "$here"

command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader

echo "== correctness (GPU against CPU)"
"$bin" -test.v -test.run '^(TestOpenNamesWhatIsMissing|TestOpsAgainstCPU|TestModelKernelsAgainstAutograd)$' >"$out/tests.txt" 2>&1
tests_rc=$?
grep -E 'no GPU:|^(--- |ok|FAIL|PASS)' "$out/tests.txt" | head -6
printf '%-34s %s\n' "check" "max |GPU - CPU|"
grep -E 'max \|Δ\|' "$out/tests.txt" | sed -E 's/^ *cuda_test.go:[0-9]+: //; s/max \|Δ\| //' | awk '{v=$NF; $NF=""; printf "%-34s %s\n", $0, v}'
grep -E '^\s+cuda_test.go:[0-9]+: .*(want|differs|shape)' "$out/tests.txt" | sed 's/^ */MISMATCH /'

echo
echo "== speed (ns/op; GFLOP/s for sgemm; peak = the caching allocator's high-water mark)"
"$bin" -test.run '^$' -test.bench '^Benchmark(Sgemm|Attention)$' -test.benchtime 2s >"$out/bench.txt" 2>&1
bench_rc=$?
printf '%-34s %14s %10s %10s\n' "benchmark" "ns/op" "GFLOP/s" "peak MiB"
awk '/^Benchmark/ {
  name=$1; sub(/^Benchmark/, "", name); sub(/-[0-9]+$/, "", name)
  ns=""; gf=""; mb=""
  for (i=2; i<=NF; i++) { if ($i=="ns/op") ns=$(i-1); if ($i=="GFLOP/s") gf=$(i-1); if ($i=="peak-MiB") mb=$(i-1) }
  printf "%-34s %14s %10s %10s\n", name, ns, gf, mb }' "$out/bench.txt"
grep -E '^(--- SKIP|.*no GPU:)' "$out/bench.txt" | head -3

command -v nvidia-smi >/dev/null && { echo; nvidia-smi --query-gpu=memory.used,memory.total --format=csv; }
echo
echo "Not measured yet: CLIP parity and the CoCoOp train/eval steps on the GPU (the models do not run on the device yet; docs/cuda.md §5)."
if grep -q 'no GPU:' "$out/tests.txt"; then echo "NO GPU: the GPU rows were skipped (reason above)"; exit 3; fi
[ $tests_rc -eq 0 ] && [ $bench_rc -eq 0 ] || { echo "FAILED (tests rc $tests_rc, benchmarks rc $bench_rc): see above"; exit 1; }
