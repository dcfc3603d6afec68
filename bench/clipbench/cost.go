package main

import (
	"fmt"
	"strings"

	"github.com/gocoop/gocoop/clip"
)

// Cost model: floating-point operations (1 multiply-add = 2 FLOP) of the
// benchmarked workloads, counting matrix products only (layer norms,
// softmax, GELU, residual adds and the embeddings are O(rows·width), well
// under 1% of the total, and are left out on purpose). docs/cost_model.md
// has the derivation and a worked example for the 50 benchmark classes.
//
// One pre-LN transformer block of width D over a sequence of n rows with
// MLP width 4D costs, forward,
//
//	linear    24·n·D²    q|k|v 6nD², out-proj 2nD², MLP 2·(2n·D·4D) = 16nD²
//	attention  4·A·D     QKᵀ 2·A·D and P·V 2·A·D over A (query, key) pairs
//
// where A = n² for a dense (possibly masked) attention, as PyTorch and
// GoCoOp's plain path compute it, and A = n(n+1)/2 when only the causal
// triangle is computed (the packed path).
//
// Backward through the frozen towers needs only the gradient of the
// activations, never of the weights (CLIP's weights require no grad, on
// both sides): for each linear Y = X·W only dX = dY·Wᵀ (1× its forward),
// while attention needs dQ, dK, dV and d(scores) — 4 products of the forward
// size, 2× its forward. So a text-tower forward+backward is
// 2·linear + 3·attention ≈ 2× the forward.
type Cost struct {
	Linear    float64 // matrix products against weights
	Attention float64 // QKᵀ and P·V
}

// Total is the FLOP count.
func (c Cost) Total() float64 { return c.Linear + c.Attention }

func (c Cost) add(d Cost) Cost { return Cost{c.Linear + d.Linear, c.Attention + d.Attention} }

func (c Cost) scale(f float64) Cost { return Cost{c.Linear * f, c.Attention * f} }

// backwardOf is the cost of backpropagating to the input through a frozen
// computation of forward cost c: dX for the linears, 2× for attention.
func backwardOf(c Cost) Cost { return Cost{c.Linear, 2 * c.Attention} }

// blocks is the forward cost of `layers` blocks of width d over rows rows
// (summed over sequences) and pairs attention pairs.
func blocks(layers, d int, rows, pairs float64) Cost {
	fd := float64(d)
	return Cost{
		Linear:    float64(layers) * 24 * rows * fd * fd,
		Attention: float64(layers) * 4 * pairs * fd,
	}
}

// ImageForwardFLOPs is the cost of encoding n images with the vision tower
// of cfg as model.py computes it: patch embedding (a [n·g², 3P²]·[3P², D]
// product), the blocks over g²+1 tokens with dense attention, and the
// projection of the class token. ViT-B/16: 35.13 GFLOP per image.
func ImageForwardFLOPs(cfg clip.Config, n int) Cost {
	return imageForwardFLOPs(cfg, n, false)
}

// GoImageForwardFLOPs is ImageForwardFLOPs as GoCoOp computes it when no
// trace is kept: its last block for the class token only
// (nn.ResidualAttentionBlock.ForwardFirst: the in-projection of every row
// for the keys and values, then one query's attention, out-projection and
// MLP). ViT-B/16: 32.93 GFLOP per image.
func GoImageForwardFLOPs(cfg clip.Config, n int) Cost {
	return imageForwardFLOPs(cfg, n, true)
}

func imageForwardFLOPs(cfg clip.Config, n int, classTokenLast bool) Cost {
	g := cfg.ImageResolution / cfg.VisionPatchSize
	tok := float64(g*g + 1)
	d := float64(cfg.VisionWidth)
	patch := 2 * float64(g*g) * 3 * float64(cfg.VisionPatchSize*cfg.VisionPatchSize) * d
	proj := 2 * d * float64(cfg.EmbedDim)
	var c Cost
	if classTokenLast {
		c = blocks(cfg.VisionLayers-1, cfg.VisionWidth, tok, tok*tok)
		c.Linear += 6*tok*d*d + 18*d*d // in-projection of every row; out-projection and MLP of one
		c.Attention += 4 * tok * d     // one query over tok keys
	} else {
		c = blocks(cfg.VisionLayers, cfg.VisionWidth, tok, tok*tok)
	}
	c.Linear += patch + proj
	return c.scale(float64(n))
}

// TextForwardFLOPs is the cost of the text tower on one prompt of l tokens
// as model.py computes it (every position, dense masked attention): the
// blocks, then the projection of the EOT row. ViT-B/16 at l = 77: 5.96 GFLOP.
func TextForwardFLOPs(cfg clip.Config, l int) Cost {
	c := blocks(cfg.TransformerLayers, cfg.TransformerWidth, float64(l), float64(l*l))
	c.Linear += 2 * float64(cfg.TransformerWidth*cfg.EmbedDim)
	return c
}

// SharedTextForwardFLOPs is the cost of the packed text path
// (clip.EncodeTextShared) on one group of prompts sharing a prefix of p
// rows, prompt c ending at EOT position eot[c] (0-based, ≥ p): the prefix
// rows once, then each prompt's rows p..eot[c], with causal attention (row
// j attends to j+1 keys: the prefix and its own earlier rows).
//
//	rows  = p + Σ_c (eot[c] + 1 − p)
//	pairs = p(p+1)/2 + Σ_c Σ_{j=p}^{eot[c]} (j+1)
//
// The last block, untraced, computes its out-projection and MLP for the
// EOT rows only (nn.ResidualAttentionBlock.ForwardPackedRows: the
// in-projection and attention of every row). p = 0 is the "no work past
// EOT" cut alone.
func SharedTextForwardFLOPs(cfg clip.Config, p int, eot []int) Cost {
	rows := float64(p)
	pairs := float64(p*(p+1)) / 2
	for _, e := range eot {
		rows += float64(e + 1 - p)
		for j := p; j <= e; j++ {
			pairs += float64(j + 1)
		}
	}
	d := float64(cfg.TransformerWidth)
	n := float64(len(eot))
	c := blocks(cfg.TransformerLayers, cfg.TransformerWidth, rows, pairs)
	c.Linear -= 18 * (rows - n) * d * d // the last block's out-projection and MLP: n rows, not all
	c.Linear += n * 2 * d * float64(cfg.EmbedDim)
	return c
}

// StepCost is the cost of one CoCoOp step broken down by tower.
type StepCost struct {
	Image Cost // image forward (no graph)
	Text  Cost // text tower, forward (+ backward when training)
}

// Total is the step's FLOP count (the meta-net, 2·(E·E/16 + E/16·W) per
// image and direction, and the logits are negligible and not counted).
func (s StepCost) Total() float64 { return s.Image.Total() + s.Text.Total() }

// CoCoOpStepFLOPs is the cost of one CoCoOp step on b images over the
// classes whose prompts "{ctx} {name}." end at EOT positions eot, with nCtx
// context vectors:
//
//   - every image is encoded once (ImageForwardFLOPs; GoImageForwardFLOPs
//     with the shortcut, GoCoOp's default);
//   - the text tower runs once per image over all classes (the prompts
//     depend on the image through π(x̂));
//   - shortcut false: every prompt at the full context length (77 tokens,
//     the official code), dense attention;
//     shortcut true: the packed path, the prefix SOS + ctx (1 + nCtx rows)
//     once per image and each class up to its EOT (SharedTextForwardFLOPs);
//   - train adds the backward to the prompts (backwardOf), so the text
//     part costs 2·linear + 3·attention of its forward.
func CoCoOpStepFLOPs(cfg clip.Config, b, nCtx int, eot []int, shortcut, train bool) StepCost {
	var text Cost
	if shortcut {
		text = SharedTextForwardFLOPs(cfg, 1+nCtx, eot)
	} else {
		text = TextForwardFLOPs(cfg, cfg.ContextLength).scale(float64(len(eot)))
	}
	if train {
		text = text.add(backwardOf(text))
	}
	image := ImageForwardFLOPs(cfg, b)
	if shortcut {
		image = GoImageForwardFLOPs(cfg, b)
	}
	return StepCost{Image: image, Text: text.scale(float64(b))}
}

// TrimmedCoCoOpStepFLOPs is CoCoOpStepFLOPs for prompts cut after the last
// EOT of the class list (length max(eot)+1, dense attention; exact by
// causality): the middle ground between the official 77 tokens and the
// packed shortcut, and what a careful PyTorch user would run.
func TrimmedCoCoOpStepFLOPs(cfg clip.Config, b int, eot []int, train bool) StepCost {
	text := TextForwardFLOPs(cfg, cutLen(eot)).scale(float64(len(eot)))
	if train {
		text = text.add(backwardOf(text))
	}
	return StepCost{Image: ImageForwardFLOPs(cfg, b), Text: text.scale(float64(b))}
}

// SgemmFLOPs is 2·M·K·N.
func SgemmFLOPs(m, k, n int) float64 { return 2 * float64(m) * float64(k) * float64(n) }

// cost1000 formats the evaluation step over the 1,000 synthetic classes.
func cost1000(eot []int) string {
	cfg := clip.ViTB16
	var b strings.Builder
	fmt.Fprintf(&b, "%-34s %10s %10s %10s\n", "eval b1, 1,000 classes (GFLOP)", "image", "text", "total")
	for _, s := range []struct {
		name string
		c    StepCost
	}{
		{"plain 77", CoCoOpStepFLOPs(cfg, 1, NCtx, eot, false, false)},
		{fmt.Sprintf("cut after last EOT (%d tokens)", cutLen(eot)), TrimmedCoCoOpStepFLOPs(cfg, 1, eot, false)},
		{"shortcut", CoCoOpStepFLOPs(cfg, 1, NCtx, eot, true, false)},
	} {
		fmt.Fprintf(&b, "%-34s %10.2f %10.2f %10.2f\n", s.name, s.c.Image.Total()/1e9, s.c.Text.Total()/1e9, s.c.Total()/1e9)
	}
	return b.String()
}

// costReport formats the cost model of the CoCoOp workloads for class
// prompts ending at eot (ViT-B/16, n_ctx NCtx).
func costReport(eot []int) string {
	cfg := clip.ViTB16
	var b strings.Builder
	g := func(c float64) string { return fmt.Sprintf("%8.2f", c/1e9) }
	rows, tok := 0, 0
	for _, e := range eot {
		tok += e + 1
	}
	rows = 1 + NCtx + tok - len(eot)*(1+NCtx)
	fmt.Fprintf(&b, "image forward (1 image)                 %s GFLOP (GoCoOp, class token only in the last block: %s)\n", g(ImageForwardFLOPs(cfg, 1).Total()), strings.TrimSpace(g(GoImageForwardFLOPs(cfg, 1).Total())))
	t77 := TextForwardFLOPs(cfg, cfg.ContextLength)
	fmt.Fprintf(&b, "text forward, 1 prompt × 77 tokens      %s GFLOP (linear %.2f, attention %.2f)\n", g(t77.Total()), t77.Linear/1e9, t77.Attention/1e9)
	fmt.Fprintf(&b, "text rows per image: plain %d × 77 = %d; shortcut %d (prefix %d once + %d suffix rows up to the EOTs)\n\n",
		len(eot), len(eot)*cfg.ContextLength, rows, 1+NCtx, rows-1-NCtx)
	sh := SharedTextForwardFLOPs(cfg, 1+NCtx, eot)
	pl := t77.scale(float64(len(eot)))
	fmt.Fprintf(&b, "text forward, %d classes, plain          %s GFLOP\n", len(eot), g(pl.Total()))
	fmt.Fprintf(&b, "text forward, %d classes, shortcut       %s GFLOP (%.1f× less)\n\n", len(eot), g(sh.Total()), pl.Total()/sh.Total())
	fmt.Fprintf(&b, "%-34s %10s %10s %10s %8s\n", "CoCoOp step (GFLOP)", "image", "text", "total", "")
	for _, s := range []struct {
		name     string
		b        int
		train    bool
		shortcut bool
	}{
		{"train b1, plain 77", 1, true, false}, {"train b1, shortcut", 1, true, true},
		{"eval b1, plain 77", 1, false, false}, {"eval b1, shortcut", 1, false, true},
		{"train b8, plain 77", 8, true, false}, {"train b8, shortcut", 8, true, true},
	} {
		c := CoCoOpStepFLOPs(cfg, s.b, NCtx, eot, s.shortcut, s.train)
		fmt.Fprintf(&b, "%-34s %10.2f %10.2f %10.2f\n", s.name, c.Image.Total()/1e9, c.Text.Total()/1e9, c.Total()/1e9)
	}
	for _, s := range []struct {
		name  string
		train bool
	}{{"train b1, cut after last EOT", true}, {"eval b1, cut after last EOT", false}} {
		c := TrimmedCoCoOpStepFLOPs(cfg, 1, eot, s.train)
		fmt.Fprintf(&b, "%-34s %10.2f %10.2f %10.2f\n", s.name, c.Image.Total()/1e9, c.Text.Total()/1e9, c.Total()/1e9)
	}
	return b.String()
}
