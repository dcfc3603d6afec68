package optim

import "math"

// Schedule gives the learning rate of a 0-based epoch. Schedules are stepped
// once per epoch (Dassl's update_lr at the last batch): set the optimizer's
// LR to LR(e) before training epoch e.
type Schedule interface {
	LR(epoch int) float64
}

// Cosine is torch CosineAnnealingLR(T_max = MaxEpoch, eta_min = 0):
// lr(e) = BaseLR·(1 + cos(π·e/MaxEpoch))/2.
type Cosine struct {
	MaxEpoch int
	BaseLR   float64
}

// LR implements Schedule.
func (c Cosine) LR(epoch int) float64 {
	return c.BaseLR * (1 + math.Cos(math.Pi*float64(epoch)/float64(c.MaxEpoch))) / 2
}

// ConstantWarmup is Dassl's ConstantWarmupScheduler: WarmupLR for the first
// Warmup epochs, then the wrapped schedule, whose counter starts only after
// warm-up: lr(e) = After.LR(e − Warmup) for e ≥ Warmup. (Dassl steps the
// successor only once last_epoch ≥ warmup_epoch, so epoch Warmup runs at the
// successor's base lr; docs/cocoop.md §2.3.)
type ConstantWarmup struct {
	After    Schedule
	Warmup   int
	WarmupLR float64
}

// LR implements Schedule.
func (w ConstantWarmup) LR(epoch int) float64 {
	if epoch < w.Warmup {
		return w.WarmupLR
	}
	return w.After.LR(epoch - w.Warmup)
}

// CoCoOpSchedule is the paper's schedule: cosine from baseLR over maxEpoch
// epochs after one constant warm-up epoch at 1e-5.
func CoCoOpSchedule(maxEpoch int, baseLR float64) Schedule {
	return ConstantWarmup{After: Cosine{MaxEpoch: maxEpoch, BaseLR: baseLR}, Warmup: 1, WarmupLR: 1e-5}
}

// LinearWarmup ramps the learning rate linearly over the first Warmup
// steps, BaseLR·(e+1)/Warmup, then follows After counted from the end of
// warm-up: lr(e) = After.LR(e − Warmup). With After = Cosine{MaxEpoch:
// total − Warmup, BaseLR} it is open_clip's cosine_lr, the per-step
// schedule of CLIP pretraining (WarmupCosine).
type LinearWarmup struct {
	After  Schedule
	Warmup int
	BaseLR float64
}

// LR implements Schedule.
func (w LinearWarmup) LR(e int) float64 {
	if e < w.Warmup {
		return w.BaseLR * float64(e+1) / float64(w.Warmup)
	}
	return w.After.LR(e - w.Warmup)
}

// WarmupCosine is linear warm-up over warmup steps to baseLR, then cosine
// annealing to zero at step total.
func WarmupCosine(total, warmup int, baseLR float64) Schedule {
	return LinearWarmup{After: Cosine{MaxEpoch: max(total-warmup, 1), BaseLR: baseLR}, Warmup: warmup, BaseLR: baseLR}
}
