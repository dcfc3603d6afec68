package optim_test

import (
	"fmt"

	"github.com/gocoop/gocoop/nn/optim"
)

// CoCoOp's learning rate per epoch (MAX_EPOCH 10, base 0.002, one warm-up
// epoch at 1e-5), as in docs/cocoop.md §2.3.
func ExampleCoCoOpSchedule() {
	s := optim.CoCoOpSchedule(10, 0.002)
	for e := 0; e < 10; e++ {
		fmt.Printf("%d %.8f\n", e, s.LR(e))
	}
	// Output:
	// 0 0.00001000
	// 1 0.00200000
	// 2 0.00195106
	// 3 0.00180902
	// 4 0.00158779
	// 5 0.00130902
	// 6 0.00100000
	// 7 0.00069098
	// 8 0.00041221
	// 9 0.00019098
}
