package main

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestReporterPlainLines(t *testing.T) {
	var stderr, log bytes.Buffer
	r := newReporter(&stderr, false).withLog(&log)
	if r.bars {
		t.Fatal("a buffer is not a terminal")
	}
	clock := time.Unix(0, 0)
	r.now = func() time.Time { return clock }
	tk := r.start("EuroSAT seed 1", 45, 20)
	for i := range 45 {
		clock = clock.Add(time.Second)
		tk.step(1, "status", "loss 0.5")
		if i == 10 {
			tk.printf("epoch 1 done")
		}
	}
	tk.finish()
	lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
	// Steps 20, 40 and the last (45), plus the printf line.
	if len(lines) != 4 || !strings.Contains(lines[1], "[20/45] loss 0.5 eta 0:25") || !strings.HasSuffix(lines[3], "[45/45] loss 0.5 eta 0:00") {
		t.Errorf("stderr:\n%s", stderr.String())
	}
	if log.String() != stderr.String() {
		t.Errorf("log file differs from stderr:\n%s", log.String())
	}
}

func TestReporterBar(t *testing.T) {
	var stderr, log bytes.Buffer
	r := newReporter(&stderr, false).withLog(&log)
	r.bars = true // as on a terminal
	tk := r.start("train", 10, 5)
	for range 10 {
		tk.step(1, "epoch 1/1 loss 0.4 acc 50.0%", "")
	}
	tk.printf("epoch done")
	tk.finish()
	if !strings.Contains(stderr.String(), "epoch done") || !strings.Contains(stderr.String(), "train epoch 1/1 loss 0.4") {
		t.Errorf("stderr %q", stderr.String())
	}
	// The log file gets plain lines only, no bar.
	if strings.Count(log.String(), "\n") != 3 || strings.Contains(log.String(), "\r") {
		t.Errorf("log %q", log.String())
	}
	if fmtDuration(3725*time.Second) != "1:02:05" || fmtDuration(65*time.Second) != "1:05" {
		t.Error("fmtDuration")
	}
}
