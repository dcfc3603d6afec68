#!/usr/bin/env bash
# On a machine with an NVIDIA GPU and driver (no Go needed): runs the two
# test binaries that build.sh made (tensor_cuda.test: tensor/cuda's tests;
# bench_cuda.test: bench/cuda's) and prints short tables (docs/cuda.md §6):
#   1. correctness, GPU against CPU: the op table and the backend's own ops
#      (tensor_cuda.test), autograd/nn/optimizers (autograd/autogradtest,
#      nn/nntest), CLIP parity (tiny and ViT-B/16 hash weights; clip/cliptest)
#      and a CoCoOp/CoOp training step (cocoop/cocooptest) (bench_cuda.test);
#   2. sgemm and attention, GPU beside CPU (tensor_cuda.test);
#   3. the CoCoOp training step and evaluation (ViT-B/16 hash weights, 50
#      and 1,000 classes, batch 1 and 8): GPU time and memory beside the
#      two-core CPU time, and the issue's targets.
# cuBLAS and NVRTC must be on the loader path (LD_LIBRARY_PATH), e.g. from
# the nvidia-cublas-cu12 and nvidia-cuda-nvrtc-cu12 wheels or a CUDA install.
# Exit status: 0 all ran and agreed; 1 a mismatch or a failure; 2 a binary
# missing; 3 no usable GPU (the GPU rows and the CoCoOp timings were
# skipped; the reason is printed).
# QUICK=1 skips the ViT-B/16 checks and the CoCoOp timings.
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
ops="$here/tensor_cuda.test"
bin="$here/bench_cuda.test"
for b in "$ops" "$bin"; do
  [ -x "$b" ] || { echo "no $b: run bench/cuda/build.sh on a machine with Go first"; exit 2; }
done
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
cd "$here"

command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader

short=""
[ "${QUICK:-0}" = 1 ] && short="-test.short"

echo "== correctness (GPU against CPU; rel = max|Δ| / max|CPU|)"
"$ops" -test.v $short -test.timeout 20m \
  -test.run '^(TestOpenNamesWhatIsMissing|TestOpsAgainstCPU|TestBackendOpsAgainstCPU)$' \
  >"$out/tests.txt" 2>&1
tests_rc=$?
"$bin" -test.v $short -test.timeout 20m \
  -test.run '^(TestAutogradOnGPU|TestCLIPParity|TestCoCoOpStep)$' \
  >>"$out/tests.txt" 2>&1 || tests_rc=$?
grep -E 'no GPU:|^(--- |ok|FAIL|PASS)' "$out/tests.txt" | head -20
printf '%-44s %12s %12s\n' "check" "max |Δ|" "rel"
awk '/max \|Δ\|/ {
  line=$0; sub(/^ *[a-z_]+\.go:[0-9]+: /, "", line)
  i=index(line, "max |Δ|"); name=substr(line, 1, i-1); sub(/ +$/, "", name)
  n=split(substr(line, i+length("max |Δ|")), f, " ")
  rel=""; if (n >= 3 && f[2]=="rel") rel=f[3]
  printf "%-44s %12s %12s\n", name, f[1], rel }' "$out/tests.txt"
grep -E '^\s+[a-z_]+\.go:[0-9]+: .*(want|differs|shape|: .* on )' "$out/tests.txt" | grep -v 'max |Δ|' | sed 's/^ */MISMATCH /' | head -20
# A benchmark's skip is silent without -test.v: the tests tell whether there is a GPU.
nogpu="$(grep -m1 -o 'no GPU:.*' "$out/tests.txt")"

echo
echo "== sgemm and attention (ns/op; GFLOP/s for sgemm; peak = the caching allocator's high-water mark)"
"$ops" -test.run '^$' -test.bench '^Benchmark(Sgemm|Attention)$' -test.benchtime 2s >"$out/bench.txt" 2>&1
bench_rc=$?
printf '%-34s %14s %10s %10s\n' "benchmark" "ns/op" "GFLOP/s" "peak MiB"
awk '/^Benchmark/ {
  name=$1; sub(/^Benchmark/, "", name); sub(/-[0-9]+$/, "", name)
  ns=""; gf=""; mb=""
  for (i=2; i<=NF; i++) { if ($i=="ns/op") ns=$(i-1); if ($i=="GFLOP/s") gf=$(i-1); if ($i=="peak-MiB") mb=$(i-1) }
  printf "%-34s %14s %10s %10s\n", name, ns, gf, mb }' "$out/bench.txt"
grep -E '^(--- SKIP|.*no GPU:)' "$out/bench.txt" | head -3
[ -n "$nogpu" ] && echo "GPU rows skipped: $nogpu"

cocoop_rc=0
if [ -z "$short" ]; then
  echo
  echo "== CoCoOp on ViT-B/16 hash weights: seconds per step (CPU: 2 cores; GPU: this card)"
  if [ -n "$nogpu" ]; then
    echo "skipped: $nogpu"
  else
  "$bin" -test.run '^$' -test.bench '^BenchmarkCoCoOp$/^gpu$' -test.benchtime 1x -test.timeout 20m >"$out/cocoop_gpu.txt" 2>&1
  cocoop_rc=$?
  if grep -q 'no GPU:' "$out/cocoop_gpu.txt"; then
    grep -E 'no GPU:' "$out/cocoop_gpu.txt" | head -1
  else
    "$bin" -test.run '^$' -test.bench '^BenchmarkCoCoOp$/^cpu$' -test.benchtime 1x -test.cpu 2 -test.timeout 20m >"$out/cocoop_cpu.txt" 2>&1 || cocoop_rc=$?
    printf '%-26s %10s %10s %9s %10s %11s\n' "step" "CPU s" "GPU s" "speedup" "peak MiB" "device MiB"
    awk '
      BEGIN { tr=-1; ev=-1 }
      function field(unit,  i) { for (i=2; i<=NF; i++) if ($i==unit) return $(i-1); return "" }
      /^BenchmarkCoCoOp\// {
        split($1, p, "/"); dev=p[2]; name=p[3]; sub(/-[0-9]+$/, "", name)
        if (!(name in seen)) { seen[name]=1; order[++n]=name }
        t[dev, name]=field("s/op"); if (dev=="gpu") { pk[name]=field("peak-MiB"); dm[name]=field("device-MiB") } }
      END {
        for (k=1; k<=n; k++) { s=order[k]; c=t["cpu", s]; g=t["gpu", s]; sp=""
          if (c!="" && g!="" && g>0) sp=sprintf("%.1fx", c/g)
          printf "%-26s %10s %10s %9s %10s %11s\n", s, (c==""?"-":c), (g==""?"-":g), sp, pk[s], dm[s]
          if (s=="train-50cls-batch1") tr=(c!=""&&g>0)?c/g:-1
          if (s=="eval-1000cls-batch1") ev=(c!=""&&g>0)?c/g:-1 }
        printf "targets: training step batch 1, 50 classes >= 20x CPU: %s; 1,000-class evaluation >= 30x CPU: %s\n",
          (tr<0?"not measured":(tr>=20?sprintf("met (%.1fx)",tr):sprintf("MISSED (%.1fx)",tr))),
          (ev<0?"not measured":(ev>=30?sprintf("met (%.1fx)",ev):sprintf("MISSED (%.1fx)",ev))) }' \
      "$out/cocoop_gpu.txt" "$out/cocoop_cpu.txt"
  fi
  fi
fi

command -v nvidia-smi >/dev/null && { echo; nvidia-smi --query-gpu=memory.used,memory.total --format=csv; }
echo
if [ -n "$nogpu" ]; then echo "NO GPU: the GPU rows were skipped (reason above)"; exit 3; fi
[ $tests_rc -eq 0 ] && [ $bench_rc -eq 0 ] && [ $cocoop_rc -eq 0 ] || {
  echo "FAILED (tests rc $tests_rc, benchmarks rc $bench_rc, CoCoOp rc $cocoop_rc): see above"
  grep -E -A3 '^(--- FAIL|panic)' "$out/tests.txt" "$out"/cocoop_*.txt 2>/dev/null | head -30
  exit 1
}
