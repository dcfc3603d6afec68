package cuda

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/gocoop/gocoop/asm"
)

// The kernel source cannot be compiled without NVRTC; these checks catch
// what goes wrong between it and the Go side without a GPU.

func TestKernelSourceDeclaresEveryKernel(t *testing.T) {
	decl := regexp.MustCompile(`__global__ void (\w+)\(`)
	found := map[string]int{}
	for _, m := range decl.FindAllStringSubmatch(kernelSource, -1) {
		found[m[1]]++
	}
	for _, k := range kernelNames {
		if found[k] != 1 {
			t.Errorf("kernel %s declared %d times in kernelSource", k, found[k])
		}
		delete(found, k)
	}
	for k := range found {
		t.Errorf("kernel %s is not in kernelNames (the backend would never resolve it)", k)
	}
	if strings.Contains(kernelSource, "#include") {
		t.Error("kernelSource must not #include: NVRTC has no standard headers here")
	}
	if !strings.Contains(kernelSource, `extern "C" {`) {
		t.Error(`kernels must be extern "C" (unmangled names for cuModuleGetFunction)`)
	}
}

func TestKernelSourceBalanced(t *testing.T) {
	// Strip comments, then count brackets.
	src := regexp.MustCompile(`(?s)/\*.*?\*/`).ReplaceAllString(kernelSource, "")
	src = regexp.MustCompile(`//[^\n]*`).ReplaceAllString(src, "")
	for _, p := range []string{"{}", "()", "[]"} {
		depth := 0
		for i, r := range src {
			switch r {
			case rune(p[0]):
				depth++
			case rune(p[1]):
				depth--
			}
			if depth < 0 {
				t.Fatalf("unbalanced %q near byte %d: %q", p[1], i, src[max(0, i-60):i+1])
			}
		}
		if depth != 0 {
			t.Errorf("%d unclosed %q", depth, p[0])
		}
	}
}

// The constants the kernels spell out are the CPU kernels' (package asm).
func TestKernelConstantsMatchCPU(t *testing.T) {
	for name, want := range map[string]float32{"EXP_LO": asm.ExpLo, "EXP_HI": asm.ExpHi, "QUICKGELU_ALPHA": asm.QuickGELUAlpha} {
		m := regexp.MustCompile(`#define ` + name + ` (\S+)f\b`).FindStringSubmatch(kernelSource)
		if m == nil {
			t.Errorf("kernelSource lacks #define %s <float>f", name)
			continue
		}
		if v, err := strconv.ParseFloat(m[1], 32); err != nil || float32(v) != want {
			t.Errorf("#define %s %sf in the kernels, asm has %v", name, m[1], want)
		}
	}
}

func TestOpCodesMatchKernelSource(t *testing.T) {
	want := map[string]int{
		"COPY": opCopy, "ADD": opAdd, "SUB": opSub, "MUL": opMul, "DIV": opDiv, "MAX": opMax,
		"NEG": opNeg, "EXP": opExp, "LOG": opLog, "SQRT": opSqrt, "TANH": opTanh, "SIGMOID": opSigmoid,
		"RELU": opRelu, "SQUARE": opSquare, "QUICKGELU": opQuickGELU, "GT": opGT, "QUICKGELU_GRAD": opQuickGELUGrad,
	}
	def := regexp.MustCompile(`#define OP_(\w+) (\d+)`)
	seen := 0
	for _, m := range def.FindAllStringSubmatch(kernelSource, -1) {
		v, _ := strconv.Atoi(m[2])
		w, ok := want[m[1]]
		if !ok || v != w {
			t.Errorf("OP_%s = %d in the kernels, Go has %d (known: %v)", m[1], v, w, ok)
		}
		seen++
	}
	if seen != len(want) {
		t.Errorf("%d OP_ defines, Go has %d op codes", seen, len(want))
	}
	if !strings.Contains(kernelSource, "#define MAX_RANK "+strconv.Itoa(maxRank)+"\n") {
		t.Errorf("MAX_RANK differs from Go's maxRank %d", maxRank)
	}
}

func TestArgPackLayout(t *testing.T) {
	l, err := makeLayout([]int{2, 3}, []int{3, 1}, []int{0, 1})
	if err != nil {
		t.Fatal(err)
	}
	a := new(argPack).i32(7).ptr(0xdeadbeef).layout(l).f32(1.5)
	// int at 0, pointer aligned to 8, Layout (4 + 4·8·4 = 132 bytes) at 16,
	// float at 148.
	if want := []int{0, 8, 16, 148}; !equalInts(a.offsets, want) {
		t.Errorf("offsets %v, want %v", a.offsets, want)
	}
	if len(a.buf) != 152 {
		t.Errorf("%d bytes, want 152", len(a.buf))
	}
	// Layout.shape[1] = 3 sits at byte 16 + 4 + 4.
	if a.buf[24] != 3 {
		t.Errorf("shape[1] byte = %d", a.buf[24])
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestErrorMessagesNameWhatIsMissing(t *testing.T) {
	e := &LoadError{Library: "libcuda.so.1", Tried: []string{"libcuda.so.1"}, Detail: "libcuda.so.1: cannot open shared object file"}
	if s := e.Error(); !strings.HasPrefix(s, "cuda: no libcuda.so.1: ") || !strings.Contains(s, "no GPU") {
		t.Errorf("driver: %s", s)
	}
	e = &LoadError{Library: "libcublas.so.13", Tried: []string{"libcublas.so.13", "libcublas.so.12"}}
	if s := e.Error(); !strings.Contains(s, "tried libcublas.so.13, libcublas.so.12") || !strings.Contains(s, "LD_LIBRARY_PATH") {
		t.Errorf("cuBLAS: %s", s)
	}
	e = &LoadError{Library: "libnvrtc.so.11.2", Symbol: "nvrtcGetPTX"}
	if s := e.Error(); !strings.Contains(s, "libnvrtc.so.11.2 has no symbol nvrtcGetPTX") {
		t.Errorf("symbol: %s", s)
	}
	d := &DriverError{Call: "cublasSgemm_v2", Code: 7, Msg: cublasStatusName(7)}
	if s := d.Error(); s != "cuda: cublasSgemm_v2: error 7 (CUBLAS_STATUS_INVALID_VALUE)" {
		t.Errorf("driver error: %s", s)
	}
	if o := nvrtcOptions(9, 0); o[0] != "--gpu-architecture=compute_90" {
		t.Errorf("options %v", o)
	}
}

// clangCUDAPrelude declares for clang's CUDA front end what NVRTC gives
// every program without an #include: the qualifiers, the thread indices
// (clang's own header), and the math functions and intrinsics kernelSource
// calls, through libdevice's declarations and NVVM builtins (left as calls:
// -nocudalib, there is no libdevice here).
const clangCUDAPrelude = `#define __device__ __attribute__((device))
#define __global__ __attribute__((global))
#define __shared__ __attribute__((shared))
#define __forceinline__ __inline__ __attribute__((always_inline))
#include "__clang_cuda_builtin_vars.h"
#include "__clang_cuda_libdevice_declares.h"
__device__ inline float expf(float x) { return __nv_expf(x); }
__device__ inline float logf(float x) { return __nv_logf(x); }
__device__ inline float sqrtf(float x) { return __nv_sqrtf(x); }
__device__ inline float tanhf(float x) { return __nv_tanhf(x); }
__device__ inline float rsqrtf(float x) { return __nv_rsqrtf(x); }
__device__ inline float fmaxf(float a, float b) { return __nv_fmaxf(a, b); }
__device__ inline float fminf(float a, float b) { return __nv_fminf(a, b); }
__device__ inline float __int_as_float(int x) { return __nv_int_as_float(x); }
__device__ inline float __shfl_down_sync(unsigned m, float v, unsigned d) { return __nvvm_shfl_sync_down_f32(m, v, d, 0x1f); }
__device__ inline float atomicAdd(float* p, float v) { return __nvvm_atom_add_gen_f(p, v); }
`

// TestKernelSourceCompilesAsCUDA compiles kernelSource as CUDA device code
// with clang (sm_80, PTX 7.0, every warning an error) into PTX, and checks
// that the PTX exports every kernel the backend resolves under its C name.
// It catches what a C++ compiler alone would not: host code called from
// device code, misplaced __shared__, a kernel that lost extern "C"
// (TestOnSimulatedGPU compiles the same source as C++ for the host, with
// -tags cuda). NVRTC is still the compiler that counts (on a GPU
// machine, bench/cuda/run.sh); .ci/run installs clang (Debian's package).
func TestKernelSourceCompilesAsCUDA(t *testing.T) {
	clang, err := exec.LookPath("clang")
	if err != nil {
		t.Skipf("no clang on this machine (apt-get install clang): %v", err)
	}
	dir := t.TempDir()
	src, ptx := filepath.Join(dir, "kernels.cu"), filepath.Join(dir, "kernels.ptx")
	if err := os.WriteFile(src, []byte(clangCUDAPrelude+kernelSource), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(clang, "-x", "cuda", "--cuda-gpu-arch=sm_80", "--cuda-device-only", "-nocudainc", "-nocudalib",
		"-Xclang", "-target-feature", "-Xclang", "+ptx70", "-Wall", "-Werror", "-S", "-o", ptx, src)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, out)
	}
	b, err := os.ReadFile(ptx)
	if err != nil {
		t.Fatal(err)
	}
	entries := map[string]bool{}
	for _, m := range regexp.MustCompile(`\.visible \.entry (\w+)\(`).FindAllStringSubmatch(string(b), -1) {
		entries[m[1]] = true
	}
	for _, k := range kernelNames {
		if !entries[k] {
			t.Errorf("the PTX has no entry %s (entries: %v)", k, entries)
		}
	}
	if len(entries) != len(kernelNames) {
		t.Errorf("the PTX has %d entries, kernelNames %d", len(entries), len(kernelNames))
	}
}

// TestLaunchArgumentsMatchKernels compares, for every b.launch in the Go
// source, the argPack chain (i32, f32, ptr, layout in order) with the
// kernel's parameter list in kernelSource (int, float, a pointer, Layout):
// cuLaunchKernel trusts both to agree, and only a GPU would notice that
// they do not.
func TestLaunchArgumentsMatchKernels(t *testing.T) {
	params := map[string][]string{}
	for _, m := range regexp.MustCompile(`__global__ void (\w+)\(([^)]*)\)`).FindAllStringSubmatch(kernelSource, -1) {
		var kinds []string
		for _, p := range strings.Split(m[2], ",") {
			p = strings.TrimSpace(p)
			switch {
			case strings.Contains(p, "*"):
				kinds = append(kinds, "ptr")
			case strings.HasPrefix(p, "int "):
				kinds = append(kinds, "i32")
			case strings.HasPrefix(p, "float "):
				kinds = append(kinds, "f32")
			case strings.HasPrefix(p, "Layout "):
				kinds = append(kinds, "layout")
			default:
				t.Fatalf("kernel %s: parameter %q of an unknown kind", m[1], p)
			}
		}
		params[m[1]] = kinds
	}
	launch := regexp.MustCompile(`b\.launch\("(\w+)",`)
	chain := regexp.MustCompile(`\.\s*(i32|f32|ptr|layout)\(`)
	seen := map[string]bool{}
	for _, file := range []string{"backend_cuda.go", "ops_cuda.go"} {
		b, err := os.ReadFile(file)
		if errors.Is(err, os.ErrNotExist) {
			t.Skipf("%s is not here (a test binary run away from its source)", file)
		}
		if err != nil {
			t.Fatal(err)
		}
		src := string(b)
		for _, loc := range launch.FindAllStringSubmatchIndex(src, -1) {
			name := src[loc[2]:loc[3]]
			seen[name] = true
			rest := src[loc[1]:]
			end := strings.Index(rest, "\n\t}") // the end of the launch statement's block
			if i := strings.Index(rest, "b.launch("); i >= 0 && (end < 0 || i < end) {
				end = i
			}
			if end < 0 {
				end = len(rest)
			}
			var got []string
			for _, c := range chain.FindAllStringSubmatch(rest[:end], -1) {
				got = append(got, c[1])
			}
			if name == "attention_backward" { // its pack is built before: 3 ints, the scale, 8 pointers in a loop
				got = []string{"i32", "i32", "i32", "f32", "ptr", "ptr", "ptr", "ptr", "ptr", "ptr", "ptr", "ptr"}
			}
			if want := params[name]; strings.Join(got, " ") != strings.Join(want, " ") {
				t.Errorf("%s: %s launches it with %v, the kernel takes %v", name, file, got, want)
			}
		}
	}
	for _, k := range kernelNames {
		if !seen[k] {
			t.Errorf("kernel %s is never launched", k)
		}
	}
}
