package asm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"
	"unsafe"
)

// forEachTier runs f once per supported tier, restoring the tier after.
func forEachTier(t *testing.T, f func(t *testing.T)) {
	old := CurrentTier()
	defer SetTier(old)
	for _, tier := range SupportedTiers() {
		if err := SetTier(tier); err != nil {
			t.Fatal(err)
		}
		t.Run(tier.String(), f)
	}
}

// sgemmRef is the naive reference: a triple loop accumulating in float32.
// Fast paths are tested against it (and against a float64 reference).
func sgemmRef(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s float32
			for p := 0; p < k; p++ {
				var av, bv float32
				if transA {
					av = a[p*lda+i]
				} else {
					av = a[i*lda+p]
				}
				if transB {
					bv = b[j*ldb+p]
				} else {
					bv = b[p*ldb+j]
				}
				s += av * bv
			}
			if beta == 0 {
				c[i*ldc+j] = alpha * s
			} else {
				c[i*ldc+j] = alpha*s + beta*c[i*ldc+j]
			}
		}
	}
}

type gemmCase struct {
	transA, transB bool
	m, n, k        int
	padA, padB     int // extra leading-dimension elements (strided views)
	padC           int
	alpha, beta    float32
}

func (g gemmCase) String() string {
	return fmt.Sprintf("tA=%v,tB=%v,%dx%dx%d,pad=%d/%d/%d,alpha=%g,beta=%g", g.transA, g.transB, g.m, g.k, g.n, g.padA, g.padB, g.padC, g.alpha, g.beta)
}

type gemmData struct {
	a, b, c0      []float32
	lda, ldb, ldc int
}

func randSlice(r *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(r.NormFloat64())
	}
	return s
}

func (g gemmCase) data(r *rand.Rand) gemmData {
	var d gemmData
	ar, ac := g.m, g.k
	if g.transA {
		ar, ac = g.k, g.m
	}
	br, bc := g.k, g.n
	if g.transB {
		br, bc = g.n, g.k
	}
	d.lda, d.ldb, d.ldc = ac+g.padA, bc+g.padB, g.n+g.padC
	d.a = randSlice(r, max(0, (ar-1)*d.lda+ac))
	d.b = randSlice(r, max(0, (br-1)*d.ldb+bc))
	d.c0 = randSlice(r, max(0, (g.m-1)*d.ldc+g.n))
	if g.beta == 0 {
		for i := range d.c0 {
			d.c0[i] = float32(math.NaN())
		}
	}
	return d
}

// check compares c (the result of the product on d) with a float64
// reference, element by element, with the bound
// 4·(√K+2)·2⁻²⁴·|alpha|·Σ|a||b| + 2⁻²²·|beta·c0| + tiny.
func (g gemmCase) check(t *testing.T, d gemmData, c []float32) {
	t.Helper()
	at := func(i, p int) float64 {
		if g.transA {
			return float64(d.a[p*d.lda+i])
		}
		return float64(d.a[i*d.lda+p])
	}
	bt := func(p, j int) float64 {
		if g.transB {
			return float64(d.b[j*d.ldb+p])
		}
		return float64(d.b[p*d.ldb+j])
	}
	eps := math.Ldexp(1, -24)
	bad := 0
	for i := 0; i < g.m; i++ {
		for j := 0; j < g.n; j++ {
			var s, abs float64
			for p := 0; p < g.k; p++ {
				v := at(i, p) * bt(p, j)
				s += v
				abs += math.Abs(v)
			}
			want := float64(g.alpha) * s
			tol := 4*(math.Sqrt(float64(g.k))+2)*eps*math.Abs(float64(g.alpha))*abs + 1e-30
			if g.beta != 0 {
				cv := float64(d.c0[i*d.ldc+j]) * float64(g.beta)
				want += cv
				tol += 4 * eps * math.Abs(cv)
			}
			got := float64(c[i*d.ldc+j])
			if !(math.Abs(got-want) <= tol) {
				if bad < 5 {
					t.Errorf("%v: C[%d,%d] = %g, want %g (tol %.3g)", g, i, j, got, want, tol)
				}
				bad++
			}
		}
	}
	// Padding between rows of C must be untouched.
	for i := 0; i < g.m-1; i++ {
		for j := g.n; j < d.ldc; j++ {
			if math.Float32bits(c[i*d.ldc+j]) != math.Float32bits(d.c0[i*d.ldc+j]) {
				t.Fatalf("%v: padding C[%d,%d] written", g, i, j)
			}
		}
	}
	if bad > 0 {
		t.Fatalf("%v: %d bad elements", g, bad)
	}
}

var gemmShapes = [][3]int{ // m, n, k
	{1, 1, 1}, {1, 7, 3}, {2, 3, 5}, {5, 17, 13}, {6, 16, 8}, {7, 15, 1},
	{11, 31, 64}, {12, 32, 32}, {13, 33, 29}, {5, 65, 7}, {25, 47, 255},
	{12, 64, 256}, {13, 31, 257}, {37, 97, 300}, {197, 64, 197}, {197, 197, 64},
	{77, 77, 64}, {197, 96, 130}, {3, 200, 513}, {200, 3, 70}, {64, 1, 64},
}

func TestSgemm(t *testing.T) {
	forEachTier(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(1, 2))
		for si, s := range gemmShapes {
			for variant := 0; variant < 4; variant++ {
				g := gemmCase{m: s[0], n: s[1], k: s[2], transA: variant&1 != 0, transB: variant&2 != 0, alpha: 1}
				switch (si + variant) % 4 {
				case 1:
					g.beta, g.alpha = 1, -0.5
				case 2:
					g.beta, g.alpha, g.padA, g.padB, g.padC = 0.7, 2, 3, 5, 1
				case 3:
					g.padA, g.padB, g.padC = 16, 1, 7
				}
				d := g.data(r)
				c := append([]float32(nil), d.c0...)
				Sgemm(g.transA, g.transB, g.m, g.n, g.k, g.alpha, d.a, d.lda, d.b, d.ldb, g.beta, c, d.ldc)
				g.check(t, d, c)
			}
		}
	})
}

// TestGemmBlocking drives the blocked driver with small cache blocks (many
// jc/pc/ic iterations), forced direct-A and packed-A paths, and 1–3 workers.
func TestGemmBlocking(t *testing.T) {
	forEachTier(t, func(t *testing.T) {
		base := *current.Load().gemm
		r := rand.New(rand.NewPCG(3, 4))
		cfgs := map[string]gemmConfig{}
		tiny := base
		tiny.kc, tiny.mc, tiny.nc, tiny.parMNK = 17, 2*base.mr, 3*base.nr, 0
		cfgs["tiny"] = tiny
		direct := base
		direct.directMNK, direct.parMNK = math.MaxInt, 0
		cfgs["direct"] = direct
		packed := base
		packed.directMNK, packed.parMNK = -1, 0
		cfgs["packed"] = packed
		for name, cfg := range cfgs {
			for _, s := range [][3]int{{197, 100, 60}, {2*cfg.mr + 1, 3*cfg.nr + 5, 41}, {cfg.mr - 1, cfg.nr + 1, cfg.kc + 1}, {61, 7, 35}} {
				for variant := 0; variant < 4; variant++ {
					g := gemmCase{m: s[0], n: s[1], k: s[2], transA: variant&1 != 0, transB: variant&2 != 0, alpha: 1.5, beta: float32(variant % 2), padA: 2}
					d := g.data(r)
					var first []float32
					for threads := 1; threads <= 3; threads++ {
						c := append([]float32(nil), d.c0...)
						gemm(&cfg, g.transA, g.transB, g.m, g.n, g.k, g.alpha, d.a, d.lda, d.b, d.ldb, g.beta, c, d.ldc, threads)
						g.check(t, d, c)
						if first == nil {
							first = c
						} else if !sameBits(first, c) {
							t.Fatalf("%s %v: threads=%d differs from threads=1", name, g, threads)
						}
					}
				}
			}
		}
	})
}

func sameBits(x, y []float32) bool {
	if len(x) != len(y) {
		return false
	}
	for i := range x {
		if math.Float32bits(x[i]) != math.Float32bits(y[i]) {
			return false
		}
	}
	return true
}

// TestSgemmDeterministic checks bitwise-identical results for GOMAXPROCS
// 1, 2, 3, 5 and 7 on CLIP-like and ragged shapes (both parallel paths:
// runRows for M ≤ MC, runBlocks above), and for SgemmStrided spreading
// attention heads across cores.
func TestSgemmDeterministic(t *testing.T) {
	forEachTier(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(5, 6))
		atProcs := func(f func() []float32) [][]float32 {
			defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
			var res [][]float32
			for _, procs := range []int{1, 2, 3, 5, 7} {
				runtime.GOMAXPROCS(procs)
				res = append(res, f())
			}
			return res
		}
		for _, s := range [][4]int{{197, 768, 768, 1}, {197, 197, 64, 1}, {300, 64, 520, 1}, {1001, 301, 77, 0}, {77, 1000, 129, 0}} {
			g := gemmCase{m: s[0], n: s[1], k: s[2], transB: s[3] == 1, alpha: 1, beta: 1}
			d := g.data(r)
			res := atProcs(func() []float32 {
				c := append([]float32(nil), d.c0...)
				Sgemm(g.transA, g.transB, g.m, g.n, g.k, g.alpha, d.a, d.lda, d.b, d.ldb, g.beta, c, d.ldc)
				return c
			})
			for i := 1; i < len(res); i++ {
				if !sameBits(res[0], res[i]) {
					t.Fatalf("%v: run %d differs from GOMAXPROCS 1", g, i)
				}
			}
		}
		const heads, l, hd = 12, 197, 64
		q, k := randSlice(r, heads*l*hd), randSlice(r, heads*l*hd)
		res := atProcs(func() []float32 {
			c := make([]float32, heads*l*l)
			SgemmStrided(heads, false, true, l, l, hd, 1, q, hd, l*hd, k, hd, l*hd, 0, c, l, l*l)
			return c
		})
		for i := 1; i < len(res); i++ {
			if !sameBits(res[0], res[i]) {
				t.Fatalf("SgemmStrided: run %d differs from GOMAXPROCS 1", i)
			}
		}
	})
}

func TestSgemmStrided(t *testing.T) {
	forEachTier(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(7, 8))
		const batch = 5
		m, n, k := 77, 77, 64
		a := randSlice(r, batch*m*k)
		b := randSlice(r, n*k) // broadcast (strideB = 0), transposed
		c := randSlice(r, batch*m*n)
		want := append([]float32(nil), c...)
		for i := 0; i < batch; i++ {
			Sgemm(false, true, m, n, k, 0.5, a[i*m*k:], k, b, k, 1, want[i*m*n:], n)
		}
		SgemmStrided(batch, false, true, m, n, k, 0.5, a, k, m*k, b, k, 0, 1, c, n, m*n)
		if !sameBits(c, want) {
			t.Fatal("SgemmStrided differs from per-item Sgemm")
		}
	})
}

func TestSgemmMatchesRef(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	g := gemmCase{m: 9, n: 10, k: 11, alpha: 1}
	d := g.data(r)
	c := make([]float32, len(d.c0))
	sgemmRef(false, false, g.m, g.n, g.k, 1, d.a, d.lda, d.b, d.ldb, 0, c, d.ldc)
	g.check(t, d, c)
}

// TestKernels compares each micro-kernel with kernelGo on packed and
// in-place (strided) operands, several tiles, beta 0 and 1.
func TestKernels(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	for _, tier := range SupportedTiers() {
		cfg := tiers[tier].gemm
		for _, ek := range append([]edgeKernel{{cfg.nr, cfg.kern}}, cfg.edge...) {
			for _, kc := range []int{1, 3, 4, 5, 17, 64} {
				for _, direct := range []bool{false, true} {
					mr, nr, nt := cfg.mr, ek.nr, 3
					rsA, csA, tsA := 1, mr, mr*kc
					if direct {
						rsA, csA, tsA = kc+3, 1, mr*(kc+3)
					}
					a := randSlice(r, (nt-1)*tsA+(mr-1)*rsA+(kc-1)*csA+1)
					b := randSlice(r, kc*nr)
					ldc := nr + 5
					c0 := randSlice(r, nt*mr*ldc)
					for _, beta := range []float32{0, 1} {
						got := append([]float32(nil), c0...)
						want := append([]float32(nil), c0...)
						ek.kern(kc, nt, unsafe.Pointer(&a[0]), rsA, csA, tsA, unsafe.Pointer(&b[0]), nr, unsafe.Pointer(&got[0]), ldc, 1.25, beta)
						kernelGo(mr, nr)(kc, nt, unsafe.Pointer(&a[0]), rsA, csA, tsA, unsafe.Pointer(&b[0]), nr, unsafe.Pointer(&want[0]), ldc, 1.25, beta)
						for i := range got {
							if d := math.Abs(float64(got[i] - want[i])); d > 1e-5*(float64(kc)+math.Abs(float64(want[i]))) {
								t.Fatalf("%v %dx%d kc=%d direct=%v beta=%g: c[%d]=%g want %g", tier, mr, nr, kc, direct, beta, i, got[i], want[i])
							}
						}
					}
				}
			}
		}
	}
}

func TestSgemmZeroK(t *testing.T) {
	forEachTier(t, func(t *testing.T) {
		c := []float32{1, 2, float32(math.NaN()), 4}
		Sgemm(false, false, 2, 2, 0, 1, nil, 1, nil, 2, 0, c, 2)
		for _, v := range c {
			if v != 0 {
				t.Fatalf("k=0 beta=0: %v", c)
			}
		}
		c = []float32{1, 2, 3, 4}
		Sgemm(false, false, 2, 2, 0, 1, nil, 1, nil, 2, 2, c, 2)
		if c[3] != 8 {
			t.Fatalf("k=0 beta=2: %v", c)
		}
	})
}

// TestPackB compares the tiers' assembly panel packers with the Go path.
func TestPackB(t *testing.T) {
	r := rand.New(rand.NewPCG(15, 16))
	for _, tier := range SupportedTiers() {
		cfg := tiers[tier].gemm
		for _, transB := range []bool{false, true} {
			panel := cfg.packPanel.copy
			if transB {
				panel = cfg.packPanelT.copy
			}
			if panel == nil {
				continue
			}
			for _, s := range [][4]int{{1, 0, 5, 0}, {7, 3, 2*cfg.nr + 5, 1}, {64, 0, cfg.nr, 0}, {33, 10, 3 * cfg.nr, cfg.nr}} {
				kc, pc, nc, jc := s[0], s[1], s[2], s[3]
				rows, cols := pc+kc, jc+nc
				if transB {
					rows, cols = jc+nc, pc+kc
				}
				ldb := cols + 3
				b := randSlice(r, rows*ldb)
				npan := (nc + cfg.nr - 1) / cfg.nr
				got := make([]float32, npan*cfg.nr*kc)
				want := make([]float32, len(got))
				packBWith(panel, got, b, ldb, transB, pc, kc, jc, nc, cfg.nr)
				packBWith(nil, want, b, ldb, transB, pc, kc, jc, nc, cfg.nr)
				if !sameBits(got, want) {
					t.Fatalf("%v transB=%v kc=%d pc=%d nc=%d jc=%d: packed panels differ", tier, transB, kc, pc, nc, jc)
				}
			}
		}
	}
}

// TestGemmConfigValidate: every tier's config validates, and a panel copier
// of another width than the tile (what a 12×32 tuning variant once paired
// with the 64-wide copier, writing past the packed panels) is refused.
func TestGemmConfigValidate(t *testing.T) {
	for _, tier := range SupportedTiers() {
		if err := tiers[tier].gemm.validate(); err != nil {
			t.Errorf("%v: %v", tier, err)
		}
	}
	wide := panelCopier{64, func(dst, src unsafe.Pointer, ldb, kc int) {}}
	bad := genericGemm
	bad.mr, bad.nr, bad.mc = 12, 32, 240
	bad.packPanel = wide
	err := bad.validate()
	if err == nil || !strings.Contains(err.Error(), "packPanel copies 64-wide panels, want 32") {
		t.Errorf("12×32 config with a 64-wide copier: error %v", err)
	}
	defer func() {
		if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), "64-wide") {
			t.Errorf("newKernels: panic %v, want the width mismatch", r)
		}
	}()
	newKernels(Generic, bad, genericRows)
}
