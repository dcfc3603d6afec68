package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/gocoop/gocoop/clip"
	"github.com/gocoop/gocoop/cocoop"
	"github.com/gocoop/gocoop/tensor"
)

func init() {
	register("export", &command{
		summary: "write a learned prompt as a checkpoint of the official CoOp/CoCoOp code",
		usage:   "--format dassl --checkpoint PATH --out DIR [--weights PATH] [--epoch N] [--overwrite]",
		help: `Writes the prompt learner of --checkpoint (a GoCoOp checkpoint, or one of the
official code) in the layout of the official code (KaiyangZhou/CoOp on
Dassl.pytorch): DIR/prompt_learner/model.pth.tar-<epoch>, a torch.save file
holding {"state_dict", "epoch", "optimizer": None, "scheduler": None,
"val_result": None}, and DIR/prompt_learner/checkpoint naming it. The
official evaluation loads it with

  python train.py ... --trainer CoCoOp (or CoOp) --model-dir DIR \
      --load-epoch <epoch> --eval-only

when the trainer config has the checkpoint's context length (CTX_INIT of
n_ctx words, or N_CTX n_ctx with CTX_INIT "") and, for CoOp, its CSC.

The state dict holds ctx (and CoCoOp's meta_net.*) and, with --weights, the
class buffers token_prefix and token_suffix of the checkpoint's class list
(the token embeddings of "X X X X {class}." at 77 tokens, as the official
PromptLearner registers them). The official load_model deletes these two
buffers before loading and rebuilds them from the dataset's class names, so
a file without them loads the same way.

An existing file is replaced only with --overwrite; it is written to a
temporary file and renamed.`,
		run: runExport,
	})
}

func runExport(fs *flag.FlagSet, args []string, stdout io.Writer) error {
	format := fs.String("format", "", "output `format` (dassl: the official CoOp/CoCoOp code's torch checkpoint)")
	checkpoint := fs.String("checkpoint", "", "learned prompt `path` (GoCoOp checkpoint, official model.pth.tar-N or output folder)")
	out := fs.String("out", "", "output `directory` (the official --model-dir)")
	weights := fs.String("weights", "", "CLIP checkpoint `path`: also write the class buffers of the checkpoint's classes")
	epoch := fs.Int("epoch", -1, "epoch `N` in the file name and the \"epoch\" entry (default: the checkpoint's completed epochs)")
	overwrite := fs.Bool("overwrite", false, "replace an existing model.pth.tar-<epoch>")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	switch {
	case fs.NArg() > 0:
		return usagef("unexpected arguments %q", fs.Args())
	case *format == "":
		return usagef("--format is required (dassl)")
	case *format != "dassl":
		return usagef("--format %q: the only format is dassl", *format)
	case *checkpoint == "":
		return usagef("--checkpoint is required")
	case *out == "":
		return usagef("--out is required (the directory given to the official code as --model-dir)")
	case *epoch < -1:
		return usagef("--epoch %d must not be negative", *epoch)
	}
	if err := checkCheckpoint(*checkpoint); err != nil {
		return err
	}
	if st, err := os.Stat(*out); err == nil && !st.IsDir() {
		return fmt.Errorf("--out %s: is a file, want a directory", *out)
	}
	ck, err := cocoop.LoadCheckpoint(*checkpoint)
	if err != nil {
		return err
	}
	cfg := ck.Meta.Config
	if *epoch < 0 {
		*epoch = ck.Meta.Epoch
	}
	var prefix, suffix *tensor.Tensor
	note := ""
	switch {
	case *weights == "":
		note = "no class buffers (token_prefix, token_suffix) written: give --weights to add them; the official load_model drops them anyway"
	case len(ck.Meta.ClassNames) == 0:
		note = fmt.Sprintf("no class buffers written: %s does not name its classes; the official load_model rebuilds them anyway", *checkpoint)
	default:
		if err := checkFile("weights", *weights); err != nil {
			return err
		}
		model, err := clip.Load(*weights)
		if err != nil {
			return err
		}
		l, err := ck.NewLearner(model, ck.Meta.ClassNames)
		if err != nil {
			return err
		}
		if prefix, suffix, err = cocoop.DasslBuffers(l); err != nil {
			return err
		}
		note = fmt.Sprintf("class buffers for the %d classes of the checkpoint", len(ck.Meta.ClassNames))
	}
	path, err := cocoop.SaveDassl(*out, ck.Params, prefix, suffix, *epoch, *overwrite)
	if err != nil {
		return err
	}
	trainer, opts := "CoCoOp", []string{fmt.Sprintf("TRAINER.COCOOP.N_CTX %d", cfg.NCtx)}
	if cfg.Method == cocoop.MethodCoOp {
		trainer, opts = "CoOp", []string{fmt.Sprintf("TRAINER.COOP.N_CTX %d", cfg.NCtx), fmt.Sprintf("TRAINER.COOP.CSC %t", cfg.CSC)}
	}
	fmt.Fprintf(stdout, "wrote %s (%s, n_ctx %d, epoch %d; %s)\n", path, trainer, cfg.NCtx, *epoch, note)
	fmt.Fprintf(stdout, "official evaluation: python train.py --trainer %s ... --model-dir %s --load-epoch %d --eval-only %s\n",
		trainer, *out, *epoch, strings.Join(opts, " "))
	return nil
}
