package cocoop

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/gocoop/gocoop/clip"
	"github.com/gocoop/gocoop/clip/ckpt"
	"github.com/gocoop/gocoop/tensor"
)

// Checkpoints of the official code (KaiyangZhou/CoOp on Dassl.pytorch).
// Dassl's trainer saves each registered model in its own folder of the
// output directory, here OUTPUT/prompt_learner/, as torch.save zips named
// model.pth.tar-<epoch> (model-best.pth.tar for the best validation model)
// beside a text file "checkpoint" naming the last one written. Each holds
//
//	{"state_dict": OrderedDict(prompt_learner.state_dict()),
//	 "epoch": completed epochs, "optimizer": ..., "scheduler": ...,
//	 "val_result": ...}
//
// with state_dict keys ctx, meta_net.linear{1,2}.{weight,bias} (CoCoOp
// only), token_prefix and token_suffix. The trainers' load_model drops the
// two token buffers (they are rebuilt from the class names) and loads the
// rest; so does LoadCheckpoint, for any class list.
const (
	// DasslModelName is the folder Dassl saves the prompt learner in.
	DasslModelName = "prompt_learner"
	// DasslFormat is CheckpointMeta.FormatVersion of a Dassl checkpoint.
	DasslFormat = "dassl"

	dasslBest      = "model-best.pth.tar"
	dasslEpochFile = "model.pth.tar-"
	dasslPointer   = "checkpoint"
)

// DasslFileName is the name Dassl gives the checkpoint of an epoch.
func DasslFileName(epoch int) string { return dasslEpochFile + strconv.Itoa(epoch) }

// isTorchZip reports whether path starts with a zip signature (torch.save).
func isTorchZip(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	head := make([]byte, 4)
	if _, err := io.ReadFull(f, head); err != nil {
		return false
	}
	return bytes.Equal(head, []byte("PK\x03\x04"))
}

// ResolveDassl returns the checkpoint file of a Dassl output folder: dir
// itself or its prompt_learner/ subfolder, holding model-best.pth.tar
// (what the trainers' load_model reads when no epoch is given) or else the
// model.pth.tar-<epoch> of the highest epoch.
func ResolveDassl(dir string) (string, error) {
	if st, err := os.Stat(filepath.Join(dir, DasslModelName)); err == nil && st.IsDir() {
		dir = filepath.Join(dir, DasslModelName)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return "", fmt.Errorf("cocoop: Dassl checkpoint folder: %w", err)
	}
	best, bestEpoch := "", -1
	for _, e := range ents {
		name := e.Name()
		if e.IsDir() {
			continue
		}
		if name == dasslBest {
			return filepath.Join(dir, name), nil
		}
		if s, ok := strings.CutPrefix(name, dasslEpochFile); ok {
			if n, err := strconv.Atoi(s); err == nil && n > bestEpoch {
				best, bestEpoch = name, n
			}
		}
	}
	if best == "" {
		return "", fmt.Errorf("cocoop: %s: no %s or %s<epoch> (a Dassl output folder holds %s/%s<epoch>)", dir, dasslBest, dasslEpochFile, DasslModelName, dasslEpochFile)
	}
	return filepath.Join(dir, best), nil
}

// dasslParams are the trainables a Dassl prompt-learner state dict may
// hold, in state_dict order; metaNetParams are CoCoOp's.
var (
	metaNetParams = []string{"meta_net.linear1.weight", "meta_net.linear1.bias", "meta_net.linear2.weight", "meta_net.linear2.bias"}
	dasslBuffers  = []string{"token_prefix", "token_suffix"}
)

// LoadDassl reads a prompt-learner checkpoint written by the official code
// (path is the file). The method is CoCoOp when the state dict has the
// meta-net, CoOp otherwise; n_ctx is ctx's context dimension and a 3-D ctx
// [n_cls, n_ctx, W] is CoOp's class-specific context (CSC). The prompt
// prefix is "X X … X": the context replaces those positions, so a context
// trained from a word init (one token per word, as the official code
// assumes) gives the same prompts. The class buffers are dropped and
// Meta.ClassNames is empty; Meta.NCls is the class count of the buffers (or
// of a CSC context), Meta.Epoch the file's "epoch".
func LoadDassl(path string) (*Checkpoint, error) {
	fail := func(format string, a ...any) error {
		return fmt.Errorf("cocoop: Dassl checkpoint %s: %s", path, fmt.Sprintf(format, a...))
	}
	root, err := ckpt.LoadTorchDict(path)
	if err != nil {
		return nil, fmt.Errorf("cocoop: Dassl checkpoint: %w", err)
	}
	v, ok := root.Get("state_dict")
	if !ok {
		return nil, fail("no \"state_dict\" entry (entries: %s)", strings.Join(root.Keys, ", "))
	}
	sd, ok := v.(*ckpt.TorchDict)
	if !ok {
		return nil, fail("\"state_dict\" is %s, not a dict of tensors", describe(v))
	}
	ck := &Checkpoint{Path: path, Params: map[string]*tensor.Tensor{}, Momentum: map[string]*tensor.Tensor{}}
	m := &ck.Meta
	m.FormatVersion = DasslFormat
	switch e, _ := root.Get("epoch"); e := e.(type) {
	case int64:
		m.Epoch = int(e)
	default:
		return nil, fail("\"epoch\" is %s, want an int", describe(e))
	}
	known := append(append([]string{"ctx"}, metaNetParams...), dasslBuffers...)
	tensors := map[string]*ckpt.Tensor{}
	for i, k := range sd.Keys {
		t, ok := sd.Values[i].(*ckpt.Tensor)
		if !ok {
			return nil, fail("state_dict[%q] is %s, not a tensor", k, describe(sd.Values[i]))
		}
		if !slices.Contains(known, k) {
			return nil, fail("unexpected state_dict key %q (a CoOp or CoCoOp prompt learner has %s)", k, strings.Join(known, ", "))
		}
		tensors[k] = t
	}
	ctx := tensors["ctx"]
	if ctx == nil {
		return nil, fail("state_dict has no \"ctx\" (keys: %s)", strings.Join(sd.Keys, ", "))
	}
	cocoop := false
	for _, k := range metaNetParams {
		if tensors[k] != nil {
			cocoop = true
		}
	}
	r := len(ctx.Shape)
	if r != 2 && r != 3 || slices.Contains(ctx.Shape, 0) {
		return nil, fail("state_dict[\"ctx\"] has shape %v, want [n_ctx, W] or (CoOp CSC) [n_cls, n_ctx, W]", ctx.Shape)
	}
	cfg := DefaultCoOpConfig(false)
	if cocoop {
		cfg = DefaultCoCoOpConfig()
		if r == 3 {
			return nil, fail("state_dict[\"ctx\"] has shape %v: CoCoOp's context is [n_ctx, W]", ctx.Shape)
		}
		for _, k := range metaNetParams {
			if tensors[k] == nil {
				return nil, fail("state_dict has meta-net weights but no %q", k)
			}
		}
		w := tensors["meta_net.linear1.weight"]
		if len(w.Shape) != 2 {
			return nil, fail("state_dict[\"meta_net.linear1.weight\"] has shape %v, want [E/16, E]", w.Shape)
		}
		m.CLIP.EmbedDim = w.Shape[1]
	}
	cfg.CtxInit, cfg.NCtx, cfg.CSC = "", ctx.Shape[r-2], r == 3
	m.Config = cfg
	m.PromptPrefix = strings.TrimSpace(strings.Repeat("X ", cfg.NCtx))
	m.CLIP.TransformerWidth = ctx.Shape[r-1]
	if p := tensors["token_prefix"]; p != nil && len(p.Shape) == 3 {
		m.NCls = p.Shape[0]
	}
	if r == 3 {
		m.NCls = ctx.Shape[0]
	}
	for k, t := range tensors {
		if !slices.Contains(dasslBuffers, k) {
			ck.Params[k] = tensor.FromSlice(t.Data, t.Shape...)
		}
	}
	return ck, nil
}

// describe names the type of a LoadTorchDict value for messages.
func describe(v any) string {
	switch v := v.(type) {
	case nil:
		return "None"
	case ckpt.TorchOther:
		return "a " + v.Type
	case *ckpt.TorchDict:
		return "a dict"
	case *ckpt.Tensor:
		return fmt.Sprintf("a tensor %v", v.Shape)
	}
	return fmt.Sprintf("a %T (%v)", v, v)
}

// DasslBuffers returns l's token_prefix [n_cls, 1, W] and token_suffix
// [n_cls, context_length-1-n_ctx, W] as the official PromptLearner
// registers them: the token embeddings of "{prefix} {name}." at the full
// context length.
func DasslBuffers(l Learner) (prefix, suffix *tensor.Tensor, err error) {
	promptPrefix, _ := promptPrefixOf(l)
	nCtx := 0
	switch v := l.(type) {
	case *CoCoOp:
		nCtx = v.Prompt.NCtx
	case *CoOp:
		nCtx = v.NCtx
	default:
		return nil, nil, fmt.Errorf("cocoop: Dassl buffers of a %T", l)
	}
	m := l.CLIP()
	tok, err := clip.DefaultTokenizer()
	if err != nil {
		return nil, nil, err
	}
	var texts []string
	for _, n := range l.ClassNames() {
		texts = append(texts, promptPrefix+" "+PromptName(n)+".")
	}
	ids, err := tok.Tokenize(texts, m.ContextLength, false)
	if err != nil {
		return nil, nil, fmt.Errorf("cocoop: Dassl buffers: %w", err)
	}
	var emb *tensor.Tensor
	if err := catch(func() { emb = m.TokenEmbedding(ids).Value }); err != nil { // [n_cls, 77, W]
		return nil, nil, fmt.Errorf("cocoop: Dassl buffers: %w", err)
	}
	return emb.Slice(1, 0, 1).Clone(), emb.Slice(1, 1+nCtx, m.ContextLength).Clone(), nil
}

// SaveDassl writes a prompt learner's trainables (official names) as the
// official code would after epoch epochs: dir/prompt_learner/
// model.pth.tar-<epoch> holding {"state_dict", "epoch", "optimizer": None,
// "scheduler": None, "val_result": None}, and the "checkpoint" file naming
// it. prefix and suffix (DasslBuffers), when not nil, are stored as
// token_prefix and token_suffix; the official load_model drops them, so a
// file without them loads too. An existing file is replaced only with
// overwrite. The file is written atomically; its path is returned.
func SaveDassl(dir string, params map[string]*tensor.Tensor, prefix, suffix *tensor.Tensor, epoch int, overwrite bool) (string, error) {
	folder := filepath.Join(dir, DasslModelName)
	path := filepath.Join(folder, DasslFileName(epoch))
	if _, err := os.Stat(path); err == nil && !overwrite {
		return "", fmt.Errorf("cocoop: %s exists (overwrite it with --overwrite)", path)
	}
	if params["ctx"] == nil {
		return "", errors.New("cocoop: Dassl export: no ctx")
	}
	sd := &ckpt.TorchDict{Ordered: true}
	add := func(name string, t *tensor.Tensor) {
		sd.Set(name, &ckpt.Tensor{Shape: t.Shape(), Data: host(t).ToSlice()})
	}
	add("ctx", params["ctx"])
	if prefix != nil && suffix != nil {
		add("token_prefix", prefix)
		add("token_suffix", suffix)
	}
	for _, k := range metaNetParams {
		if t := params[k]; t != nil {
			add(k, t)
		}
	}
	for k := range params {
		if k != "ctx" && !slices.Contains(metaNetParams, k) {
			return "", fmt.Errorf("cocoop: Dassl export: parameter %q has no place in the official prompt learner", k)
		}
	}
	root := &ckpt.TorchDict{}
	root.Set("state_dict", sd).Set("epoch", epoch).Set("optimizer", nil).Set("scheduler", nil).Set("val_result", nil)
	if err := os.MkdirAll(folder, 0o755); err != nil {
		return "", fmt.Errorf("cocoop: Dassl export: %w", err)
	}
	if err := ckpt.SaveTorch(path, root); err != nil {
		return "", fmt.Errorf("cocoop: Dassl export: %w", err)
	}
	if err := ckpt.WriteFileAtomic(filepath.Join(folder, dasslPointer), func(w io.Writer) error {
		_, err := io.WriteString(w, DasslFileName(epoch)+"\n")
		return err
	}); err != nil {
		return "", fmt.Errorf("cocoop: Dassl export: %w", err)
	}
	return path, nil
}
