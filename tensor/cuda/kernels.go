package cuda

// kernelSource is every CUDA C kernel of the backend, compiled at run time
// by NVRTC (driver_cuda.go) for the device's compute capability. It is plain
// CUDA C with no #include (NVRTC has no standard headers here): the few
// constants it needs are spelled out. Each op's forward and backward sit
// side by side; the CPU code of package tensor, autograd and nn/optim is the
// reference each kernel is tested against (cuda_test.go, docs/cuda.md §4).
//
// Conventions: float32 everywhere; n and indices are int (the Go side
// refuses tensors of 2³¹ elements or more); 1-D grid-stride loops for
// elementwise kernels; one block per row (blockDim a multiple of 32, at most
// 1024) for row kernels, reducing with block_reduce.
const kernelSource = `
// ---- shared definitions --------------------------------------------------

#define MAX_RANK 8

// Layout is an index space (rank, shape) and the strides, in elements, of up
// to three operands over it (0 on a broadcast dim); the elementwise kernels
// put their inputs in s0 and s1 and their output in s2. It is passed by
// value; args.go packs it field by field in this order.
struct Layout {
	int rank;
	int shape[MAX_RANK];
	int s0[MAX_RANK];
	int s1[MAX_RANK];
	int s2[MAX_RANK];
};

// Op codes: the same numbers as the op* constants of ops.go.
#define OP_COPY 0
#define OP_ADD 1
#define OP_SUB 2
#define OP_MUL 3
#define OP_DIV 4
#define OP_MAX 5
#define OP_NEG 6
#define OP_EXP 7
#define OP_LOG 8
#define OP_SQRT 9
#define OP_TANH 10
#define OP_SIGMOID 11
#define OP_RELU 12
#define OP_SQUARE 13
#define OP_QUICKGELU 14
#define OP_GT 15
#define OP_QUICKGELU_GRAD 16

#define NEG_INF __int_as_float(0xff800000)
#define QUICKGELU_ALPHA 1.702f // asm.QuickGELUAlpha
// expf's useful range (asm.ExpLo, asm.ExpHi): e^x is 0 below, +Inf above.
#define EXP_LO -86.9f
#define EXP_HI 89.0f

// offsets2 turns the linear index i of L's index space into the offsets of
// operands 0 and 1.
__device__ __forceinline__ void offsets2(const Layout& L, int i, int* o0, int* o1) {
	int a = 0, b = 0;
	for (int d = L.rank - 1; d >= 0; d--) {
		int q = i % L.shape[d];
		i /= L.shape[d];
		a += q * L.s0[d];
		b += q * L.s1[d];
	}
	*o0 = a;
	*o1 = b;
}

// offsets3 is offsets2 for three operands.
__device__ __forceinline__ void offsets3(const Layout& L, int i, int* o0, int* o1, int* o2) {
	int a = 0, b = 0, c = 0;
	for (int d = L.rank - 1; d >= 0; d--) {
		int q = i % L.shape[d];
		i /= L.shape[d];
		a += q * L.s0[d];
		b += q * L.s1[d];
		c += q * L.s2[d];
	}
	*o0 = a;
	*o1 = b;
	*o2 = c;
}

__device__ __forceinline__ float sigmoidf(float x) { return 1.0f / (1.0f + expf(-x)); }

// is_binary reports whether op reads a second operand (or the scalar).
__device__ __forceinline__ bool is_binary(int op) {
	return (op >= OP_ADD && op <= OP_MAX) || op == OP_GT || op == OP_QUICKGELU_GRAD;
}

__device__ __forceinline__ float apply_binary(int op, float x, float y) {
	switch (op) {
	case OP_ADD: return x + y;
	case OP_SUB: return x - y;
	case OP_MUL: return x * y;
	case OP_DIV: return x / y;
	case OP_MAX: return (x > y || x != x) ? x : y; // NaN propagates from x
	case OP_GT: return x > y ? 1.0f : 0.0f;
	case OP_QUICKGELU_GRAD: {
		// y·QuickGELU'(x) as the CPU computes it (asm's quickGELUGradGo):
		// a = −α·x, e = e^a, s = 1/(1+e) = σ(α·x), t = e·s = 1 − σ (1 where
		// e = +Inf makes it NaN), y·s·(1 − a·t) with a clamped to a finite
		// range, so that x = ±Inf gives y and 0 (s·(1 + α·x·(1 − s))
		// would give Inf·0 = NaN there).
		float a = -QUICKGELU_ALPHA * x;
		float e = expf(a);
		float s = 1.0f / (1.0f + e);
		float t = e * s;
		if (!(t <= 1.0f)) t = 1.0f;
		a = fminf(fmaxf(a, EXP_LO), EXP_HI);
		return y * (s * (1.0f - a * t));
	}
	default: return y; // OP_COPY
	}
}

__device__ __forceinline__ float apply_unary(int op, float x) {
	switch (op) {
	case OP_NEG: return -x;
	case OP_EXP: return expf(x);
	case OP_LOG: return logf(x);
	case OP_SQRT: return sqrtf(x);
	case OP_TANH: return tanhf(x);
	case OP_SIGMOID: return sigmoidf(x);
	case OP_RELU: return x > 0.0f ? x : 0.0f;
	case OP_SQUARE: return x * x;
	case OP_QUICKGELU: return x * sigmoidf(QUICKGELU_ALPHA * x);
	default: return x; // OP_COPY
	}
}

// block_reduce combines v over the block (sum, or max for OP_MAX); every
// thread gets the result. sh holds 32 floats of shared memory.
__device__ float block_reduce(float v, int op, float* sh) {
	const float ident = op == OP_MAX ? NEG_INF : 0.0f;
	for (int o = 16; o > 0; o >>= 1) {
		float w = __shfl_down_sync(0xffffffffu, v, o);
		v = op == OP_MAX ? fmaxf(v, w) : v + w;
	}
	int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
	__syncthreads(); // sh may still be read by a previous call
	if (lane == 0) sh[warp] = v;
	__syncthreads();
	if (warp == 0) {
		v = lane < ((blockDim.x + 31) >> 5) ? sh[lane] : ident;
		for (int o = 16; o > 0; o >>= 1) {
			float w = __shfl_down_sync(0xffffffffu, v, o);
			v = op == OP_MAX ? fmaxf(v, w) : v + w;
		}
		if (lane == 0) sh[0] = v;
	}
	__syncthreads();
	return sh[0];
}

// score is element j of row r as the softmax sees it: scale·x, or −∞ when
// the causal mask (lq > 0 queries per matrix) hides key j from query r mod lq.
__device__ __forceinline__ float score(const float* xr, int r, int j, float scale, int lq) {
	return (lq > 0 && j > r % lq) ? NEG_INF : scale * xr[j];
}

extern "C" {

// ---- elementwise (tensor.Add ... tensor.Square, the scalar ops, copies,
// QuickGELU and its gradient, the GreaterThan mask) -------------------------

// ew_binary: out[off2(i)] = op(a[off0(i)], b[off1(i)]) over L; broadcasting
// is a stride of 0; out is strided (a view: Concat, Copy) or contiguous.
__global__ void ew_binary(int op, int n, Layout L, float* out, const float* a, const float* b) {
	for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) {
		int oa, ob, oo;
		offsets3(L, i, &oa, &ob, &oo);
		out[oo] = apply_binary(op, a[oa], b[ob]);
	}
}

// ew_unary: out[off2(i)] = op(a[off0(i)]) for the unary ops; for the binary
// op codes, op(a[off0(i)], s) (AddScalar, MulScalar, MaximumScalar,
// GreaterThan); OP_COPY copies between any two layouts. out may be a (in
// place: each element is read before it is written, by the same thread).
__global__ void ew_unary(int op, int n, Layout L, float* out, const float* a, float s) {
	for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) {
		int oa, unused, oo;
		offsets3(L, i, &oa, &unused, &oo);
		float x = a[oa];
		out[oo] = is_binary(op) ? apply_binary(op, x, s) : apply_unary(op, x);
	}
}

// ---- reductions (tensor.Sum, Mean, Max) ----------------------------------

// reduce_strided: one block per output element o (grid nout). K is the
// space of kept dims, s0 = a's strides there; R the space of reduced dims,
// s0 = a's strides there (nred elements). out is contiguous over K.
__global__ void reduce_strided(int op, int nout, int nred, Layout K, Layout R, float* out, const float* a) {
	__shared__ float sh[32];
	for (int o = blockIdx.x; o < nout; o += gridDim.x) {
		int base, unused;
		offsets2(K, o, &base, &unused);
		float acc = op == OP_MAX ? NEG_INF : 0.0f;
		for (int r = threadIdx.x; r < nred; r += blockDim.x) {
			int off;
			offsets2(R, r, &off, &unused);
			float x = a[base + off];
			acc = op == OP_MAX ? fmaxf(acc, x) : acc + x;
		}
		acc = block_reduce(acc, op, sh);
		if (threadIdx.x == 0) out[o] = acc;
	}
}

// ---- softmax and log-softmax over contiguous rows -------------------------

// softmax_rows: y = softmax(scale·x + mask) (or log-softmax when logsm)
// row by row, one block per row of n; lq > 0 applies the causal mask of
// tensor.MaskedSoftmax (scale 1 and lq 0 for tensor.Softmax, LogSoftmax).
__global__ void softmax_rows(int rows, int n, int logsm, float scale, int lq, float* y, const float* x) {
	__shared__ float sh[32];
	for (int r = blockIdx.x; r < rows; r += gridDim.x) {
		const float* xr = x + (long long)r * n;
		float* yr = y + (long long)r * n;
		float m = NEG_INF;
		for (int j = threadIdx.x; j < n; j += blockDim.x) m = fmaxf(m, score(xr, r, j, scale, lq));
		m = block_reduce(m, OP_MAX, sh);
		float s = 0.0f;
		for (int j = threadIdx.x; j < n; j += blockDim.x) s += expf(score(xr, r, j, scale, lq) - m);
		s = block_reduce(s, OP_ADD, sh);
		if (m == NEG_INF) { // all −∞: softmax is undefined; the CPU leaves the row
			for (int j = threadIdx.x; j < n; j += blockDim.x) yr[j] = logsm ? NEG_INF : score(xr, r, j, scale, lq);
			continue;
		}
		float lse = logf(s);
		for (int j = threadIdx.x; j < n; j += blockDim.x) {
			float v = score(xr, r, j, scale, lq);
			yr[j] = logsm ? v - m - lse : expf(v - m) / s;
		}
	}
}

// softmax_backward_rows: dx = y ⊙ (dy − Σ dy⊙y) for softmax, or
// dx = dy − exp(y)·Σ dy for log-softmax (y is the forward output).
__global__ void softmax_backward_rows(int rows, int n, int logsm, float* dx, const float* y, const float* dy) {
	__shared__ float sh[32];
	for (int r = blockIdx.x; r < rows; r += gridDim.x) {
		const float* yr = y + (long long)r * n;
		const float* gr = dy + (long long)r * n;
		float* dr = dx + (long long)r * n;
		float s = 0.0f;
		for (int j = threadIdx.x; j < n; j += blockDim.x) s += logsm ? gr[j] : gr[j] * yr[j];
		s = block_reduce(s, OP_ADD, sh);
		for (int j = threadIdx.x; j < n; j += blockDim.x)
			dr[j] = logsm ? gr[j] - expf(yr[j]) * s : yr[j] * (gr[j] - s);
	}
}

// ---- layer norm over the last axis ----------------------------------------

// layernorm_rows: y = (x − mean)·rstd·w + b with the biased variance;
// mean and rstd per row are kept for the backward. w, b may be 0 (1 and 0).
__global__ void layernorm_rows(int rows, int d, float eps, float* y, float* mean, float* rstd,
		const float* x, const float* w, const float* b) {
	__shared__ float sh[32];
	for (int r = blockIdx.x; r < rows; r += gridDim.x) {
		const float* xr = x + (long long)r * d;
		float* yr = y + (long long)r * d;
		float s = 0.0f;
		for (int j = threadIdx.x; j < d; j += blockDim.x) s += xr[j];
		float mu = block_reduce(s, OP_ADD, sh) / d;
		float v = 0.0f;
		for (int j = threadIdx.x; j < d; j += blockDim.x) { float c = xr[j] - mu; v += c * c; }
		float rs = rsqrtf(block_reduce(v, OP_ADD, sh) / d + eps);
		for (int j = threadIdx.x; j < d; j += blockDim.x) {
			float h = (xr[j] - mu) * rs;
			yr[j] = h * (w ? w[j] : 1.0f) + (b ? b[j] : 0.0f);
		}
		if (threadIdx.x == 0) { mean[r] = mu; rstd[r] = rs; }
	}
}

// layernorm_backward_rows: with h = (x − mean)·rstd and g = dy·w,
// dx = rstd·(g − mean_j(g) − h·mean_j(g⊙h)).
__global__ void layernorm_backward_rows(int rows, int d, float* dx, const float* dy, const float* x,
		const float* mean, const float* rstd, const float* w) {
	__shared__ float sh[32];
	for (int r = blockIdx.x; r < rows; r += gridDim.x) {
		const float* xr = x + (long long)r * d;
		const float* gr = dy + (long long)r * d;
		float* dr = dx + (long long)r * d;
		float mu = mean[r], rs = rstd[r];
		float sg = 0.0f, sgh = 0.0f;
		for (int j = threadIdx.x; j < d; j += blockDim.x) {
			float g = gr[j] * (w ? w[j] : 1.0f);
			sg += g;
			sgh += g * (xr[j] - mu) * rs;
		}
		sg = block_reduce(sg, OP_ADD, sh) / d;
		sgh = block_reduce(sgh, OP_ADD, sh) / d;
		for (int j = threadIdx.x; j < d; j += blockDim.x) {
			float g = gr[j] * (w ? w[j] : 1.0f);
			dr[j] = rs * (g - sg - (xr[j] - mu) * rs * sgh);
		}
	}
}

// layernorm_backward_params: dw[j] = Σ_r dy·h, db[j] = Σ_r dy; one thread
// per column (coalesced across columns).
__global__ void layernorm_backward_params(int rows, int d, float* dw, float* db, const float* dy,
		const float* x, const float* mean, const float* rstd) {
	for (int j = blockIdx.x * blockDim.x + threadIdx.x; j < d; j += gridDim.x * blockDim.x) {
		float sw = 0.0f, sb = 0.0f;
		for (int r = 0; r < rows; r++) {
			float g = dy[(long long)r * d + j];
			sw += g * (x[(long long)r * d + j] - mean[r]) * rstd[r];
			sb += g;
		}
		dw[j] = sw;
		db[j] = sb;
	}
}

// ---- attention: softmax(q·kᵀ·scale + causal mask)·v -----------------------

// attention_forward: q [BH, T, hd], k and v [BH, S, hd], out [BH, T, hd],
// probs [BH, T, S], all contiguous. Grid (T, BH), one block per query row;
// dynamic shared memory holds the S scores. The causal mask puts −∞ at key
// j > query t, as autograd.AttentionProbs.
__global__ void attention_forward(int T, int S, int hd, float scale, int causal,
		float* out, float* probs, const float* q, const float* k, const float* v) {
	extern __shared__ float scores[]; // S floats
	__shared__ float sh[32];
	int t = blockIdx.x, bh = blockIdx.y;
	const float* qr = q + ((long long)bh * T + t) * hd;
	const float* kb = k + (long long)bh * S * hd;
	const float* vb = v + (long long)bh * S * hd;
	float m = NEG_INF;
	for (int j = threadIdx.x; j < S; j += blockDim.x) {
		float s = 0.0f;
		for (int c = 0; c < hd; c++) s += qr[c] * kb[(long long)j * hd + c];
		s *= scale;
		if (causal && j > t) s = NEG_INF;
		scores[j] = s;
		m = fmaxf(m, s);
	}
	m = block_reduce(m, OP_MAX, sh);
	float z = 0.0f;
	for (int j = threadIdx.x; j < S; j += blockDim.x) {
		float e = expf(scores[j] - m);
		scores[j] = e;
		z += e;
	}
	z = block_reduce(z, OP_ADD, sh); // also orders the scores writes before the reads below
	float* pr = probs + ((long long)bh * T + t) * S;
	for (int j = threadIdx.x; j < S; j += blockDim.x) {
		scores[j] /= z;
		pr[j] = scores[j];
	}
	__syncthreads();
	float* orow = out + ((long long)bh * T + t) * hd;
	for (int c = threadIdx.x; c < hd; c += blockDim.x) {
		float acc = 0.0f;
		for (int j = 0; j < S; j++) acc += scores[j] * vb[(long long)j * hd + c];
		orow[c] = acc;
	}
}

// attention_backward: from dout and the saved probs P,
// dP = dout·vᵀ, dS = P ⊙ (dP − Σ dP⊙P)·scale, dq = dS·k,
// dk += dSᵀ·q, dv += Pᵀ·dout (dk and dv zeroed by the caller; atomics
// across query rows). Grid (T, BH); dynamic shared memory holds S floats.
__global__ void attention_backward(int T, int S, int hd, float scale,
		float* dq, float* dk, float* dv, const float* dout, const float* probs,
		const float* q, const float* k, const float* v) {
	extern __shared__ float ds[]; // S floats
	__shared__ float sh[32];
	int t = blockIdx.x, bh = blockIdx.y;
	const float* gr = dout + ((long long)bh * T + t) * hd;
	const float* pr = probs + ((long long)bh * T + t) * S;
	const float* qr = q + ((long long)bh * T + t) * hd;
	const float* kb = k + (long long)bh * S * hd;
	const float* vb = v + (long long)bh * S * hd;
	float dot = 0.0f;
	for (int j = threadIdx.x; j < S; j += blockDim.x) {
		float dp = 0.0f;
		for (int c = 0; c < hd; c++) dp += gr[c] * vb[(long long)j * hd + c];
		ds[j] = dp;
		dot += dp * pr[j];
	}
	dot = block_reduce(dot, OP_ADD, sh);
	for (int j = threadIdx.x; j < S; j += blockDim.x) ds[j] = pr[j] * (ds[j] - dot) * scale;
	__syncthreads();
	float* dqr = dq + ((long long)bh * T + t) * hd;
	for (int c = threadIdx.x; c < hd; c += blockDim.x) {
		float acc = 0.0f;
		for (int j = 0; j < S; j++) acc += ds[j] * kb[(long long)j * hd + c];
		dqr[c] = acc;
	}
	float* dkb = dk + (long long)bh * S * hd;
	float* dvb = dv + (long long)bh * S * hd;
	for (int idx = threadIdx.x; idx < S * hd; idx += blockDim.x) {
		int j = idx / hd, c = idx % hd;
		atomicAdd(&dkb[idx], ds[j] * qr[c]);
		atomicAdd(&dvb[idx], pr[j] * gr[c]);
	}
}

// ---- row gather and scatter (tensor.IndexSelect, IndexAdd: Gather, ScatterAdd)

// embedding_forward: out[i, :] = table[ids[i], :] for n ids of width d.
__global__ void embedding_forward(int n, int d, float* out, const float* table, const int* ids) {
	for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n * d; i += gridDim.x * blockDim.x)
		out[i] = table[(long long)ids[i / d] * d + i % d];
}

// embedding_backward: dtable[ids[i], :] += dout[i, :] (atomics: ids repeat).
__global__ void embedding_backward(int n, int d, float* dtable, const float* dout, const int* ids) {
	for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n * d; i += gridDim.x * blockDim.x)
		atomicAdd(&dtable[(long long)ids[i / d] * d + i % d], dout[i]);
}

// ---- cross-entropy over rows of logits -------------------------------------

// cross_entropy_forward: loss[r] = logsumexp(x_r) − x_r[label_r].
__global__ void cross_entropy_forward(int rows, int n, float* loss, const float* x, const int* labels) {
	__shared__ float sh[32];
	for (int r = blockIdx.x; r < rows; r += gridDim.x) {
		const float* xr = x + (long long)r * n;
		float m = NEG_INF;
		for (int j = threadIdx.x; j < n; j += blockDim.x) m = fmaxf(m, xr[j]);
		m = block_reduce(m, OP_MAX, sh);
		float s = 0.0f;
		for (int j = threadIdx.x; j < n; j += blockDim.x) s += expf(xr[j] - m);
		s = block_reduce(s, OP_ADD, sh);
		if (threadIdx.x == 0) loss[r] = m + logf(s) - xr[labels[r]];
	}
}

// cross_entropy_backward: dx_r = (softmax(x_r) − onehot(label_r))·scale
// (scale = upstream gradient / rows for the mean loss).
__global__ void cross_entropy_backward(int rows, int n, float scale, float* dx, const float* x, const int* labels) {
	__shared__ float sh[32];
	for (int r = blockIdx.x; r < rows; r += gridDim.x) {
		const float* xr = x + (long long)r * n;
		float* dr = dx + (long long)r * n;
		float m = NEG_INF;
		for (int j = threadIdx.x; j < n; j += blockDim.x) m = fmaxf(m, xr[j]);
		m = block_reduce(m, OP_MAX, sh);
		float s = 0.0f;
		for (int j = threadIdx.x; j < n; j += blockDim.x) s += expf(xr[j] - m);
		s = block_reduce(s, OP_ADD, sh);
		for (int j = threadIdx.x; j < n; j += blockDim.x)
			dr[j] = (expf(xr[j] - m) / s - (j == labels[r] ? 1.0f : 0.0f)) * scale;
	}
}

// ---- optimizer updates (nn/optim) ------------------------------------------

// sgd_update: g' = g + wd·p; with momentum, buf = g' on the first step and
// buf = momentum·buf + (1−dampening)·g' after, then g' = g' + momentum·buf
// (nesterov) or buf; finally p −= lr·g' (optim.SGD).
__global__ void sgd_update(int n, float lr, float momentum, float dampening, float wd, int nesterov, int first,
		float* p, const float* g, float* buf) {
	for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) {
		float gi = g[i] + wd * p[i];
		if (momentum != 0.0f) {
			buf[i] = first ? gi : buf[i] * momentum + (1.0f - dampening) * gi;
			gi = nesterov ? gi + momentum * buf[i] : buf[i];
		}
		p[i] -= lr * gi;
	}
}

// adamw_update: one AdamW step in optim.AdamW's order of operations:
// p ·= 1 − lr·wd; m = lerp(m, g, 1−β₁); v = β₂v + (1−β₂)g²;
// p −= stepSize·m/(√v/bc2Sqrt + eps), stepSize = lr/(1−β₁ᵗ),
// bc2Sqrt = √(1−β₂ᵗ) (both computed in float64 on the host).
__global__ void adamw_update(int n, float lr, float b1, float b2, float eps, float wd,
		float stepSize, float bc2Sqrt, float* p, const float* g, float* m, float* v) {
	for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) {
		float gi = g[i];
		if (wd != 0.0f) p[i] *= 1.0f - lr * wd;
		m[i] += (gi - m[i]) * (1.0f - b1);
		v[i] = v[i] * b2 + (1.0f - b2) * (gi * gi);
		p[i] -= stepSize * (m[i] / (sqrtf(v[i]) / bc2Sqrt + eps));
	}
}

} // extern "C"
`

// kernelNames lists every kernel of kernelSource; the backend resolves
// each one after compiling (a missing one is an error at Open).
var kernelNames = []string{
	"ew_binary", "ew_unary",
	"reduce_strided",
	"softmax_rows", "softmax_backward_rows",
	"layernorm_rows", "layernorm_backward_rows", "layernorm_backward_params",
	"attention_forward", "attention_backward",
	"embedding_forward", "embedding_backward",
	"cross_entropy_forward", "cross_entropy_backward",
	"sgd_update", "adamw_update",
}

// Op codes shared with the kernel source (#define OP_*).
const (
	opCopy = iota
	opAdd
	opSub
	opMul
	opDiv
	opMax
	opNeg
	opExp
	opLog
	opSqrt
	opTanh
	opSigmoid
	opRelu
	opSquare
	opQuickGELU
	opGT
	opQuickGELUGrad
)
