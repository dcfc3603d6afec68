// Package data reads the datasets of CoOp/CoCoOp's base-to-new protocol and
// feeds their images to a model.
//
// It covers, following KaiyangZhou/CoOp's datasets/*.py on Dassl
// (spec cocoop.md §2.4, §3, §4):
//
//   - [Load]: the 11 benchmark datasets in CoOp's folder layouts, read from
//     the shipped split_zhou_*.json files (FGVCAircraft from the official
//     txt splits, ImageNet from its folders and classnames.txt), the four
//     ImageNet variants of the domain-generalisation table, and a plain
//     ImageFolder. Every image file is checked to exist at load, as Dassl's
//     Datum asserts.
//   - [FewShot]: the K-shot subset (train K, val min(K, 4)) drawn with
//     Dassl's grouping and CPython's random.sample algorithm from any
//     [Intner]; with [NewPyRandom] the draws are CPython's own, with a
//     [tensor.RNG] they are deterministic but different.
//     [LoadFewShotSubset] pins an exported subset instead.
//   - [SubsampleClasses]: the base/new class split and relabelling.
//   - [Accuracy], [HarmonicMean], [Summarize], [Average], [WriteTable]: the
//     metrics and the table rows of the paper.
//   - [Template], [EnsembleTemplates]: the zero-shot prompt templates.
//   - [Loader]: a parallel, deterministic image pipeline producing batches.
//
// The package uses only clip's image functions (LoadImage, Preprocess,
// PreprocessTrain) and the tensor package's RNG, never the CLIP model.
package data
