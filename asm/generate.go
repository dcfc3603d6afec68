package asm

// The assembly kernels are generated: gen_gemm.go writes the amd64 sgemm
// micro-kernels (gemm_*_amd64.s), gen_rows.go the amd64 row helpers
// (rows_*_amd64.s), gen_neon.go all arm64 kernels (gemm_neon*_arm64.s,
// pack_neon_arm64.s, rows_neon_arm64.s), gen_peak.go the FMA-throughput
// loops that measure the peak (peak_amd64.s). Run go generate here after
// editing a generator; TestGeneratedFiles fails while a committed file
// differs from what its generator writes. The amd64 panel copiers
// (pack_*_amd64.s) are written by hand.

//go:generate go run gen_gemm.go
//go:generate go run gen_rows.go
//go:generate go run gen_neon.go
//go:generate go run gen_peak.go
