package asm

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"
)

// This file holds the tier-independent GotoBLAS/BLIS driver: cache blocking,
// packing of A and B panels, edge tiles, and the split of a product across
// cores. Only the micro-kernels (and two panel copiers) differ per tier.
//
// The BLIS loop nest is run in one of two orders:
//
//	runRows (M ≤ MC, e.g. 197-row activations):
//	  pack Ã = op(A)[:, all K] once, shared (MR-tall micro-panels [kc][MR])
//	  for each column chunk (claimed dynamically by a worker, ≤ ncInner wide):
//	    for pc += KC: pack B̃ chunk [kc][NR] panels; macro-kernel
//	runBlocks (M > MC):
//	  for jc += NC: pack B̃ = op(B)[all K, jc:jc+NC] once, shared
//	    for each row block (claimed dynamically, ≈ MC rows):
//	      for pc += KC: pack Ã block; macro-kernel
//	macro-kernel: for jr += NR: one micro-kernel call over all full MR
//	  tiles of the block (the ir loop runs inside the assembly, which
//	  loops over the whole kc per tile); ragged tiles via a scratch tile.
//
// Determinism: KC blocking is fixed per tier, tiles sit on a global MR×NR
// grid, and every element of C is always produced by the same kernel path
// (full tile, narrow edge kernel or scratch tile, decided by its position)
// with its KC blocks added in order by one worker, so results are bitwise
// identical for any GOMAXPROCS.

// kernelFunc is the micro-kernel contract shared by the assembly kernels and
// the Go ones. For t in [0,nt) it computes the MR×NR tile
//
//	C_t = alpha·Σ_{p<kc} A_t[:,p]⊗B[p,:] + beta·C_t   (C_t not read if beta is +0)
//
// with A_t[i,p] = a[t*tsA + i*rsA + p*csA], B[p,j] = b[p*csB+j] and
// C_t[i,j] = c[(t*MR+i)*ldc+j], strides in float32 elements. kc ≥ 1, nt ≥ 1.
type kernelFunc func(kc, nt int, a unsafe.Pointer, rsA, csA, tsA int, b unsafe.Pointer, csB int, c unsafe.Pointer, ldc int, alpha, beta float32)

// edgeKernel is a micro-kernel of width nr < gemmConfig.nr.
type edgeKernel struct {
	nr   int
	kern kernelFunc
}

// gemmConfig holds one tier's micro-kernel and blocking constants.
type gemmConfig struct {
	mr, nr     int // register tile
	kc, mc, nc int // cache blocks (mc a multiple of mr, nc of nr); nc: runBlocks column block
	// ncInner: B̃ chunk width (multiple of nr) when all of M fits one MC block.
	ncInner int
	kern    kernelFunc
	// edge: narrower kernels with the same MR (ascending nr) for the last,
	// ragged column panel; they read the packed B̃ panel with csB = nr.
	edge []edgeKernel
	// packPanel, if set, copies a full nr-wide panel of non-transposed B
	// (kc rows, stride ldb) to [kc][nr]; else packBWith copies in Go.
	packPanel panelCopier
	// packPanelT, if set, packs a full panel of transposed B:
	// dst[p*nr+j] = src[j*ldb+p].
	packPanelT panelCopier
	// widenHalf, if set, widens binary16 to float32 a vector at a time
	// (packBHalf, WidenHalf); else HalfToFloat32 per element.
	widenHalf halfWidener
	// halfKern and halfEdge, if set, are kern and edge reading a binary16
	// B̃: a product with HalfPanels of this nr runs them on the panels in
	// place instead of packing B (panels.go).
	halfKern kernelFunc
	halfEdge []edgeKernel
	// directMNK: products with m·n·k at most this skip packing A (the
	// micro-kernel reads A rows in place through its row stride rsA).
	directMNK int
	// parMNK: products with m·n·k below this run on one core.
	parMNK int
}

// panelCopier is an assembly copier of full B̃ micro-panels, nr floats
// wide: it writes nr·kc floats whatever the config it sits in, so its width
// must be the config's nr (gemmConfig.validate).
type panelCopier struct {
	nr   int
	copy func(dst, src unsafe.Pointer, ldb, kc int)
}

// validate reports a config whose parts do not fit together: a panel
// copier of another width than nr would write past the packed panels, an
// edge kernel must be narrower than nr, and the blocks must be whole tiles.
func (c *gemmConfig) validate() error {
	if c.mr <= 0 || c.nr <= 0 || c.kc <= 0 || c.mc%c.mr != 0 || c.nc%c.nr != 0 || c.ncInner%c.nr != 0 {
		return fmt.Errorf("asm: gemm config %d×%d: kc %d, mc %d, nc %d, ncInner %d must be positive multiples of the tile", c.mr, c.nr, c.kc, c.mc, c.nc, c.ncInner)
	}
	for _, p := range []struct {
		name string
		pc   panelCopier
	}{{"packPanel", c.packPanel}, {"packPanelT", c.packPanelT}} {
		if p.pc.copy != nil && p.pc.nr != c.nr {
			return fmt.Errorf("asm: gemm config %d×%d: %s copies %d-wide panels, want %d", c.mr, c.nr, p.name, p.pc.nr, c.nr)
		}
	}
	if c.halfKern == nil && len(c.halfEdge) > 0 {
		return fmt.Errorf("asm: gemm config %d×%d: half edge kernels without a half kernel", c.mr, c.nr)
	}
	for _, edge := range [][]edgeKernel{c.edge, c.halfEdge} {
		for i, e := range edge {
			if e.nr >= c.nr || i > 0 && e.nr <= edge[i-1].nr {
				return fmt.Errorf("asm: gemm config %d×%d: edge kernel widths must ascend below %d", c.mr, c.nr, c.nr)
			}
		}
	}
	return nil
}

// checkGemm panics if a slice is too short for its dimensions and stride:
// the assembly kernels do not bounds-check. lenB is B's length in elements
// (float32 or binary16).
func checkGemm(transA, transB bool, m, n, k int, a []float32, lda int, lenB, ldb int, c []float32, ldc int) {
	if m < 0 || n < 0 || k < 0 {
		panic(fmt.Sprintf("asm: negative dimension m=%d n=%d k=%d", m, n, k))
	}
	need := func(name string, l, rows, cols, ld int) {
		if rows == 0 || cols == 0 {
			return
		}
		if ld < cols {
			panic(fmt.Sprintf("asm: Sgemm %s: leading dimension %d < %d columns", name, ld, cols))
		}
		if l < (rows-1)*ld+cols {
			panic(fmt.Sprintf("asm: Sgemm %s: len %d < %d for %d×%d with ld %d", name, l, (rows-1)*ld+cols, rows, cols, ld))
		}
	}
	if transA {
		need("A", len(a), k, m, lda)
	} else {
		need("A", len(a), m, k, lda)
	}
	if transB {
		need("B", lenB, n, k, ldb)
	} else {
		need("B", lenB, k, n, ldb)
	}
	need("C", len(c), m, n, ldc)
}

// gemm runs one product on at most threads cores.
func gemm(cfg *gemmConfig, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int, threads int) {
	p := &gemmProblem{cfg: cfg, transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc}
	p.run(threads)
}

// gemmHalfB is gemm with B stored as binary16 (bh): the B̃ panels are
// widened to float32 as they are packed (packBHalf), so the kernels and
// every other step are gemm's, and the result is gemm's on the widened B,
// bit for bit.
func gemmHalfB(cfg *gemmConfig, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, bh []uint16, ldb int, beta float32, c []float32, ldc int, threads int) {
	p := &gemmProblem{cfg: cfg, transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, bh: bh, ldb: ldb, beta: beta, c: c, ldc: ldc}
	p.run(threads)
}

// run computes p on at most threads cores.
func (p *gemmProblem) run(threads int) {
	if p.m <= 0 || p.n <= 0 {
		return
	}
	if p.k == 0 || p.alpha == 0 {
		scaleC(p.m, p.n, p.beta, p.c, p.ldc)
		return
	}
	if p.beta == 0 {
		p.beta = 0 // +0: the kernels test the bits of beta
	}
	cfg := p.cfg
	mnk := p.m * p.n * p.k
	p.directA = !p.transA && mnk <= cfg.directMNK
	if p.directA && p.m%cfg.mr != 0 {
		// The last, ragged MR tile cannot be read in place (the kernel reads
		// MR rows): pack it once for all of K, KC block pc at edgeA[pc·MR:].
		ws := wsPool.Get().(*workspace)
		defer wsPool.Put(ws)
		i0 := p.m / cfg.mr * cfg.mr
		p.edgeA = ws.get(&ws.edge, cfg.mr*p.k)
		for pc := 0; pc < p.k; pc += cfg.kc {
			packA(p.edgeA[pc*cfg.mr:], p.a, p.lda, false, i0, p.m-i0, pc, min(cfg.kc, p.k-pc), cfg.mr)
		}
	}
	workers := max(1, threads)
	if mnk < cfg.parMNK {
		workers = 1
	}
	if p.m <= cfg.mc {
		p.runRows(workers)
	} else {
		p.runBlocks(workers)
	}
}

// Work is handed out dynamically (an atomic counter over chunks), so a core
// slowed by other load does not hold the others back. Chunk boundaries are
// multiples of MR or NR, so every element still goes through the same tile
// and the same KC blocks, whatever the worker count.

// runRows handles M ≤ MC (activations: 197 rows): Ã for all of K is packed
// once, shared read-only, and workers take NR-aligned column chunks; each
// chunk walks all KC blocks with its C chunk hot in L2 and a freshly packed
// B̃ chunk.
func (p *gemmProblem) runRows(workers int) {
	cfg := p.cfg
	mr, nr := cfg.mr, cfg.nr
	mt := (p.m + mr - 1) / mr
	var abuf []float32
	var ws0 *workspace
	if !p.directA {
		ws0 = wsPool.Get().(*workspace)
		defer wsPool.Put(ws0)
		abuf = ws0.get(&ws0.shared, mt*mr*p.k)
	}
	// Small chunks (≈8 per worker) keep the tail imbalance of dynamic
	// scheduling short; Ã is L2-resident, so narrow chunks cost little.
	chunk := roundUp(ceilDiv(p.n, 8*workers), nr)
	chunk = min(max(chunk, nr), cfg.ncInner)
	nchunks := ceilDiv(p.n, chunk)
	workers = min(workers, nchunks)
	// Ã is packed in tasks of a few MR tiles claimed dynamically, so a
	// worker that starts late does not hold the others: they pack its
	// share and only wait for tasks already in progress.
	tilesPerTask := max(1, ceilDiv(mt, 8*workers))
	ntasks := ceilDiv(mt, tilesPerTask)
	var next, nextPack, packed atomic.Int64
	parallel(workers, func(w int) {
		ws := wsPool.Get().(*workspace)
		defer wsPool.Put(ws)
		if !p.directA {
			// Ã block pc starts at abuf[pc*mt*mr], tile t at +t*mr*kc.
			for task := int(nextPack.Add(1) - 1); task < ntasks; task = int(nextPack.Add(1) - 1) {
				t0 := task * tilesPerTask
				t1 := min(mt, t0+tilesPerTask)
				for pc := 0; pc < p.k; pc += cfg.kc {
					kc := min(cfg.kc, p.k-pc)
					i0, i1 := t0*mr, min(p.m, t1*mr)
					packA(abuf[pc*mt*mr+t0*mr*kc:], p.a, p.lda, p.transA, i0, i1-i0, pc, kc, mr)
				}
				packed.Add(1)
			}
			for packed.Load() < int64(ntasks) {
				runtime.Gosched()
			}
		}
		for {
			ch := int(next.Add(1) - 1)
			if ch >= nchunks {
				return
			}
			jc := ch * chunk
			nc := min(chunk, p.n-jc)
			for pc := 0; pc < p.k; pc += cfg.kc {
				kc := min(cfg.kc, p.k-pc)
				var b bBlock
				if p.panelsDirect {
					b = p.hp.block(jc, pc)
				} else {
					bp := ws.get(&ws.b, ceilDiv(nc, nr)*nr*kc)
					p.packB(ws, bp, pc, kc, jc, nc)
					b = packedBlock(bp, nr, kc)
				}
				var a aBlock
				if p.directA {
					a = aBlock{ic: 0, mc: p.m, s: p.a[pc:], rs: p.lda, cs: 1, ts: mr * p.lda}
				} else {
					a = aBlock{ic: 0, mc: p.m, s: abuf[pc*mt*mr:], rs: 1, cs: mr, ts: mr * kc}
				}
				p.macro(ws, a, b, jc, nc, pc, kc)
			}
		}
	})
}

// runBlocks handles M > MC. For each block of NC columns (all of N when
// N ≤ NC and K·N ≤ maxSharedB), B̃ is packed for all of K and shared by
// the workers (packing tasks are claimed dynamically); then workers claim
// MR-aligned row blocks and run the whole K loop on each, packing their own
// Ã. A row block of C is owned by one worker for all KC blocks, so no
// barrier is needed between KC blocks.
func (p *gemmProblem) runBlocks(workers int) {
	cfg := p.cfg
	mr, nr := cfg.mr, cfg.nr
	// Row blocks: a multiple of the worker count, each at most about MC
	// rows, made of near-equal numbers of MR tiles (balanced work).
	tiles := ceilDiv(p.m, mr)
	mblocks := min(tiles, workers*ceilDiv(p.m, workers*cfg.mc))
	workers = min(workers, mblocks)
	// Columns per shared-B̃ block: all of N unless B̃ would pass maxSharedB
	// (or all of N with no packing when B is prepacked HalfPanels).
	ncb := min(roundUp(p.n, nr), cfg.nc)
	if ncb*p.k > maxSharedB {
		ncb = max(nr, maxSharedB/p.k/nr*nr)
	}
	var bbuf []float32
	if p.panelsDirect {
		ncb = roundUp(p.n, nr)
	} else {
		ws0 := wsPool.Get().(*workspace)
		defer wsPool.Put(ws0)
		bbuf = ws0.get(&ws0.shared, ncb*p.k)
	}
	nkb := ceilDiv(p.k, cfg.kc)
	for jc := 0; jc < p.n; jc += ncb {
		nc := min(ncb, p.n-jc)
		npan := ceilDiv(nc, nr)
		ncPad := npan * nr
		panPerTask := max(1, ceilDiv(npan, 8*workers))
		ptasks := nkb * ceilDiv(npan, panPerTask)
		if p.panelsDirect {
			ptasks = 0
		}
		var nextPack, packed, nextBlock atomic.Int64
		parallel(workers, func(w int) {
			ws := wsPool.Get().(*workspace)
			defer wsPool.Put(ws)
			// B̃ block pc starts at bbuf[pc*ncPad], panel jp at +jp*nr*kc.
			for t := int(nextPack.Add(1) - 1); t < ptasks; t = int(nextPack.Add(1) - 1) {
				pc := t % nkb * cfg.kc
				kc := min(cfg.kc, p.k-pc)
				p0 := t / nkb * panPerTask
				p1 := min(npan, p0+panPerTask)
				p.packB(ws, bbuf[pc*ncPad+p0*nr*kc:], pc, kc, jc+p0*nr, min(nc, p1*nr)-p0*nr)
				packed.Add(1)
			}
			for packed.Load() < int64(ptasks) {
				runtime.Gosched()
			}
			for ib := int(nextBlock.Add(1) - 1); ib < mblocks; ib = int(nextBlock.Add(1) - 1) {
				ic := ib * tiles / mblocks * mr
				mc := min(p.m, (ib+1)*tiles/mblocks*mr) - ic
				for pc := 0; pc < p.k; pc += cfg.kc {
					kc := min(cfg.kc, p.k-pc)
					a := p.blockA(ws, ic, mc, pc, kc)
					var b bBlock
					if p.panelsDirect {
						b = p.hp.block(jc, pc)
					} else {
						b = packedBlock(bbuf[pc*ncPad:], nr, kc)
					}
					p.macro(ws, a, b, jc, nc, pc, kc)
				}
			}
		}) // returns when all workers are done: bbuf can be repacked
	}
}

// maxSharedB caps the floats of B̃ packed at once by runBlocks (64 MiB).
const maxSharedB = 16 << 20

func ceilDiv(a, b int) int { return (a + b - 1) / b }
func roundUp(a, b int) int { return ceilDiv(a, b) * b }

// parallel runs f(0..workers-1), f(0) on the calling goroutine and the
// others on pooled workers (pool.go); it returns when all are done.
func parallel(workers int, f func(w int)) {
	if workers <= 1 {
		f(0)
		return
	}
	var pending atomic.Int32
	pending.Store(int32(workers - 1))
	for w := 1; w < workers; w++ {
		getWorker().submit(&poolJob{f: f, w: w, pending: &pending})
	}
	f(0)
	for pending.Load() != 0 {
		runtime.Gosched()
	}
}

// scaleC sets C = beta·C (C = 0 when beta is 0, without reading C).
func scaleC(m, n int, beta float32, c []float32, ldc int) {
	for i := 0; i < m; i++ {
		row := c[i*ldc : i*ldc+n]
		if beta == 0 {
			clear(row)
		} else if beta != 1 {
			for j := range row {
				row[j] *= beta
			}
		}
	}
}

type gemmProblem struct {
	cfg            *gemmConfig
	transA, transB bool
	directA        bool // read A in place instead of packing it
	// edgeA: with directA, op(A)'s last ragged MR tile packed for all of K.
	edgeA []float32
	// hp: B as prepacked binary16 panels instead of b (gemmPanels);
	// panelsDirect: the tier's half kernels read them in place.
	hp            *HalfPanels
	panelsDirect  bool
	m, n, k       int
	alpha, beta   float32
	a, b, c       []float32
	bh            []uint16 // B as binary16 instead of b (gemmHalfB)
	lda, ldb, ldc int
}

// aBlock describes rows ic:ic+mc of op(A)[:, pc:pc+kc], packed or in place.
type aBlock struct {
	ic, mc     int
	s          []float32
	rs, cs, ts int // kernelFunc strides
}

// blockA packs op(A)[ic:ic+mc, pc:pc+kc] into ws.a, or points at it in
// place when p.directA.
func (p *gemmProblem) blockA(ws *workspace, ic, mc, pc, kc int) aBlock {
	mr := p.cfg.mr
	if p.directA {
		return aBlock{ic: ic, mc: mc, s: p.a[ic*p.lda+pc:], rs: p.lda, cs: 1, ts: mr * p.lda}
	}
	ap := ws.get(&ws.a, (mc+mr-1)/mr*mr*kc)
	packA(ap, p.a, p.lda, p.transA, ic, mc, pc, kc, mr)
	return aBlock{ic: ic, mc: mc, s: ap, rs: 1, cs: mr, ts: mr * kc}
}

// bBlock locates the nr-wide B̃ micro-panels of one KC block: panel jp
// (counted from the block's first column) starts at base + jp·step bytes,
// its rows csB elements apart, float32 or (half) binary16.
type bBlock struct {
	base unsafe.Pointer
	step uintptr
	csB  int
	half bool
}

// packedBlock locates panels packed [kc][nr] one after the other in bp.
func packedBlock(bp []float32, nr, kc int) bBlock {
	return bBlock{base: unsafe.Pointer(&bp[0]), step: uintptr(4 * nr * kc), csB: nr}
}

// macro runs the jr/ir loops: C[a.ic:+a.mc, jc:jc+nc] (+)= Ã·B̃.
func (p *gemmProblem) macro(ws *workspace, a aBlock, b bBlock, jc, nc, pc, kc int) {
	cfg := p.cfg
	mr, nr := cfg.mr, cfg.nr
	kernel, edge := cfg.kern, cfg.edge
	if b.half {
		kernel, edge = cfg.halfKern, cfg.halfEdge
	}
	beta := p.beta
	if pc > 0 {
		beta = 1
	}
	mtiles := (a.mc + mr - 1) / mr
	full := a.mc / mr
	for jp := 0; jp*nr < nc; jp++ {
		j := jc + jp*nr
		w := min(nr, jc+nc-j)
		bt := unsafe.Add(b.base, uintptr(jp)*b.step)
		kern, knr := kernel, nr
		if w < nr {
			for _, e := range edge {
				if e.nr >= w {
					kern, knr = e.kern, e.nr
					break
				}
			}
		}
		t0 := 0
		if w == knr && full > 0 {
			kern(kc, full, unsafe.Pointer(&a.s[0]), a.rs, a.cs, a.ts, bt, b.csB, unsafe.Pointer(&p.c[a.ic*p.ldc+j]), p.ldc, p.alpha, beta)
			t0 = full
		}
		// Edge tiles go through the MR×knr scratch tile.
		for t := t0; t < mtiles; t++ {
			h := min(mr, a.mc-t*mr)
			at, rs, cs := unsafe.Pointer(&a.s[t*a.ts]), a.rs, a.cs
			if p.directA && h < mr {
				at, rs, cs = unsafe.Pointer(&p.edgeA[pc*mr]), 1, mr
			}
			scratch := ws.get(&ws.scratch, mr*knr)
			kern(kc, 1, at, rs, cs, 0, bt, b.csB, unsafe.Pointer(&scratch[0]), knr, 1, 0)
			addTile(p.c[(a.ic+t*mr)*p.ldc+j:], p.ldc, scratch, knr, h, w, p.alpha, beta)
		}
	}
}

// addTile sets C[:h,:w] = alpha·S + beta·C (C not read when beta is 0).
func addTile(c []float32, ldc int, s []float32, lds, h, w int, alpha, beta float32) {
	for i := 0; i < h; i++ {
		cr := c[i*ldc : i*ldc+w]
		sr := s[i*lds : i*lds+w]
		if beta == 0 {
			for j, v := range sr {
				cr[j] = alpha * v
			}
		} else {
			for j, v := range sr {
				cr[j] = alpha*v + beta*cr[j]
			}
		}
	}
}

// packB packs op(B)[pc:pc+kc, jc:jc+nc] with the tier's panel copier.
func (p *gemmProblem) packB(ws *workspace, dst []float32, pc, kc, jc, nc int) {
	if p.hp != nil {
		p.packBPanels(dst, pc, kc, jc, nc)
		return
	}
	if p.bh != nil {
		p.packBHalf(ws, dst, pc, kc, jc, nc)
		return
	}
	panel := p.cfg.packPanel.copy
	if p.transB {
		panel = p.cfg.packPanelT.copy
		if int64(p.cfg.nr)*int64(p.ldb) >= 1<<31 { // gather offsets are int32
			panel = nil
		}
	}
	packBWith(panel, dst, p.b, p.ldb, p.transB, pc, kc, jc, nc, p.cfg.nr)
}

// packBHalf packs op(B)[pc:pc+kc, jc:jc+nc] of a binary16 B into the
// panels packB makes from the widened B. Non-transposed, each panel's kc
// row segments are widened straight into it; transposed, the panel's nr
// stored rows (kc halves each) are widened into a [nr][kc] scratch that the
// tier's transposing copier then packs.
func (p *gemmProblem) packBHalf(ws *workspace, dst []float32, pc, kc, jc, nc int) {
	cfg := p.cfg
	nr := cfg.nr
	for jp := 0; jp*nr < nc; jp++ {
		j0 := jc + jp*nr
		w := min(nr, jc+nc-j0)
		d := dst[jp*nr*kc : (jp+1)*nr*kc]
		if !p.transB {
			o := pc*p.ldb + j0
			_ = p.bh[o+(kc-1)*p.ldb+w-1] // bounds check for widenRows
			widenRows(cfg, unsafe.Pointer(&d[0]), unsafe.Pointer(&p.bh[o]), kc, w, nr, p.ldb)
			if w < nr {
				for r := 0; r < kc; r++ {
					clear(d[r*nr+w : (r+1)*nr])
				}
			}
			continue
		}
		s := ws.get(&ws.half, nr*kc)
		o := j0*p.ldb + pc
		_ = p.bh[o+(w-1)*p.ldb+kc-1]
		widenRows(cfg, unsafe.Pointer(&s[0]), unsafe.Pointer(&p.bh[o]), w, kc, kc, p.ldb)
		var panel func(dst, src unsafe.Pointer, ldb, kc int)
		if w == nr {
			panel = cfg.packPanelT.copy
		}
		packBWith(panel, d, s, kc, true, 0, kc, 0, w, nr)
	}
}

// packBWith packs op(B)[pc:pc+kc, jc:jc+nc] into nr-wide micro-panels, each
// stored [kc][nr] and zero-padded on the right, with an optional assembly
// copier for full panels (nil: the Go loops below, which are its reference).
func packBWith(panel func(dst, src unsafe.Pointer, ldb, kc int), dst, b []float32, ldb int, transB bool, pc, kc, jc, nc, nr int) {
	if panel != nil {
		full := nc / nr
		for jp := 0; jp < full; jp++ {
			var o, last int
			if transB {
				o = (jc+jp*nr)*ldb + pc
				last = o + (nr-1)*ldb + kc - 1
			} else {
				o = pc*ldb + jc + jp*nr
				last = o + (kc-1)*ldb + nr - 1
			}
			_ = b[last] // bounds checks for the assembly
			_ = dst[(jp+1)*nr*kc-1]
			panel(unsafe.Pointer(&dst[jp*nr*kc]), unsafe.Pointer(&b[o]), ldb, kc)
		}
		if full*nr < nc {
			packBWith(nil, dst[full*nr*kc:], b, ldb, transB, pc, kc, jc+full*nr, nc-full*nr, nr)
		}
		return
	}
	if !transB {
		// Row by row: each source row segment is read sequentially.
		for p := 0; p < kc; p++ {
			o := (pc+p)*ldb + jc
			row := b[o : o+nc]
			for jp := 0; jp*nr < nc; jp++ {
				dd := dst[jp*nr*kc+p*nr : jp*nr*kc+p*nr+nr]
				n := copy(dd, row[jp*nr:])
				clear(dd[n:])
			}
		}
		return
	}
	for jp := 0; jp*nr < nc; jp++ {
		j0 := jc + jp*nr
		w := min(nr, jc+nc-j0)
		d := dst[jp*nr*kc : (jp+1)*nr*kc]
		if w < nr {
			clear(d)
		}
		for jj := 0; jj < w; jj++ {
			o := (j0+jj)*ldb + pc
			col := b[o : o+kc]
			dd := d[jj:]
			for p, v := range col {
				dd[p*nr] = v
			}
		}
	}
}

// packA packs op(A)[ic:ic+mc, pc:pc+kc] into mr-tall micro-panels, each
// stored [kc][mr] and zero-padded at the bottom.
func packA(dst, a []float32, lda int, transA bool, ic, mc, pc, kc, mr int) {
	for t := 0; t*mr < mc; t++ {
		i0 := ic + t*mr
		h := min(mr, ic+mc-i0)
		d := dst[t*mr*kc : (t+1)*mr*kc]
		if transA {
			for p := 0; p < kc; p++ {
				o := (pc+p)*lda + i0
				dd := d[p*mr : p*mr+mr]
				copy(dd, a[o:o+h])
				clear(dd[h:])
			}
			continue
		}
		if h == 6 && mr == 6 {
			packA6(d, a[i0*lda+pc:], lda, kc)
			continue
		}
		if h < mr {
			clear(d)
		}
		for ii := 0; ii < h; ii++ {
			o := (i0+ii)*lda + pc
			row := a[o : o+kc]
			dd := d[ii:]
			for p, v := range row {
				dd[p*mr] = v
			}
		}
	}
}

// packA6 interleaves 6 rows of a (stride lda, kc long) into d[kc][6],
// writing d sequentially.
func packA6(d, a []float32, lda, kc int) {
	r0 := a[0*lda : 0*lda+kc]
	r1 := a[1*lda : 1*lda+kc]
	r2 := a[2*lda : 2*lda+kc]
	r3 := a[3*lda : 3*lda+kc]
	r4 := a[4*lda : 4*lda+kc]
	r5 := a[5*lda : 5*lda+kc]
	d = d[:6*kc]
	for p := range r0 {
		dd := d[p*6 : p*6+6 : p*6+6]
		dd[0], dd[1], dd[2] = r0[p], r1[p], r2[p]
		dd[3], dd[4], dd[5] = r3[p], r4[p], r5[p]
	}
}

// workspace holds one worker's packing buffers, reused across calls.
type workspace struct {
	a, b, edge, scratch []float32
	half                []float32 // widened rows of a binary16 B (packBHalf)
	shared              []float32 // Ã or B̃ shared by the workers of one product
}

var wsPool = sync.Pool{New: func() any { return new(workspace) }}

// get returns (*buf)[:n], reallocating it 64-byte aligned if too small.
func (w *workspace) get(buf *[]float32, n int) []float32 {
	if cap(*buf) < n {
		*buf = alignedFloats(n + n/4)
	}
	return (*buf)[:n]
}

// alignedFloats returns a zeroed slice of n float32 starting on a 64-byte
// boundary (Go only guarantees the element alignment).
func alignedFloats(n int) []float32 {
	s := make([]float32, n+16)
	off := int((64 - uintptr(unsafe.Pointer(&s[0]))%64) % 64 / 4)
	return s[off : off+n : off+n]
}
