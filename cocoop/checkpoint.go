package cocoop

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/gocoop/gocoop/clip"
	"github.com/gocoop/gocoop/clip/ckpt"
	"github.com/gocoop/gocoop/nn"
	"github.com/gocoop/gocoop/nn/optim"
	"github.com/gocoop/gocoop/tensor"
)

// Checkpoint file format (safetensors, F32):
//
//	tensors   the trainables under their official names (ctx,
//	          meta_net.linear1.weight, ...) and, for resuming, the SGD
//	          momentum buffers as "optimizer.momentum.<name>"
//	metadata  format = "gocoop-prompt", format_version, method, n_ctx,
//	          ctx_init, prompt_prefix, csc, class_token_position, n_cls,
//	          seed, epoch (completed epochs, Dassl's 1-based epoch of the
//	          file), max_epoch, optim_steps, config (JSON Config), clip (JSON
//	          dims of the backbone), class_names (JSON; informative only)
//
// Class buffers are not stored: LoadCheckpoint + NewLearner rebuild them
// for any class list (docs/cocoop.md §2.6).
const (
	checkpointFormat        = "gocoop-prompt"
	checkpointFormatVersion = "1"
	momentumPrefix          = "optimizer.momentum."
)

// CLIPDims are the backbone dimensions a prompt learner depends on.
type CLIPDims struct {
	EmbedDim         int `json:"embed_dim"`
	TransformerWidth int `json:"transformer_width"`
	ContextLength    int `json:"context_length"`
	VocabSize        int `json:"vocab_size"`
	VisionWidth      int `json:"vision_width"`
	VisionLayers     int `json:"vision_layers"`
	TextLayers       int `json:"transformer_layers"`
}

func dimsOf(m *clip.CLIP) CLIPDims {
	return CLIPDims{
		EmbedDim: m.EmbedDim, TransformerWidth: m.TransformerWidth, ContextLength: m.ContextLength,
		VocabSize: m.VocabSize, VisionWidth: m.VisionWidth, VisionLayers: m.VisionLayers, TextLayers: m.TransformerLayers,
	}
}

// CheckpointMeta is a checkpoint's metadata.
type CheckpointMeta struct {
	FormatVersion string
	Config        Config // Method, NCtx (actual), CtxInit, CSC, ... as trained
	PromptPrefix  string
	NCls          int // classes at save time (the CSC context is tied to it)
	Epoch         int // completed epochs
	OptimSteps    int
	CLIP          CLIPDims
	ClassNames    []string
}

// Checkpoint is a loaded prompt-learner checkpoint.
type Checkpoint struct {
	Path     string
	Meta     CheckpointMeta
	Params   map[string]*tensor.Tensor // official names
	Momentum map[string]*tensor.Tensor // by parameter name; empty without optimizer state
}

// SaveCheckpoint writes l's trainables, and opt's state if opt is non-nil,
// atomically to path (ckpt.SaveSafetensors: temporary file + rename).
// epoch is the number of completed epochs.
func SaveCheckpoint(path string, l Learner, opt *optim.SGD, epoch int) error {
	cfg := l.Config()
	tensors := map[string]*ckpt.Tensor{}
	var names []string
	add := func(name string, t *tensor.Tensor) {
		names = append(names, name)
		tensors[name] = &ckpt.Tensor{Shape: t.Shape(), Data: host(t).ToSlice()} // from a host copy: the same file from any device
	}
	for _, p := range l.NamedParameters("") {
		add(p.Name, p.Var.Value)
	}
	steps := 0
	if opt != nil {
		st := opt.State()
		steps = st.Steps
		keys := make([]string, 0, len(st.Momentum))
		for k := range st.Momentum {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			add(momentumPrefix+k, st.Momentum[k])
		}
	}
	cfgJSON, _ := json.Marshal(cfg)
	dims, _ := json.Marshal(dimsOf(l.CLIP()))
	classes, _ := json.Marshal(l.ClassNames())
	prefix, nCls := promptPrefixOf(l)
	meta := map[string]string{
		"format":               checkpointFormat,
		"format_version":       checkpointFormatVersion,
		"method":               cfg.Method,
		"n_ctx":                strconv.Itoa(cfg.NCtx),
		"ctx_init":             cfg.CtxInit,
		"prompt_prefix":        prefix,
		"csc":                  strconv.FormatBool(cfg.CSC),
		"class_token_position": cfg.position(),
		"n_cls":                strconv.Itoa(nCls),
		"seed":                 strconv.FormatUint(cfg.Seed, 10),
		"epoch":                strconv.Itoa(epoch),
		"max_epoch":            strconv.Itoa(cfg.Epochs),
		"optim_steps":          strconv.Itoa(steps),
		"config":               string(cfgJSON),
		"clip":                 string(dims),
		"class_names":          string(classes),
	}
	if err := ckpt.SaveSafetensors(path, names, tensors, meta); err != nil {
		return fmt.Errorf("cocoop: save checkpoint: %w", err)
	}
	return nil
}

func promptPrefixOf(l Learner) (string, int) {
	switch v := l.(type) {
	case *CoCoOp:
		return v.Prompt.PromptPrefix, v.classes.n()
	case *CoOp:
		return v.PromptPrefix, v.classes.n()
	}
	return "", len(l.ClassNames())
}

// SaveCheckpoint writes the trainer's learner, optimizer state and epoch.
func (t *Trainer) SaveCheckpoint(path string) error {
	return SaveCheckpoint(path, t.Learner, t.Opt, t.Epoch)
}

// LoadCheckpoint reads a checkpoint written by SaveCheckpoint, or one of
// the official code (LoadDassl): a torch.save file such as
// prompt_learner/model.pth.tar-10, or a Dassl output folder (ResolveDassl
// picks its file).
func LoadCheckpoint(path string) (*Checkpoint, error) {
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		file, err := ResolveDassl(path)
		if err != nil {
			return nil, err
		}
		return LoadDassl(file)
	}
	if isTorchZip(path) {
		return LoadDassl(path)
	}
	md, err := ckpt.ReadMetadata(path)
	if err != nil {
		return nil, fmt.Errorf("cocoop: load checkpoint: %w", err)
	}
	if md["format"] != checkpointFormat {
		return nil, fmt.Errorf("cocoop: load checkpoint %s: not a prompt-learner checkpoint (metadata format %q, want %q)", path, md["format"], checkpointFormat)
	}
	if v := md["format_version"]; v != checkpointFormatVersion {
		return nil, fmt.Errorf("cocoop: load checkpoint %s: format version %q, this build reads %q", path, v, checkpointFormatVersion)
	}
	ck := &Checkpoint{Path: path, Params: map[string]*tensor.Tensor{}, Momentum: map[string]*tensor.Tensor{}}
	m := &ck.Meta
	m.FormatVersion = md["format_version"]
	m.PromptPrefix = md["prompt_prefix"]
	var errs []error
	jsonField := func(key string, v any) {
		if err := json.Unmarshal([]byte(md[key]), v); err != nil {
			errs = append(errs, fmt.Errorf("metadata %s: %w", key, err))
		}
	}
	intField := func(key string) int {
		v, err := strconv.Atoi(md[key])
		if err != nil {
			errs = append(errs, fmt.Errorf("metadata %s: %w", key, err))
		}
		return v
	}
	jsonField("config", &m.Config)
	jsonField("clip", &m.CLIP)
	jsonField("class_names", &m.ClassNames)
	m.NCls = intField("n_cls")
	m.Epoch = intField("epoch")
	m.OptimSteps = intField("optim_steps")
	if len(errs) > 0 {
		return nil, fmt.Errorf("cocoop: load checkpoint %s: %w", path, errors.Join(errs...))
	}
	sd, _, err := ckpt.Load(path)
	if err != nil {
		return nil, fmt.Errorf("cocoop: load checkpoint: %w", err)
	}
	for _, k := range sd.Keys() {
		t := sd.Get(k)
		v := tensor.FromSlice(t.Data, t.Shape...)
		if name, ok := strings.CutPrefix(k, momentumPrefix); ok {
			ck.Momentum[name] = v
		} else {
			ck.Params[k] = v
		}
	}
	return ck, nil
}

// CheckModel reports whether the checkpoint fits m's dimensions (a Dassl
// CoOp checkpoint does not tell the embed dim: 0 is not checked).
func (ck *Checkpoint) CheckModel(m *clip.CLIP) error {
	if got, want := dimsOf(m), ck.Meta.CLIP; want.EmbedDim != 0 && got.EmbedDim != want.EmbedDim || got.TransformerWidth != want.TransformerWidth {
		return fmt.Errorf("cocoop: checkpoint %s was trained on a CLIP with embed dim %d and text width %d; this model has embed dim %d and text width %d",
			ck.Path, want.EmbedDim, want.TransformerWidth, got.EmbedDim, got.TransformerWidth)
	}
	return nil
}

// NewLearner builds the checkpoint's learner on m for classNames (any
// list, except for a class-specific CoOp context, tied to its class count)
// and loads the trainables.
func (ck *Checkpoint) NewLearner(m *clip.CLIP, classNames []string) (Learner, error) {
	if err := ck.CheckModel(m); err != nil {
		return nil, err
	}
	cfg := ck.Meta.Config
	if cfg.CSC && len(classNames) != ck.Meta.NCls {
		return nil, fmt.Errorf("cocoop: checkpoint %s has a class-specific context for %d classes; %d class names given (CSC does not transfer to other class lists)", ck.Path, ck.Meta.NCls, len(classNames))
	}
	l, err := NewLearner(m, cfg, classNames)
	if err != nil {
		return nil, fmt.Errorf("cocoop: checkpoint %s: %w", ck.Path, err)
	}
	if err := LoadParams(l, ck.Params); err != nil {
		return nil, fmt.Errorf("cocoop: checkpoint %s: %w", ck.Path, err)
	}
	return l, nil
}

// LoadParams copies trainables (official names) into l, strictly: every
// trainable must be present with its shape, and no other key.
func LoadParams(l Learner, params map[string]*tensor.Tensor) error {
	_, err := nn.LoadStateDict(l, "", params, true)
	return err
}

// Resume loads a checkpoint into the trainer: the trainables, the momentum
// buffers and step count, and the epoch, so that Train continues the run
// exactly where the checkpoint was written (data order and schedule depend
// only on the epoch).
func (t *Trainer) Resume(ck *Checkpoint) error {
	if ck.Meta.FormatVersion == DasslFormat {
		return fmt.Errorf("cocoop: resume: %s is a checkpoint of the official code; training resumes only from GoCoOp checkpoints (their optimizer state and schedule)", ck.Path)
	}
	if err := ck.CheckModel(t.Learner.CLIP()); err != nil {
		return err
	}
	if got, want := ck.Meta.Config.Method, t.Learner.Method(); got != want {
		return fmt.Errorf("cocoop: resume: checkpoint %s is %s, trainer is %s", ck.Path, got, want)
	}
	if err := LoadParams(t.Learner, ck.Params); err != nil {
		return fmt.Errorf("cocoop: resume %s: %w", ck.Path, err)
	}
	if err := t.Opt.LoadState(optim.State{Steps: ck.Meta.OptimSteps, Momentum: ck.Momentum}); err != nil {
		return fmt.Errorf("cocoop: resume %s: %w", ck.Path, err)
	}
	t.Epoch = ck.Meta.Epoch
	t.Losses = nil
	return nil
}
