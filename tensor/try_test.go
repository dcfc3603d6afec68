package tensor

import (
	"errors"
	"strings"
	"testing"
)

func TestTry(t *testing.T) {
	if err := Try(func() {}); err != nil {
		t.Fatalf("no panic: %v", err)
	}
	err := Try(func() { Add(New(2, 3), New(4, 3)) })
	var se *ShapeError
	if !errors.As(err, &se) || !strings.Contains(err.Error(), "[2 3] and [4 3]") {
		t.Errorf("shape mismatch: %v", err)
	}
	if err := Try(func() { panic("ids row 3 has no EOT") }); err == nil || err.Error() != "ids row 3 has no EOT" {
		t.Errorf("string panic: %v", err)
	}
}
