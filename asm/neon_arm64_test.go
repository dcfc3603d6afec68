//go:build !purego

package asm

import "testing"

// TestNEONTier checks what README and docs/kernels.md §3 say of the arm64
// tier: it is registered and chosen where ASIMD is present, with the 8×12
// micro-kernel, the 8×4 and 8×8 edge kernels and both panel copiers in
// assembly (the row helpers are checked on every tier by rows_test.go).
func TestNEONTier(t *testing.T) {
	if !hasNEON() {
		t.Skip("no ASIMD")
	}
	k := tiers[NEON]
	if k == nil {
		t.Fatal("NEON tier not registered")
	}
	g := k.gemm
	if g.mr != 8 || g.nr != 12 || len(g.edge) != 2 || g.edge[0].nr != 4 || g.edge[1].nr != 8 {
		t.Errorf("NEON gemm: %d×%d with %d edge kernels, want 8×12 with 8×4 and 8×8", g.mr, g.nr, len(g.edge))
	}
	if g.packPanel.copy == nil || g.packPanelT.copy == nil {
		t.Error("NEON gemm: a panel copier is missing")
	}
	if sup := SupportedTiers(); sup[len(sup)-1] != NEON {
		t.Errorf("SupportedTiers() = %v, want NEON last (the best)", sup)
	}
}
