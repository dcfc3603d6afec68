//go:build cuda

package cuda

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The CUDA simulator: libraries named as the driver, cuBLAS and NVRTC that
// the backend opens (libcuda.so.1, libcublas.so.12, libnvrtc.so.12), built
// here with g++ from kernelSource itself and the C++ below. Each kernel is
// the kernel source compiled for the host: every CUDA thread of a block an
// OS thread (kept from launch to launch), the blocks one after another, __syncthreads a barrier, a
// warp's shuffles an exchange through memory between two barriers,
// __shared__ arrays static, atomicAdd an atomic_ref. Device memory is host
// memory; cuBLAS is a naive column-major sgemm; NVRTC only checks that the
// program it is given is the source the kernels were built from. So the
// whole tagged backend runs here, without a GPU: the cgo calls, the
// argument packing, the launches and every kernel's arithmetic, against
// the CPU (TestOnSimulatedGPU). What it cannot show is the GPU's own
// behaviour: NVRTC and ptxas, cuBLAS itself, the driver, timing, warps
// that do not run in lockstep (docs/cuda.md §5).

// simPrelude declares what kernelSource takes from CUDA, for the host.
const simPrelude = `// GoCoOp's CUDA simulator: the kernel source compiled as C++ for the host,
// each CUDA thread of a block an OS thread, blocks one after another.
#include <atomic>
#include <barrier>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

struct dim3 { unsigned x = 1, y = 1, z = 1; };
static thread_local dim3 threadIdx, blockIdx;
static dim3 blockDim, gridDim;

struct SimBlock {
	std::unique_ptr<std::barrier<>> bar;
	std::vector<std::unique_ptr<std::barrier<>>> warps;
	float warpbuf[32][32];
	std::vector<float> dyn;
};
static SimBlock* sim_block;

#define __global__
#define __device__
#define __forceinline__ inline
#define __shared__ static
static inline void __syncthreads() { sim_block->bar->arrive_and_wait(); }
static inline float __shfl_down_sync(unsigned, float v, unsigned d) {
	unsigned lane = threadIdx.x & 31, w = threadIdx.x >> 5;
	sim_block->warpbuf[w][lane] = v;
	sim_block->warps[w]->arrive_and_wait();
	float r = lane + d < 32 ? sim_block->warpbuf[w][lane + d] : v;
	sim_block->warps[w]->arrive_and_wait();
	return r;
}
static inline float atomicAdd(float* p, float v) { return std::atomic_ref<float>(*p).fetch_add(v); }
static inline float __int_as_float(int i) { float f; std::memcpy(&f, &i, 4); return f; }
static inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
static inline float* sim_dyn_shared() { return sim_block->dyn.data(); }
// ---- the launcher: a kernel's parameters unpacked from cuLaunchKernel's
// pointer array by its C++ signature.
struct SimKernel { virtual void call(void** p) = 0; virtual ~SimKernel() {} };
template <class... A> struct SimKernelT : SimKernel {
	void (*fn)(A...);
	explicit SimKernelT(void (*f)(A...)) : fn(f) {}
	void call(void** p) override { callI(p, std::index_sequence_for<A...>{}); }
	template <size_t... I> void callI(void** p, std::index_sequence<I...>) { fn(*(std::remove_reference_t<A>*)p[I]...); }
};
template <class... A> static SimKernel* simKernel(void (*fn)(A...)) { return new SimKernelT<A...>(fn); }

`

// simDriver is the driver API, cuBLAS and NVRTC entry points the backend
// resolves (driver_cuda.go), over host memory and the simulated kernels.
const simDriver = `typedef int CUresult;
typedef unsigned long long CUdeviceptr;

// SimPool keeps the OS threads that play a block's CUDA threads from one
// launch to the next: run(n, f) has threads 0..n−1 each call f(id) once
// and returns when all have.
struct SimPool {
	std::mutex mu;
	std::condition_variable start, done;
	unsigned gen = 0, active = 0, remaining = 0;
	std::function<void(unsigned)> job;
	std::vector<std::thread> threads;
	void run(unsigned n, std::function<void(unsigned)> f) {
		std::unique_lock<std::mutex> l(mu);
		while (threads.size() < n) {
			unsigned id = threads.size();
			threads.emplace_back([this, id] { loop(id); });
		}
		job = std::move(f);
		active = remaining = n;
		gen++;
		start.notify_all();
		done.wait(l, [&] { return remaining == 0; });
	}
	void loop(unsigned id) {
		unsigned seen = 0;
		for (;;) {
			std::function<void(unsigned)> f;
			{
				std::unique_lock<std::mutex> l(mu);
				start.wait(l, [&] { return gen != seen && id < active; });
				seen = gen;
				f = job;
			}
			f(id);
			std::lock_guard<std::mutex> l(mu);
			if (--remaining == 0) done.notify_all();
		}
	}
};
static SimPool& sim_pool() {
	static SimPool* p = new SimPool; // never destroyed: its threads live as long as the process
	return *p;
}

static std::string sim_last_log;

extern "C" {
CUresult cuInit(unsigned) { return 0; }
CUresult cuDeviceGetCount(int* n) { *n = 1; return 0; }
CUresult cuDeviceGet(int* d, int) { *d = 0; return 0; }
CUresult cuDeviceGetName(char* name, int len, int) { std::snprintf(name, len, "GoCoOp CUDA simulator (CPU threads)"); return 0; }
CUresult cuDeviceGetAttribute(int* v, int attr, int) { *v = attr == 75 ? 9 : 0; return 0; }
CUresult cuDevicePrimaryCtxRetain(void** ctx, int) { *ctx = (void*)1; return 0; }
CUresult cuCtxSetCurrent(void*) { return 0; }
CUresult cuCtxSynchronize(void) { return 0; }
CUresult cuMemAlloc_v2(CUdeviceptr* p, size_t n) {
	void* m = std::aligned_alloc(256, (n + 255) / 256 * 256 + 256);
	if (!m) return 2; // CUDA_ERROR_OUT_OF_MEMORY
	std::memset(m, 0xff, n); // NaN garbage, as fresh device memory may hold anything
	*p = (CUdeviceptr)m;
	return 0;
}
CUresult cuMemFree_v2(CUdeviceptr p) { std::free((void*)p); return 0; }
CUresult cuMemcpyHtoD_v2(CUdeviceptr d, const void* h, size_t n) { std::memcpy((void*)d, h, n); return 0; }
CUresult cuMemcpyDtoH_v2(void* h, CUdeviceptr d, size_t n) { std::memcpy(h, (void*)d, n); return 0; }
CUresult cuMemsetD32_v2(CUdeviceptr d, unsigned v, size_t n) { unsigned* p = (unsigned*)d; for (size_t i = 0; i < n; i++) p[i] = v; return 0; }
CUresult cuMemGetInfo_v2(size_t* free, size_t* total) { *free = *total = size_t(16) << 30; return 0; }
CUresult cuModuleLoadData(void** m, const void*) { *m = (void*)1; return 0; }
CUresult cuModuleGetFunction(void** f, void*, const char* name) {
	auto it = sim_kernels().find(name);
	if (it == sim_kernels().end()) return 500; // CUDA_ERROR_NOT_FOUND
	*f = it->second;
	return 0;
}
CUresult cuLaunchKernel(void* f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz,
		unsigned shared, void*, void** params, void**) {
	if (gz != 1 || by != 1 || bz != 1 || bx == 0 || bx > 1024) return 1; // CUDA_ERROR_INVALID_VALUE
	SimKernel* k = (SimKernel*)f;
	gridDim = {gx, gy, 1};
	blockDim = {bx, 1, 1};
	SimBlock blk;
	blk.bar = std::make_unique<std::barrier<>>(bx);
	for (unsigned w = 0; w * 32 < bx; w++) blk.warps.push_back(std::make_unique<std::barrier<>>(std::min(32u, bx - 32 * w)));
	blk.dyn.assign(shared / 4 + 1, NAN);
	sim_block = &blk;
	sim_pool().run(bx, [&](unsigned t) {
		threadIdx = {t, 0, 0};
		for (unsigned y = 0; y < gy; y++) {
			for (unsigned x = 0; x < gx; x++) {
				blockIdx = {x, y, 0};
				k->call(params);
				blk.bar->arrive_and_wait(); // the block is done before the next reuses shared memory
			}
		}
	});
	return 0;
}
CUresult cuGetErrorString(CUresult, const char** s) { *s = "simulated CUDA error"; return 0; }

// cuBLAS: column-major, as the library.
int cublasCreate_v2(void** h) { *h = (void*)1; return 0; }
int cublasSetMathMode(void*, int) { return 0; }
static void sim_sgemm(int ta, int tb, int m, int n, int k, float alpha, const float* a, int lda,
		const float* b, int ldb, float beta, float* c, int ldc) {
	for (int j = 0; j < n; j++) {
		for (int i = 0; i < m; i++) {
			float s = 0;
			for (int l = 0; l < k; l++) {
				float x = ta ? a[l + (size_t)i * lda] : a[i + (size_t)l * lda];
				float y = tb ? b[j + (size_t)l * ldb] : b[l + (size_t)j * ldb];
				s += x * y;
			}
			float* cij = &c[i + (size_t)j * ldc];
			*cij = beta == 0 ? alpha * s : alpha * s + beta * *cij;
		}
	}
}
int cublasSgemm_v2(void*, int ta, int tb, int m, int n, int k, const float* alpha, const float* a, int lda,
		const float* b, int ldb, const float* beta, float* c, int ldc) {
	sim_sgemm(ta, tb, m, n, k, *alpha, a, lda, b, ldb, *beta, c, ldc);
	return 0;
}
int cublasSgemmStridedBatched(void*, int ta, int tb, int m, int n, int k, const float* alpha, const float* a, int lda,
		long long sa, const float* b, int ldb, long long sb, const float* beta, float* c, int ldc, long long sc, int batch) {
	for (int i = 0; i < batch; i++) sim_sgemm(ta, tb, m, n, k, *alpha, a + i * sa, lda, b + i * sb, ldb, *beta, c + i * sc, ldc);
	return 0;
}

// NVRTC: the kernels were compiled into this library; the program given
// must be the source they were compiled from.
struct SimProgram { std::string src; };
int nvrtcCreateProgram(void** p, const char* src, const char*, int, const char* const*, const char* const*) {
	*p = new SimProgram{src};
	return 0;
}
int nvrtcCompileProgram(void* p, int, const char* const*) {
	if (((SimProgram*)p)->src != sim_source) {
		sim_last_log = "the simulator was built from another kernel source";
		return 6; // NVRTC_ERROR_COMPILATION
	}
	sim_last_log = "";
	return 0;
}
int nvrtcGetProgramLogSize(void*, size_t* n) { *n = sim_last_log.size() + 1; return 0; }
int nvrtcGetProgramLog(void*, char* log) { std::memcpy(log, sim_last_log.c_str(), sim_last_log.size() + 1); return 0; }
int nvrtcGetPTXSize(void*, size_t* n) { *n = 7; return 0; }
int nvrtcGetPTX(void*, char* ptx) { std::memcpy(ptx, "SIMPTX", 7); return 0; }
int nvrtcDestroyProgram(void** p) { delete (SimProgram*)*p; *p = nullptr; return 0; }
const char* nvrtcGetErrorString(int) { return "simulated NVRTC error"; }
} // extern "C"
`

// simSource is the simulator's C++: the prelude, kernelSource with its
// dynamic shared arrays turned into the block's buffer, the source itself
// (for nvrtcCompileProgram to compare), the kernels by name, the driver.
func simSource() string {
	dyn := regexp.MustCompile(`extern __shared__ float (\w+)\[\];`)
	var b strings.Builder
	b.WriteString(simPrelude)
	b.WriteString(dyn.ReplaceAllString(kernelSource, "float* $1 = sim_dyn_shared();"))
	fmt.Fprintf(&b, "\nstatic const char* sim_source = R\"GOCOOPSIM(%s)GOCOOPSIM\";\n", kernelSource)
	b.WriteString("static std::map<std::string, SimKernel*>& sim_kernels() {\n\tstatic std::map<std::string, SimKernel*> m = {\n")
	for _, k := range kernelNames {
		fmt.Fprintf(&b, "\t\t{\"%s\", simKernel(%s)},\n", k, k)
	}
	b.WriteString("\t};\n\treturn m;\n}\n")
	b.WriteString(simDriver)
	return b.String()
}

// buildSimulator writes the simulator's libraries into dir.
func buildSimulator(dir string) error {
	cxx, err := exec.LookPath("g++")
	if err != nil {
		return err
	}
	src := filepath.Join(dir, "cudasim.cpp")
	if err := os.WriteFile(src, []byte(simSource()), 0o644); err != nil {
		return err
	}
	lib := filepath.Join(dir, "libcudasim.so")
	if out, err := exec.Command(cxx, "-std=c++20", "-O1", "-shared", "-fPIC", "-pthread", "-o", lib, src).CombinedOutput(); err != nil {
		return fmt.Errorf("%s: %v\n%s", cxx, err, out)
	}
	for _, name := range []string{"libcuda.so.1", "libcublas.so.12", "libnvrtc.so.12"} {
		link := filepath.Join(dir, name)
		os.Remove(link) // a GOCOOP_CUDA_SIM_DIR built before
		if err := os.Symlink("libcudasim.so", link); err != nil {
			return err
		}
	}
	return nil
}

// envSimulated marks a test binary re-executed over the simulator.
const envSimulated = "GOCOOP_CUDA_SIMULATED"

// TestOnSimulatedGPU builds the simulator and runs this package's GPU
// tests over it, in a copy of the test binary whose loader finds the
// simulator's libraries first (LD_LIBRARY_PATH is read at start-up): the
// op table and the backend's own ops (attention, embedding, cross-entropy,
// the optimizers) must pass there, not skip. With GOCOOP_CUDA_SIM_DIR set,
// the libraries are left in that directory, for running other tagged
// tests over them (docs/cuda.md §5).
func TestOnSimulatedGPU(t *testing.T) {
	if os.Getenv(envSimulated) != "" {
		t.Skip("already running over the simulator")
	}
	if testing.Short() {
		t.Skip("-short: the simulator runs every CUDA thread as an OS thread (about 25 s)")
	}
	if _, err := exec.LookPath("g++"); err != nil {
		t.Skipf("no g++ to build the simulator: %v", err)
	}
	dir := os.Getenv("GOCOOP_CUDA_SIM_DIR")
	if dir == "" {
		dir = t.TempDir()
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := buildSimulator(dir); err != nil {
		t.Fatal(err)
	}
	tests := []string{"TestOpsAgainstCPU", "TestBackendOpsAgainstCPU"}
	cmd := exec.Command(os.Args[0], "-test.run", "^("+strings.Join(tests, "|")+")$", "-test.v")
	cmd.Env = append(os.Environ(), envSimulated+"=1", "LD_LIBRARY_PATH="+dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the GPU tests over the simulator: %v\n%s", err, out)
	}
	for _, name := range tests {
		if !strings.Contains(string(out), "--- PASS: "+name+" ") {
			t.Errorf("%s did not pass over the simulator:\n%s", name, out)
		}
	}
	if !strings.Contains(string(out), "GoCoOp CUDA simulator") {
		t.Errorf("the tests did not run on the simulator's device:\n%s", out)
	}
}
