package asm

import (
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

// TestPoolHandoff hands jobs to pooled workers while they are going to
// sleep: each Parallel call follows a pause close to poolSpin, so a
// worker's last poll, its parking and the next submit race (submit's
// comment). Every job must run and every call return; a worker left
// asleep with its job would hang the call, and the watchdog fails the test
// instead.
func TestPoolHandoff(t *testing.T) {
	const calls = 300
	var ran atomic.Int64
	done := make(chan int)
	go func() {
		want := 0
		for i := range calls {
			prev := runtime.GOMAXPROCS(2 + i%3)
			workers := 2 + i%3
			Parallel(workers, func(int) { ran.Add(1) })
			want += workers
			runtime.GOMAXPROCS(prev)
			pause := time.Now().Add(poolSpin*3/4 + time.Duration(i%8)*poolSpin/16) // 0.75–1.19 poolSpin
			for time.Now().Before(pause) {
			}
		}
		done <- want
	}()
	select {
	case want := <-done:
		if got := ran.Load(); got != int64(want) {
			t.Errorf("%d jobs ran, want %d", got, want)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("a Parallel call did not return within 30 s (%d jobs ran): a job was left with a sleeping worker", ran.Load())
	}
}
