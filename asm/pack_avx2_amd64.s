//go:build !purego

#include "textflag.h"

// Panel copies for packing B̃ (non-transposed B): kc rows of NR floats,
// source row stride ldb (elements), into a contiguous [kc][NR] panel.
// Go reference: the non-transposed loop in packBWith (gemm.go).
//
// The source rows are ldb·4 bytes apart (3–12 KiB for CLIP), too far for
// the hardware stride prefetcher, so each row PREFETCHT0s the row 16 ahead.
// Registers: SI source row, DI destination, DX row stride in bytes,
// R8 prefetch distance (16 rows) in bytes, CX rows left, Y0-Y1 data.

// func packPanel16AVX2(dst, src unsafe.Pointer, ldb, kc int)
TEXT ·packPanel16AVX2(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ ldb+16(FP), DX
	SHLQ $2, DX
	MOVQ DX, R8
	SHLQ $4, R8
	MOVQ kc+24(FP), CX

row16:
	PREFETCHT0 (SI)(R8*1)
	PREFETCHT0 60(SI)(R8*1)
	VMOVUPS (SI), Y0
	VMOVUPS 32(SI), Y1
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	ADDQ DX, SI
	ADDQ $64, DI
	DECQ CX
	JNZ row16
	VZEROUPPER
	RET

DATA iota8<>+0(SB)/4, $0
DATA iota8<>+4(SB)/4, $1
DATA iota8<>+8(SB)/4, $2
DATA iota8<>+12(SB)/4, $3
DATA iota8<>+16(SB)/4, $4
DATA iota8<>+20(SB)/4, $5
DATA iota8<>+24(SB)/4, $6
DATA iota8<>+28(SB)/4, $7
GLOBL iota8<>(SB), RODATA|NOPTR, $32

// func packPanelT16AVX2(dst, src unsafe.Pointer, ldb, kc int)
//
// Transposed B: dst[p*16+j] = src[j*ldb+p] for j < 16, p < kc, with two
// VGATHERDPS per k-step. Go reference: the transB loop in packBWith.
// Registers: SI, R8 source rows 0 and 8; Y15 offsets [0..7]·ldb; Y2, Y3
// masks (all ones, cleared by each gather); Y0, Y1 data; DI destination.
TEXT ·packPanelT16AVX2(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ ldb+16(FP), DX
	MOVQ kc+24(FP), CX
	MOVQ DX, X15
	VPBROADCASTD X15, Y15
	VPMULLD iota8<>(SB), Y15, Y15
	SHLQ $5, DX
	LEAQ (SI)(DX*1), R8

colT16:
	VPCMPEQD Y2, Y2, Y2
	VPCMPEQD Y3, Y3, Y3
	VGATHERDPS Y2, (SI)(Y15*4), Y0
	VGATHERDPS Y3, (R8)(Y15*4), Y1
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	ADDQ $4, SI
	ADDQ $4, R8
	ADDQ $64, DI
	DECQ CX
	JNZ colT16
	VZEROUPPER
	RET
