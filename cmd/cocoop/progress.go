package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// reporter shows the progress of long jobs on stderr: a live progress bar
// (steps, loss, accuracy, ETA) when stderr is a terminal, or else (and with
// --quiet) periodic plain log lines. Every plain line is also written to
// log, the run's log file, when set.
type reporter struct {
	mu     sync.Mutex
	stderr io.Writer
	log    io.Writer // log file or nil
	bars   bool      // live bars on stderr
	now    func() time.Time
}

// newReporter returns a reporter writing to stderr; bars are used only when
// stderr is a terminal and quiet is false.
func newReporter(stderr io.Writer, quiet bool) *reporter {
	return &reporter{stderr: stderr, bars: !quiet && isTerminal(stderr), now: time.Now}
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// withLog returns a copy of r that also writes its lines to log.
func (r *reporter) withLog(log io.Writer) *reporter {
	return &reporter{stderr: r.stderr, log: log, bars: r.bars, now: r.now}
}

// logf writes one plain line to the log file and, unless a bar is shown,
// to stderr (with a bar, above it).
func (r *reporter) logf(format string, a ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.linef(nil, format, a...)
}

func (r *reporter) linef(bar *progressbar.ProgressBar, format string, a ...any) {
	line := fmt.Sprintf(format, a...)
	if !strings.HasSuffix(line, "\n") {
		line += "\n"
	}
	if r.log != nil {
		io.WriteString(r.log, line)
	}
	if bar != nil {
		bar.Clear()
	}
	io.WriteString(r.stderr, line)
}

// task is one progress-tracked job of total steps.
type task struct {
	r         *reporter
	name      string
	total     int
	done      int
	every     int // plain line every this many steps (and at the last)
	start     time.Time
	lastPlain time.Time
	bar       *progressbar.ProgressBar
}

// start begins a task of total steps; without bars a plain line is printed
// every `every` steps (0: about every 10% and at most every 30 s).
func (r *reporter) start(name string, total, every int) *task {
	t := &task{r: r, name: name, total: total, every: every, start: r.now()}
	t.lastPlain = t.start
	if r.bars && total > 0 {
		t.bar = progressbar.NewOptions(total,
			progressbar.OptionSetWriter(r.stderr),
			progressbar.OptionSetDescription(name),
			progressbar.OptionShowCount(),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionSetElapsedTime(true),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionSetWidth(24),
			progressbar.OptionClearOnFinish(),
		)
	}
	return t
}

// step advances the task by n steps; status is the bar's description
// (e.g. "epoch 2/10 loss 0.53 acc 75%") and line, if non-empty, the plain
// log line printed when due.
func (t *task) step(n int, status, line string) {
	r := t.r
	r.mu.Lock()
	defer r.mu.Unlock()
	t.done += n
	now := r.now()
	if t.bar != nil {
		t.bar.Describe(t.name + " " + status)
		t.bar.Add(n)
	}
	if line == "" {
		line = status
	}
	due := t.done >= t.total
	if t.every > 0 {
		due = due || t.done/t.every != (t.done-n)/t.every
	} else {
		tenth := max(1, t.total/10)
		due = due || t.done/tenth != (t.done-n)/tenth || now.Sub(t.lastPlain) >= 30*time.Second
	}
	if !due {
		return
	}
	t.lastPlain = now
	text := fmt.Sprintf("%s [%d/%d] %s eta %s", t.name, t.done, t.total, line, fmtDuration(t.eta(now)))
	if t.bar != nil {
		// The bar already shows it: only the log file gets the line.
		if r.log != nil {
			fmt.Fprintln(r.log, text)
		}
		return
	}
	r.linef(nil, "%s", text)
}

// printf writes a plain line while the task runs (above its bar).
func (t *task) printf(format string, a ...any) {
	t.r.mu.Lock()
	defer t.r.mu.Unlock()
	t.r.linef(t.bar, format, a...)
}

// eta estimates the remaining time from the mean step time so far.
func (t *task) eta(now time.Time) time.Duration {
	if t.done == 0 || t.total <= t.done {
		return 0
	}
	el := now.Sub(t.start)
	return time.Duration(float64(el) / float64(t.done) * float64(t.total-t.done))
}

// finish closes the task's bar.
func (t *task) finish() time.Duration {
	t.r.mu.Lock()
	defer t.r.mu.Unlock()
	if t.bar != nil {
		t.bar.Finish()
		t.bar.Clear()
		t.bar = nil
	}
	return t.r.now().Sub(t.start)
}

// fmtDuration prints d as h:mm:ss (Dassl's eta format), or m:ss.
func fmtDuration(d time.Duration) string {
	s := int(d.Round(time.Second) / time.Second)
	if s >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
	}
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}
