package cuda

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
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
