//go:build !purego

#include "textflag.h"

// Binary16 → float32 widening of a rows×cols block (row strides ldd floats
// and lds halves), cols a multiple of the vector width: VCVTPH2PS converts
// 16 (AVX-512) or 8 (AVX2 tier, F16C) halves per instruction, exactly.
// Go reference: HalfToFloat32 (half.go), used for the columns past the last
// whole vector.
//
// Registers: DI/SI row starts, CX rows left, DX cols, R8 ldd bytes, R9 lds
// bytes, R10/R11 walkers within a row, R12 vectors left in the row.

// func widenHalfAVX512(dst, src unsafe.Pointer, rows, cols, ldd, lds int)
TEXT ·widenHalfAVX512(SB), NOSPLIT, $0-48
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ rows+16(FP), CX
	MOVQ cols+24(FP), DX
	MOVQ ldd+32(FP), R8
	SHLQ $2, R8
	MOVQ lds+40(FP), R9
	SHLQ $1, R9
	SHRQ $4, DX
	JZ done512
	TESTQ CX, CX
	JZ done512

row512:
	MOVQ DI, R10
	MOVQ SI, R11
	MOVQ DX, R12

col512:
	VCVTPH2PS (R11), Z0
	VMOVUPS Z0, (R10)
	ADDQ $32, R11
	ADDQ $64, R10
	DECQ R12
	JNZ col512
	ADDQ R8, DI
	ADDQ R9, SI
	DECQ CX
	JNZ row512

done512:
	VZEROUPPER
	RET

// func widenHalfF16C(dst, src unsafe.Pointer, rows, cols, ldd, lds int)
TEXT ·widenHalfF16C(SB), NOSPLIT, $0-48
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ rows+16(FP), CX
	MOVQ cols+24(FP), DX
	MOVQ ldd+32(FP), R8
	SHLQ $2, R8
	MOVQ lds+40(FP), R9
	SHLQ $1, R9
	SHRQ $3, DX
	JZ doneF16C
	TESTQ CX, CX
	JZ doneF16C

rowF16C:
	MOVQ DI, R10
	MOVQ SI, R11
	MOVQ DX, R12

colF16C:
	VCVTPH2PS (R11), Y0
	VMOVUPS Y0, (R10)
	ADDQ $16, R11
	ADDQ $32, R10
	DECQ R12
	JNZ colF16C
	ADDQ R8, DI
	ADDQ R9, SI
	DECQ CX
	JNZ rowF16C

doneF16C:
	VZEROUPPER
	RET
