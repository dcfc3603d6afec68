package asm

import (
	"fmt"
	"runtime"
	"unsafe"
)

// Prepacked float16 weights. A frozen weight read as B by every call
// (x·Wᵀ in a Linear layer) is packed into the same B̃ micro-panels at
// every call: widened from float16 and, for W stored [out, in], transposed
// (gemmProblem.packB). HalfPanels does that rearrangement once, keeping
// float16: B̃ = op(B), k×n, as ⌈n/nr⌉ panels of [k][nr] binary16 elements,
// zero-padded on the right, nr the micro-kernel's width. The same bytes as
// the float16 matrix (plus the padding), so prepacking costs no memory when
// the matrix is dropped. A tier with half kernels of that width (AVX-512:
// VCVTPH2PS as each panel row is loaded) multiplies by the panels in place,
// packing nothing; any other tier widens them into its own B̃ panels as it
// would widen the float16 B. Either way C is, bit for bit, Sgemm's with
// the widened B: the same B̃ values, KC blocks, tiles and FMAs.

// HalfPanels is op(B), k×n, prepacked as binary16 micro-panels
// (PackHalfPanels).
type HalfPanels struct {
	k, n, nr int
	data     []uint16 // panel jp: data[jp*k*nr:], element (p, jp*nr+j) at p*nr+j
}

// PackHalfPanels packs op(B) of a binary16 B (k×n; element (p, j) of op(B)
// is b[p*ldb+j], or b[j*ldb+p] when transB, as in SgemmHalfB) into panels
// of the current tier's kernel width. Panels are packed in parallel.
func PackHalfPanels(transB bool, k, n int, b []uint16, ldb int) *HalfPanels {
	if k < 0 || n < 0 {
		panic(fmt.Sprintf("asm: PackHalfPanels: negative dimension k=%d n=%d", k, n))
	}
	rows, cols := k, n
	if transB {
		rows, cols = n, k
	}
	if rows > 0 && cols > 0 && (ldb < cols || len(b) < (rows-1)*ldb+cols) {
		panic(fmt.Sprintf("asm: PackHalfPanels: B of %d×%d with ld %d needs %d elements, has %d", rows, cols, ldb, (rows-1)*ldb+cols, len(b)))
	}
	nr := current.Load().gemm.nr
	np := ceilDiv(n, nr)
	hp := &HalfPanels{k: k, n: n, nr: nr, data: make([]uint16, np*k*nr)}
	workers := max(1, min(np, runtime.GOMAXPROCS(0)))
	parallel(workers, func(w int) {
		for jp := w; jp < np; jp += workers {
			d := hp.data[jp*k*nr : (jp+1)*k*nr]
			for j := jp * nr; j < min(n, jp*nr+nr); j++ {
				dj := d[j-jp*nr:]
				if transB { // one stored row of B fills one panel column
					for p, v := range b[j*ldb : j*ldb+k] {
						dj[p*nr] = v
					}
					continue
				}
				for p := 0; p < k; p++ {
					dj[p*nr] = b[p*ldb+j]
				}
			}
		}
	})
	return hp
}

// Dims returns op(B)'s k and n.
func (hp *HalfPanels) Dims() (k, n int) { return hp.k, hp.n }

// At returns element (p, j) of op(B).
func (hp *HalfPanels) At(p, j int) uint16 {
	if p < 0 || p >= hp.k || j < 0 || j >= hp.n {
		panic(fmt.Sprintf("asm: HalfPanels.At(%d, %d) outside %d×%d", p, j, hp.k, hp.n))
	}
	return hp.data[j/hp.nr*hp.k*hp.nr+p*hp.nr+j%hp.nr]
}

// Bytes returns the panels' size in bytes.
func (hp *HalfPanels) Bytes() int64 { return 2 * int64(len(hp.data)) }

// Unpack writes op(B) back into b as PackHalfPanels read it (transB, ldb):
// its inverse, exactly.
func (hp *HalfPanels) Unpack(transB bool, b []uint16, ldb int) {
	k, n, nr := hp.k, hp.n, hp.nr
	for j := 0; j < n; j++ {
		col := hp.data[j/nr*k*nr+j%nr:]
		for p := 0; p < k; p++ {
			if transB {
				b[j*ldb+p] = col[p*nr]
			} else {
				b[p*ldb+j] = col[p*nr]
			}
		}
	}
}

// block locates the panels of KC block pc from column jc (a multiple of
// nr) on: the bBlock the half kernels read in place.
func (hp *HalfPanels) block(jc, pc int) bBlock {
	if jc%hp.nr != 0 {
		panic(fmt.Sprintf("asm: HalfPanels: column %d is not on a %d-wide panel boundary", jc, hp.nr))
	}
	return bBlock{base: unsafe.Pointer(&hp.data[jc/hp.nr*hp.k*hp.nr+pc*hp.nr]), step: uintptr(2 * hp.k * hp.nr), csB: hp.nr, half: true}
}

// SgemmHalfPanels is Sgemm with op(B) given as prepacked panels:
// C = alpha·op(A)·B̃ + beta·C with op(A) M×K, B̃ K×N (b.Dims()), the
// result bit for bit Sgemm's with the widened op(B).
func SgemmHalfPanels(transA bool, m int, alpha float32, a []float32, lda int, b *HalfPanels, beta float32, c []float32, ldc int) {
	gemmPanels(current.Load().gemm, transA, m, alpha, a, lda, b, beta, c, ldc, runtime.GOMAXPROCS(0))
}

func gemmPanels(cfg *gemmConfig, transA bool, m int, alpha float32, a []float32, lda int, hp *HalfPanels, beta float32, c []float32, ldc int, threads int) {
	k, n := hp.k, hp.n
	checkGemm(transA, false, m, n, k, a, lda, k*n, n, c, ldc)
	p := &gemmProblem{cfg: cfg, transA: transA, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, hp: hp, ldb: n, beta: beta, c: c, ldc: ldc}
	p.panelsDirect = cfg.halfKern != nil && cfg.nr == hp.nr
	p.run(threads)
}

// packBPanels packs B̃[pc:pc+kc, jc:jc+nc] for the tier's kernels from
// HalfPanels of any width: each of its nr-wide panels is widened from the
// runs of columns that lie in one prepacked panel (one run when the widths
// are equal).
func (p *gemmProblem) packBPanels(dst []float32, pc, kc, jc, nc int) {
	cfg, hp := p.cfg, p.hp
	nr, hnr := cfg.nr, hp.nr
	for jp := 0; jp*nr < nc; jp++ {
		j0 := jc + jp*nr
		w := min(nr, jc+nc-j0)
		d := dst[jp*nr*kc : (jp+1)*nr*kc]
		for s := 0; s < w; {
			j := j0 + s
			run := min(w-s, hnr-j%hnr)
			src := hp.data[j/hnr*hp.k*hnr+pc*hnr+j%hnr:]
			_ = src[(kc-1)*hnr+run-1] // bounds check for widenRows
			widenRows(cfg, unsafe.Pointer(&d[s]), unsafe.Pointer(&src[0]), kc, run, nr, hnr)
			s += run
		}
		if w < nr {
			for r := 0; r < kc; r++ {
				clear(d[r*nr+w : (r+1)*nr])
			}
		}
	}
}
