//go:build !cuda

package cuda

import (
	"errors"
	"strings"
	"testing"
)

func TestOpenWithoutTagSaysHowToBuild(t *testing.T) {
	_, err := Open()
	if !errors.Is(err, ErrNotBuilt) || !strings.Contains(err.Error(), "-tags cuda") {
		t.Errorf("Open in the default build: %v", err)
	}
}
