// Package cocoop is CoCoOp (Zhou et al., "Conditional Prompt Learning for
// Vision-Language Models", CVPR 2022) and its baselines CoOp and zero-shot
// CLIP on GoCoOp's CLIP ViT-B/16, following KaiyangZhou/CoOp's
// trainers/{cocoop,coop,zsclip}.py (docs/cocoop.md §1, §2, §5), in float32.
//
// Models (all implement Classifier; CoCoOp and CoOp implement Learner):
//
//   - CoCoOp: shared context vectors ctx [n_ctx, W] plus a meta-net
//     π = linear2(relu(linear1(x̂))) fed the L2-normalized image feature x̂;
//     image i's prompts are [SOS | ctx + π(x̂ᵢ) | name tokens, ".", EOT, pad],
//     so the text encoder runs once per image over every class.
//   - CoOp: static context, generic [n_ctx, W] or class-specific (CSC)
//     [n_cls, n_ctx, W], class token at the end, middle or front; the text
//     encoder runs once per batch.
//   - ZeroShot: hand-written templates (one per dataset, or an ensemble whose
//     normalized features are averaged and renormalized).
//
// The trainable parameters carry the official state-dict names (ctx,
// meta_net.linear1.weight, ...); all of CLIP stays frozen. Class-dependent
// buffers (token_prefix / token_suffix) are rebuilt by SetClassNames from any
// class list, so checkpoints (SaveCheckpoint, LoadCheckpoint) apply across
// class lists and datasets. Checkpoints of the official code (Dassl's
// prompt_learner/model.pth.tar-N) are read by LoadCheckpoint too (LoadDassl)
// and written by SaveDassl.
//
// Costs (docs/cocoop.md §7, §8): prompts are cut after the last EOT of each chunk of
// classes (exact by causality), classes are processed in chunks of
// Config.ChunkSize prompts sorted by length, and when a class list needs more
// than one chunk the loss gradient is obtained in two passes (features
// without a graph, then per-chunk recomputation with backward), so memory is
// bounded by one chunk whatever the number of classes.
//
// On top of that, by default, the exact text-tower shortcut
// (clip.EncodeTextShared): no position after a prompt's EOT is computed, and
// the positions before the class name — SOS and the context — are computed
// once per image (CoCoOp) or per batch (CoOp) in every layer, each class
// attending to them; backward sums every class's gradient into that shared
// prefix. CoCoOp then encodes several images per call (as many as fit in
// the rows of ChunkSize plain prompts), which makes batches larger than one
// practical. Logits and gradients equal the plain path's to float32
// rounding; the model's clip.TextTransformer.FullPrompts switches the
// shortcut off (for comparison and teaching). Config.CacheImageFeatures (opt-in) runs the frozen image
// encoder once per distinct input image (evaluation, training without
// augmentation).
//
// Trainer runs SGD with Dassl's per-epoch schedule over a BatchSource,
// deterministically for a seed, checks every loss and gradient for
// finiteness, and resumes from checkpoints bit-identically.
//
// For analysis, CoCoOp.ForwardTrace returns the prompt internals (π(x),
// ctx + π(x), the prompts, ids and EOT positions, the text tower's trace)
// as nodes of one graph, so RetainGrad or autograd.Grad give ∂loss/∂π and
// the rest; InspectGradients summarizes one step per context vector,
// image, class and block; GradHistory, set as Trainer.OnBackward, records
// the gradients over training.
package cocoop
