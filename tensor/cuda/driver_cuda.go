//go:build cuda

package cuda

// The C side: the CUDA driver, cuBLAS and NVRTC are opened with dlopen at
// run time, so this package builds and vets with gcc alone (no CUDA headers,
// no CUDA libraries at link time). The few prototypes and types it needs are
// declared here by hand, from the public CUDA driver, cuBLAS v2 and NVRTC
// APIs; every wrapper makes the package's context current on the calling OS
// thread first (goroutines move between threads). docs/cuda.md §2.

/*
#cgo LDFLAGS: -ldl
#include <dlfcn.h>
#include <stdlib.h>
#include <stddef.h>
#include <string.h>

typedef int CUresult;                 // CUDA_SUCCESS == 0
typedef int CUdevice;
typedef unsigned long long CUdeviceptr;
typedef void *CUcontext, *CUmodule, *CUfunction, *CUstream;
typedef int cublasStatus_t;           // CUBLAS_STATUS_SUCCESS == 0
typedef void *cublasHandle_t;
typedef int nvrtcResult;              // NVRTC_SUCCESS == 0
typedef void *nvrtcProgram;

enum { CUBLAS_OP_N = 0, CUBLAS_OP_T = 1 };
enum { CUBLAS_DEFAULT_MATH = 0, CUBLAS_TF32_TENSOR_OP_MATH = 3 };
enum { ATTR_CC_MAJOR = 75, ATTR_CC_MINOR = 76 }; // CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_*

static void *hcuda, *hblas, *hrtc;
static CUcontext gctx;
static cublasHandle_t gblas;

// Driver API (the _v2 names are the ABI that cuda.h maps the plain names to).
static CUresult (*p_cuInit)(unsigned);
static CUresult (*p_cuDeviceGetCount)(int*);
static CUresult (*p_cuDeviceGet)(CUdevice*, int);
static CUresult (*p_cuDeviceGetName)(char*, int, CUdevice);
static CUresult (*p_cuDeviceGetAttribute)(int*, int, CUdevice);
static CUresult (*p_cuDevicePrimaryCtxRetain)(CUcontext*, CUdevice);
static CUresult (*p_cuCtxSetCurrent)(CUcontext);
static CUresult (*p_cuCtxSynchronize)(void);
static CUresult (*p_cuMemAlloc)(CUdeviceptr*, size_t);
static CUresult (*p_cuMemFree)(CUdeviceptr);
static CUresult (*p_cuMemcpyHtoD)(CUdeviceptr, const void*, size_t);
static CUresult (*p_cuMemcpyDtoH)(void*, CUdeviceptr, size_t);
static CUresult (*p_cuMemsetD32)(CUdeviceptr, unsigned, size_t);
static CUresult (*p_cuMemGetInfo)(size_t*, size_t*);
static CUresult (*p_cuModuleLoadData)(CUmodule*, const void*);
static CUresult (*p_cuModuleGetFunction)(CUfunction*, CUmodule, const char*);
static CUresult (*p_cuLaunchKernel)(CUfunction, unsigned, unsigned, unsigned,
	unsigned, unsigned, unsigned, unsigned, CUstream, void**, void**);
static CUresult (*p_cuGetErrorString)(CUresult, const char**);

// cuBLAS v2.
static cublasStatus_t (*p_cublasCreate)(cublasHandle_t*);
static cublasStatus_t (*p_cublasSetMathMode)(cublasHandle_t, int);
static cublasStatus_t (*p_cublasSgemm)(cublasHandle_t, int, int, int, int, int,
	const float*, const float*, int, const float*, int, const float*, float*, int);
static cublasStatus_t (*p_cublasSgemmStridedBatched)(cublasHandle_t, int, int, int, int, int,
	const float*, const float*, int, long long, const float*, int, long long,
	const float*, float*, int, long long, int);

// NVRTC.
static nvrtcResult (*p_nvrtcCreateProgram)(nvrtcProgram*, const char*, const char*, int, const char* const*, const char* const*);
static nvrtcResult (*p_nvrtcCompileProgram)(nvrtcProgram, int, const char* const*);
static nvrtcResult (*p_nvrtcGetProgramLogSize)(nvrtcProgram, size_t*);
static nvrtcResult (*p_nvrtcGetProgramLog)(nvrtcProgram, char*);
static nvrtcResult (*p_nvrtcGetPTXSize)(nvrtcProgram, size_t*);
static nvrtcResult (*p_nvrtcGetPTX)(nvrtcProgram, char*);
static nvrtcResult (*p_nvrtcDestroyProgram)(nvrtcProgram*);
static const char* (*p_nvrtcGetErrorString)(nvrtcResult);

// open tries each candidate name (NUL-separated, ending with an empty name)
// and returns the handle, or NULL with the last dlerror in *err.
static void* open_first(const char* names, const char** opened, const char** err) {
	for (const char* n = names; *n; n += strlen(n) + 1) {
		void* h = dlopen(n, RTLD_NOW | RTLD_GLOBAL);
		if (h) { *opened = n; return h; }
		*err = dlerror();
	}
	return NULL;
}

#define SYM(h, var, name) do { *(void**)(&var) = dlsym(h, name); if (!var) { *missing = name; return 0; } } while (0)

static int load_cuda(const char** missing) {
	SYM(hcuda, p_cuInit, "cuInit");
	SYM(hcuda, p_cuDeviceGetCount, "cuDeviceGetCount");
	SYM(hcuda, p_cuDeviceGet, "cuDeviceGet");
	SYM(hcuda, p_cuDeviceGetName, "cuDeviceGetName");
	SYM(hcuda, p_cuDeviceGetAttribute, "cuDeviceGetAttribute");
	SYM(hcuda, p_cuDevicePrimaryCtxRetain, "cuDevicePrimaryCtxRetain");
	SYM(hcuda, p_cuCtxSetCurrent, "cuCtxSetCurrent");
	SYM(hcuda, p_cuCtxSynchronize, "cuCtxSynchronize");
	SYM(hcuda, p_cuMemAlloc, "cuMemAlloc_v2");
	SYM(hcuda, p_cuMemFree, "cuMemFree_v2");
	SYM(hcuda, p_cuMemcpyHtoD, "cuMemcpyHtoD_v2");
	SYM(hcuda, p_cuMemcpyDtoH, "cuMemcpyDtoH_v2");
	SYM(hcuda, p_cuMemsetD32, "cuMemsetD32_v2");
	SYM(hcuda, p_cuMemGetInfo, "cuMemGetInfo_v2");
	SYM(hcuda, p_cuModuleLoadData, "cuModuleLoadData");
	SYM(hcuda, p_cuModuleGetFunction, "cuModuleGetFunction");
	SYM(hcuda, p_cuLaunchKernel, "cuLaunchKernel");
	SYM(hcuda, p_cuGetErrorString, "cuGetErrorString");
	return 1;
}

static int load_cublas(const char** missing) {
	SYM(hblas, p_cublasCreate, "cublasCreate_v2");
	SYM(hblas, p_cublasSetMathMode, "cublasSetMathMode");
	SYM(hblas, p_cublasSgemm, "cublasSgemm_v2");
	SYM(hblas, p_cublasSgemmStridedBatched, "cublasSgemmStridedBatched");
	return 1;
}

static int load_nvrtc(const char** missing) {
	SYM(hrtc, p_nvrtcCreateProgram, "nvrtcCreateProgram");
	SYM(hrtc, p_nvrtcCompileProgram, "nvrtcCompileProgram");
	SYM(hrtc, p_nvrtcGetProgramLogSize, "nvrtcGetProgramLogSize");
	SYM(hrtc, p_nvrtcGetProgramLog, "nvrtcGetProgramLog");
	SYM(hrtc, p_nvrtcGetPTXSize, "nvrtcGetPTXSize");
	SYM(hrtc, p_nvrtcGetPTX, "nvrtcGetPTX");
	SYM(hrtc, p_nvrtcDestroyProgram, "nvrtcDestroyProgram");
	SYM(hrtc, p_nvrtcGetErrorString, "nvrtcGetErrorString");
	return 1;
}

// Library opening: which 0 = driver, 1 = cuBLAS, 2 = NVRTC.
static int open_lib(int which, const char* names, const char** opened, const char** err, const char** missing) {
	void* h = open_first(names, opened, err);
	if (!h) return 0;
	switch (which) {
	case 0: hcuda = h; return load_cuda(missing);
	case 1: hblas = h; return load_cublas(missing);
	default: hrtc = h; return load_nvrtc(missing);
	}
}

static const char* cu_error_string(CUresult r) {
	const char* s = NULL;
	if (p_cuGetErrorString && p_cuGetErrorString(r, &s) == 0 && s) return s;
	return "unknown CUDA error";
}

static CUresult cu_init_device(int ordinal, char* name, int namelen, int* major, int* minor) {
	CUresult r;
	int count = 0;
	CUdevice d;
	if ((r = p_cuInit(0))) return r;
	if ((r = p_cuDeviceGetCount(&count))) return r;
	if (count <= ordinal) return 100; // CUDA_ERROR_NO_DEVICE
	if ((r = p_cuDeviceGet(&d, ordinal))) return r;
	if ((r = p_cuDeviceGetName(name, namelen, d))) return r;
	if ((r = p_cuDeviceGetAttribute(major, ATTR_CC_MAJOR, d))) return r;
	if ((r = p_cuDeviceGetAttribute(minor, ATTR_CC_MINOR, d))) return r;
	if ((r = p_cuDevicePrimaryCtxRetain(&gctx, d))) return r;
	return p_cuCtxSetCurrent(gctx);
}

static cublasStatus_t blas_init(int tf32) {
	p_cuCtxSetCurrent(gctx);
	cublasStatus_t s = p_cublasCreate(&gblas);
	if (s) return s;
	return p_cublasSetMathMode(gblas, tf32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH);
}

static CUresult cu_alloc(CUdeviceptr* p, size_t n) { p_cuCtxSetCurrent(gctx); return p_cuMemAlloc(p, n); }
static CUresult cu_free(CUdeviceptr p) { p_cuCtxSetCurrent(gctx); return p_cuMemFree(p); }
static CUresult cu_htod(CUdeviceptr d, const void* h, size_t n) { p_cuCtxSetCurrent(gctx); return p_cuMemcpyHtoD(d, h, n); }
static CUresult cu_dtoh(void* h, CUdeviceptr d, size_t n) { p_cuCtxSetCurrent(gctx); return p_cuMemcpyDtoH(h, d, n); }
static CUresult cu_zero(CUdeviceptr d, size_t n32) { p_cuCtxSetCurrent(gctx); return p_cuMemsetD32(d, 0, n32); }
static CUresult cu_sync(void) { p_cuCtxSetCurrent(gctx); return p_cuCtxSynchronize(); }
static CUresult cu_meminfo(size_t* free, size_t* total) { p_cuCtxSetCurrent(gctx); return p_cuMemGetInfo(free, total); }
static CUresult cu_load_module(CUmodule* m, const void* image) { p_cuCtxSetCurrent(gctx); return p_cuModuleLoadData(m, image); }
static CUresult cu_get_function(CUfunction* f, CUmodule m, const char* name) { p_cuCtxSetCurrent(gctx); return p_cuModuleGetFunction(f, m, name); }

// cu_launch builds the kernel's argument-pointer array on the C side from
// one packed argument block (Go memory may not hold the pointers).
static CUresult cu_launch(CUfunction f, unsigned gx, unsigned gy, unsigned block, unsigned shared,
		void* args, const int* offsets, int nargs) {
	void* params[32];
	if (nargs > 32) return 1; // CUDA_ERROR_INVALID_VALUE
	for (int i = 0; i < nargs; i++) params[i] = (char*)args + offsets[i];
	p_cuCtxSetCurrent(gctx);
	return p_cuLaunchKernel(f, gx, gy, 1, block, 1, 1, shared, NULL, params, NULL);
}

// Row-major C[m×n] = op(A)·op(B) is column-major Cᵀ = op(B)ᵀ·op(A)ᵀ: the
// operands swap and the transposition flags stay with their operands.
static cublasStatus_t blas_sgemm(int ta, int tb, int m, int n, int k, float alpha,
		CUdeviceptr a, int lda, CUdeviceptr b, int ldb, float beta, CUdeviceptr c, int ldc) {
	p_cuCtxSetCurrent(gctx);
	return p_cublasSgemm(gblas, tb ? CUBLAS_OP_T : CUBLAS_OP_N, ta ? CUBLAS_OP_T : CUBLAS_OP_N,
		n, m, k, &alpha, (const float*)b, ldb, (const float*)a, lda, &beta, (float*)c, ldc);
}

static cublasStatus_t blas_sgemm_batched(int ta, int tb, int m, int n, int k, float alpha,
		CUdeviceptr a, int lda, long long sa, CUdeviceptr b, int ldb, long long sb,
		float beta, CUdeviceptr c, int ldc, long long sc, int batch) {
	p_cuCtxSetCurrent(gctx);
	return p_cublasSgemmStridedBatched(gblas, tb ? CUBLAS_OP_T : CUBLAS_OP_N, ta ? CUBLAS_OP_T : CUBLAS_OP_N,
		n, m, k, &alpha, (const float*)b, ldb, sb, (const float*)a, lda, sa, &beta, (float*)c, ldc, sc, batch);
}

// rtc_compile compiles src with the given options; on success *ptx is a
// malloc'd image (free with free); the log (malloc'd, may be NULL) is
// returned either way.
static nvrtcResult rtc_compile(const char* src, const char* name, int nopts, const char** opts,
		char** ptx, char** log) {
	nvrtcProgram prog;
	nvrtcResult r = p_nvrtcCreateProgram(&prog, src, name, 0, NULL, NULL);
	if (r) return r;
	nvrtcResult cr = p_nvrtcCompileProgram(prog, nopts, (const char* const*)opts);
	size_t n = 0;
	*log = NULL;
	if (p_nvrtcGetProgramLogSize(prog, &n) == 0 && n > 1) {
		*log = malloc(n);
		p_nvrtcGetProgramLog(prog, *log);
	}
	if (cr == 0) {
		size_t sz = 0;
		cr = p_nvrtcGetPTXSize(prog, &sz);
		if (cr == 0) {
			*ptx = malloc(sz);
			cr = p_nvrtcGetPTX(prog, *ptx);
		}
	}
	p_nvrtcDestroyProgram(&prog);
	return cr;
}

static const char* rtc_error_string(nvrtcResult r) { return p_nvrtcGetErrorString(r); }
*/
import "C"

import (
	"fmt"
	"strings"
	"unsafe"
)

// Candidate sonames, newest first; docs/cuda.md §2.
var libCandidates = [3][]string{
	{"libcuda.so.1"},
	{"libcublas.so.13", "libcublas.so.12", "libcublas.so.11", "libcublas.so"},
	{"libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so.11.2", "libnvrtc.so.11.1", "libnvrtc.so"},
}

// openLibs dlopens the driver, cuBLAS and NVRTC and resolves their symbols.
func openLibs() error {
	for which, names := range libCandidates {
		list := C.CString(strings.Join(names, "\x00") + "\x00")
		var opened, dlerr, missing *C.char
		ok := C.open_lib(C.int(which), list, &opened, &dlerr, &missing)
		C.free(unsafe.Pointer(list))
		if ok != 0 {
			continue
		}
		e := &LoadError{Library: names[0], Tried: names}
		switch {
		case missing != nil:
			e.Library = C.GoString(opened)
			e.Symbol = C.GoString(missing)
		case dlerr != nil:
			e.Detail = C.GoString(dlerr)
		}
		return e
	}
	return nil
}

func cuErr(what string, r C.CUresult) error {
	if r == 0 {
		return nil
	}
	return &DriverError{Call: what, Code: int(r), Msg: C.GoString(C.cu_error_string(r))}
}

func blasErr(what string, s C.cublasStatus_t) error {
	if s == 0 {
		return nil
	}
	return &DriverError{Call: what, Code: int(s), Msg: cublasStatusName(int(s))}
}

// initDevice makes the primary context of device ordinal current and
// creates the cuBLAS handle.
func initDevice(ordinal int, tf32 bool) (name string, major, minor int, err error) {
	var buf [256]C.char
	var ma, mi C.int
	if err = cuErr("cuInit/device "+fmt.Sprint(ordinal), C.cu_init_device(C.int(ordinal), &buf[0], C.int(len(buf)), &ma, &mi)); err != nil {
		return
	}
	t := 0
	if tf32 {
		t = 1
	}
	if err = blasErr("cublasCreate", C.blas_init(C.int(t))); err != nil {
		return
	}
	return C.GoString(&buf[0]), int(ma), int(mi), nil
}

// cudaMem is the raw allocator under the cache (see alloc.go).
type cudaMem struct{}

func (cudaMem) Alloc(bytes int) (uint64, error) {
	var p C.CUdeviceptr
	if err := cuErr("cuMemAlloc", C.cu_alloc(&p, C.size_t(bytes))); err != nil {
		return 0, err
	}
	return uint64(p), nil
}

func (cudaMem) Free(p uint64) error { return cuErr("cuMemFree", C.cu_free(C.CUdeviceptr(p))) }

func memcpyHtoD(dst uint64, src []float32) error {
	if len(src) == 0 {
		return nil
	}
	return cuErr("cuMemcpyHtoD", C.cu_htod(C.CUdeviceptr(dst), unsafe.Pointer(&src[0]), C.size_t(4*len(src))))
}

func memcpyDtoH(dst []float32, src uint64) error {
	if len(dst) == 0 {
		return nil
	}
	return cuErr("cuMemcpyDtoH", C.cu_dtoh(unsafe.Pointer(&dst[0]), C.CUdeviceptr(src), C.size_t(4*len(dst))))
}

func memZero(dst uint64, n int) error {
	if n == 0 {
		return nil
	}
	return cuErr("cuMemsetD32", C.cu_zero(C.CUdeviceptr(dst), C.size_t(n)))
}

func synchronize() error { return cuErr("cuCtxSynchronize", C.cu_sync()) }

func memInfo() (free, total int, err error) {
	var f, t C.size_t
	err = cuErr("cuMemGetInfo", C.cu_meminfo(&f, &t))
	return int(f), int(t), err
}

func sgemm(ta, tb bool, m, n, k int, alpha float32, a uint64, lda int, b uint64, ldb int, beta float32, c uint64, ldc int) error {
	return blasErr("cublasSgemm_v2", C.blas_sgemm(cbool(ta), cbool(tb), C.int(m), C.int(n), C.int(k), C.float(alpha),
		C.CUdeviceptr(a), C.int(lda), C.CUdeviceptr(b), C.int(ldb), C.float(beta), C.CUdeviceptr(c), C.int(ldc)))
}

func sgemmBatched(ta, tb bool, m, n, k int, alpha float32, a uint64, lda, sa int, b uint64, ldb, sb int, beta float32, c uint64, ldc, sc, batch int) error {
	return blasErr("cublasSgemmStridedBatched", C.blas_sgemm_batched(cbool(ta), cbool(tb), C.int(m), C.int(n), C.int(k), C.float(alpha),
		C.CUdeviceptr(a), C.int(lda), C.longlong(sa), C.CUdeviceptr(b), C.int(ldb), C.longlong(sb),
		C.float(beta), C.CUdeviceptr(c), C.int(ldc), C.longlong(sc), C.int(batch)))
}

func cbool(b bool) C.int {
	if b {
		return 1
	}
	return 0
}

// compile runs NVRTC on src for the device's compute capability and loads
// the PTX as a module.
func compile(src string, major, minor int) (module unsafe.Pointer, err error) {
	csrc, cname := C.CString(src), C.CString("gocoop_kernels.cu")
	defer C.free(unsafe.Pointer(csrc))
	defer C.free(unsafe.Pointer(cname))
	opts := nvrtcOptions(major, minor)
	copts := C.malloc(C.size_t(len(opts)) * C.size_t(unsafe.Sizeof(uintptr(0))))
	defer C.free(copts)
	cs := unsafe.Slice((**C.char)(copts), len(opts))
	for i, o := range opts {
		cs[i] = C.CString(o)
		defer C.free(unsafe.Pointer(cs[i]))
	}
	var ptx, log *C.char
	r := C.rtc_compile(csrc, cname, C.int(len(opts)), (**C.char)(copts), &ptx, &log)
	logText := ""
	if log != nil {
		logText = C.GoString(log)
		C.free(unsafe.Pointer(log))
	}
	if r != 0 {
		return nil, &CompileError{Options: opts, Msg: C.GoString(C.rtc_error_string(r)), Log: logText}
	}
	defer C.free(unsafe.Pointer(ptx))
	var m C.CUmodule
	if err := cuErr("cuModuleLoadData (PTX from NVRTC; a driver older than NVRTC rejects newer PTX)", C.cu_load_module(&m, unsafe.Pointer(ptx))); err != nil {
		return nil, err
	}
	return unsafe.Pointer(m), nil
}

func getFunction(module unsafe.Pointer, name string) (unsafe.Pointer, error) {
	cn := C.CString(name)
	defer C.free(unsafe.Pointer(cn))
	var f C.CUfunction
	if err := cuErr("cuModuleGetFunction "+name, C.cu_get_function(&f, C.CUmodule(module), cn)); err != nil {
		return nil, err
	}
	return unsafe.Pointer(f), nil
}

// launch runs f on a gx×gy grid of block threads with the packed arguments
// (see args.go); args and offsets are copied into C memory for the call.
func launch(f unsafe.Pointer, gx, gy, block, shared int, a *argPack) error {
	if len(a.offsets) == 0 {
		return fmt.Errorf("cuda: launch with no arguments")
	}
	buf := C.CBytes(a.buf)
	defer C.free(buf)
	offs := C.malloc(C.size_t(4 * len(a.offsets)))
	defer C.free(offs)
	co := unsafe.Slice((*C.int)(offs), len(a.offsets))
	for i, o := range a.offsets {
		co[i] = C.int(o)
	}
	return cuErr("cuLaunchKernel", C.cu_launch(C.CUfunction(f), C.unsigned(gx), C.unsigned(gy), C.unsigned(block), C.unsigned(shared),
		buf, (*C.int)(offs), C.int(len(a.offsets))))
}
