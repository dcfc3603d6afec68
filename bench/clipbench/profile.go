package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"time"
)

// opCategory classifies one CPU-profile sample by its stack (leaf first).
// GoCoOp's parallel loops run in fresh goroutines, whose stacks do not
// reach the caller, so samples are classified by the op they are in, not
// by the layer that called it.
func opCategory(stack []string) string {
	has := func(subs ...string) bool {
		for _, f := range stack {
			for _, s := range subs {
				if strings.Contains(f, s) {
					return true
				}
			}
		}
		return false
	}
	leaf := stack[0]
	switch {
	case has("runtime.gosched_m"):
		return "sgemm: packing barrier wait (runtime.Gosched spin)"
	case has("gcBgMarkWorker", "runtime.gcDrain", "runtime.bgsweep", "runtime.bgscavenge", "runtime.mallocgc",
		"runtime.memclrNoHeapPointers", "runtime.sysUnused", "runtime.sysAlloc", "runtime.(*mheap)"):
		return "allocation / GC (incl. zeroing new buffers)"
	case has("asm.gemm", "asm.Sgemm", "asm.(*gemmProblem)", "asm.sgemmKern", "asm.pack"):
		return "sgemm: kernels + packing"
	case has("Attention", "attention", "scaleMaskSoftmax", "softmaxBackwardLast", "forSeqHeads", "scatterPacked"):
		return "attention: softmax, mask, head split/merge"
	case has("LayerNorm", "layerNorm"):
		return "layer norm"
	case has("QuickGELU", "quickGELU", "sigmoid"):
		return "QuickGELU"
	case strings.HasPrefix(leaf, "runtime.") || strings.HasPrefix(leaf, "internal/runtime") || strings.HasPrefix(leaf, "sync."):
		return "runtime: scheduler, goroutine start/park"
	case has("gocoop/gocoop/"):
		return "elementwise, copies, reductions (other ops)"
	}
	return "other"
}

// summarizeProfile prints the CPU profile at path by op category, from
// `go tool pprof -traces`.
func summarizeProfile(w io.Writer, path string) error {
	out, err := exec.Command("go", "tool", "pprof", "-traces", path).Output()
	if err != nil {
		return fmt.Errorf("go tool pprof -traces %s: %w", path, err)
	}
	cats := map[string]time.Duration{}
	var total time.Duration
	var stack []string
	var val time.Duration
	flush := func() {
		if len(stack) > 0 {
			cats[opCategory(stack)] += val
			total += val
		}
		stack, val = nil, 0
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "-----------+") {
			flush()
			continue
		}
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if stack == nil && len(f) >= 2 {
			d, err := time.ParseDuration(f[0])
			if err != nil {
				continue // header lines
			}
			val, stack = d, []string{f[1]}
			continue
		}
		if stack != nil {
			stack = append(stack, f[0])
		}
	}
	flush()
	if total == 0 {
		return fmt.Errorf("%s: no samples", path)
	}
	type kv struct {
		k string
		v time.Duration
	}
	var list []kv
	for k, v := range cats {
		list = append(list, kv{k, v})
	}
	sort.Slice(list, func(i, j int) bool { return list[i].v > list[j].v })
	fmt.Fprintf(w, "%s: %v of CPU samples\n\n| op | CPU | share |\n|---|---:|---:|\n", path, total)
	for _, e := range list {
		fmt.Fprintf(w, "| %s | %s s | %s%% |\n", e.k, strconv.FormatFloat(e.v.Seconds(), 'f', 2, 64),
			strconv.FormatFloat(100*float64(e.v)/float64(total), 'f', 1, 64))
	}
	return nil
}
