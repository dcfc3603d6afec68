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
// successor's base lr; spec cocoop.md §2.3.)
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
