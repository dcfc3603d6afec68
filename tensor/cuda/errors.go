package cuda

import (
	"fmt"
	"strings"
)

// LoadError reports a CUDA library that could not be opened, or a symbol
// missing from it (a library too old).
type LoadError struct {
	Library string   // the soname that failed (or the one opened, for a missing symbol)
	Tried   []string // every name tried
	Symbol  string   // set when the library opened but lacks this symbol
	Detail  string   // dlerror's text
}

// Error names what is missing, starting "no <library>: ".
func (e *LoadError) Error() string {
	if e.Symbol != "" {
		return fmt.Sprintf("cuda: %s has no symbol %s (CUDA too old?)", e.Library, e.Symbol)
	}
	msg := fmt.Sprintf("cuda: no %s", e.Library)
	if len(e.Tried) > 1 {
		msg += " (tried " + strings.Join(e.Tried, ", ") + ")"
	}
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	return msg + hint(e.Library)
}

func hint(lib string) string {
	switch {
	case strings.HasPrefix(lib, "libcuda."):
		return "; the NVIDIA driver is not installed, or this machine has no GPU"
	case strings.HasPrefix(lib, "libcublas"), strings.HasPrefix(lib, "libnvrtc"):
		return "; install the CUDA runtime libraries (cuBLAS, NVRTC) or add their directory to LD_LIBRARY_PATH"
	}
	return ""
}

// DriverError is a failed CUDA driver or cuBLAS call.
type DriverError struct {
	Call string
	Code int
	Msg  string
}

// Error names the call, the code and the library's description.
func (e *DriverError) Error() string {
	return fmt.Sprintf("cuda: %s: error %d (%s)", e.Call, e.Code, e.Msg)
}

// CompileError is an NVRTC compilation failure of the kernel source.
type CompileError struct {
	Options []string
	Msg     string
	Log     string
}

// Error gives NVRTC's message and its log.
func (e *CompileError) Error() string {
	return fmt.Sprintf("cuda: NVRTC %s (options %s):\n%s", e.Msg, strings.Join(e.Options, " "), e.Log)
}

// cublasStatusName spells cuBLAS v2's status codes.
func cublasStatusName(s int) string {
	switch s {
	case 1:
		return "CUBLAS_STATUS_NOT_INITIALIZED"
	case 3:
		return "CUBLAS_STATUS_ALLOC_FAILED"
	case 7:
		return "CUBLAS_STATUS_INVALID_VALUE"
	case 8:
		return "CUBLAS_STATUS_ARCH_MISMATCH"
	case 11:
		return "CUBLAS_STATUS_MAPPING_ERROR"
	case 13:
		return "CUBLAS_STATUS_EXECUTION_FAILED"
	case 14:
		return "CUBLAS_STATUS_INTERNAL_ERROR"
	case 15:
		return "CUBLAS_STATUS_NOT_SUPPORTED"
	case 16:
		return "CUBLAS_STATUS_LICENSE_ERROR"
	}
	return "cuBLAS status " + fmt.Sprint(s)
}

// nvrtcOptions are the NVRTC flags for a device of compute capability
// major.minor: PTX for that virtual architecture, IEEE float32 (no fast
// math: the kernels are checked against the CPU path at float32
// tolerances).
func nvrtcOptions(major, minor int) []string {
	return []string{
		fmt.Sprintf("--gpu-architecture=compute_%d%d", major, minor),
		"--std=c++14",
		"--fmad=true",
	}
}
