// Package data reads the datasets of CoOp/CoCoOp's base-to-new protocol and
// feeds their images to a model.
//
// It covers, following KaiyangZhou/CoOp's datasets/*.py on Dassl
// (docs/cocoop.md §2.4, §3, §4):
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
//   - [World], [ExportWorld]: the embedded world, a seeded generator of
//     shape pictures and captions for pretraining, and its 16-class
//     base-to-new set exported in CoOp's layout ("World").
//   - [LoadFashionMNIST], [ExportFashionMNIST]: Fashion-MNIST from Debian's
//     dataset-fashion-mnist IDX files, with pretraining captions, and its
//     10-class test set in CoOp's layout ("FashionMNIST").
//
// Both worlds caption one pair of base classes inconsistently on purpose
// ([CaptionsGap]: pink/purple star, pullover/coat): real CLIP's web text
// never matches a benchmark's class names exactly, and without such a gap
// zero-shot is already as good as a classifier and prompt learning has
// nothing to fix. The gap stays on the base side, so the new classes test
// whether the learnt context generalizes rather than whether it repairs.
//
// The package uses only clip's image functions (LoadImage, Preprocess,
// PreprocessTrain) and the tensor package's RNG, never the CLIP model.
package data
