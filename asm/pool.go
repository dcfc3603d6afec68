package asm

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// A small pool of persistent worker goroutines for parallel. Starting a
// goroutine per parallel region wakes an idle thread through a futex on
// every sgemm call (hundreds per training step); a pooled worker instead
// spins briefly (yielding its P with runtime.Gosched, so other goroutines
// are never held back) after each job and picks up the next one without a
// wake-up, parking on a channel only after poolSpin of idleness. Results do
// not depend on which goroutine runs a job: the callers hand out work by
// index or by atomic counters, as before.

// poolSpin is how long an idle worker polls for a new job before parking
// (50 µs, 200 µs, 1 ms measured on the training step: 1 ms was fastest; the
// poll yields its P each time, so it only costs an otherwise idle core).
const poolSpin = time.Millisecond

type poolJob struct {
	f       func(w int)
	w       int
	pending *atomic.Int32
}

type poolWorker struct {
	job      atomic.Pointer[poolJob]
	sleeping atomic.Bool
	wake     chan struct{} // capacity 1
}

var workerPool struct {
	mu   sync.Mutex
	idle []*poolWorker
}

func getWorker() *poolWorker {
	workerPool.mu.Lock()
	if n := len(workerPool.idle); n > 0 {
		pw := workerPool.idle[n-1]
		workerPool.idle = workerPool.idle[:n-1]
		workerPool.mu.Unlock()
		return pw
	}
	workerPool.mu.Unlock()
	pw := &poolWorker{wake: make(chan struct{}, 1)}
	go pw.loop()
	return pw
}

func putWorker(pw *poolWorker) {
	workerPool.mu.Lock()
	workerPool.idle = append(workerPool.idle, pw)
	workerPool.mu.Unlock()
}

// submit hands j to pw, waking it if it has parked.
//
// submit and loop meet as in Dekker's algorithm: submit writes job then
// reads sleeping, loop writes sleeping then reads job, so at least one of
// them sees the other's write and the job is never left behind a parked
// worker. Each write is an atomic swap, a read-modify-write, which orders
// it before the read that follows on any machine: a plain atomic store
// then load (STLR then LDAR on arm64) is enough on the hardware, but
// qemu-user on x86, which CI runs the arm64 tests under, let that load
// pass the store: a worker slept with its job and the caller waited for
// it forever (once in CI; a stress loop of Parallel calls spaced about
// poolSpin apart hung within 100 s under qemu before, and ran 60 s after).
// TestPoolHandoff runs such calls.
func (pw *poolWorker) submit(j *poolJob) {
	pw.job.Swap(j)
	if pw.sleeping.Load() {
		select {
		case pw.wake <- struct{}{}:
		default:
		}
	}
}

func (pw *poolWorker) loop() {
	for {
		j := pw.job.Load()
		if j == nil {
			start := time.Now()
			for j == nil && time.Since(start) < poolSpin {
				runtime.Gosched()
				j = pw.job.Load()
			}
			if j == nil {
				pw.sleeping.Swap(true) // a swap: see submit
				if j = pw.job.Load(); j == nil {
					<-pw.wake
				}
				pw.sleeping.Store(false)
				continue
			}
		}
		pw.job.Store(nil)
		f, w, pending := j.f, j.w, j.pending
		f(w)
		putWorker(pw) // idle before the caller can see the job done
		pending.Add(-1)
	}
}

// Parallel runs f(0..workers-1) concurrently, f(0) on the calling goroutine
// and the others on the pooled workers, and returns when all are done.
func Parallel(workers int, f func(w int)) { parallel(workers, f) }
