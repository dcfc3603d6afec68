package asm

// The assembly kernels are generated: gen_gemm.go writes the sgemm
// micro-kernels (gemm_*_amd64.s), gen_rows.go the row helpers
// (rows_*_amd64.s). Run go generate here after editing a generator;
// TestGeneratedFiles fails while a committed file differs from what its
// generator writes. The panel copiers (pack_*_amd64.s) are written by hand.

//go:generate go run gen_gemm.go
//go:generate go run gen_rows.go
