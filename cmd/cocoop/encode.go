package main

import (
	"flag"
	"fmt"
	"io"

	"github.com/gocoop/gocoop/autograd"
	"github.com/gocoop/gocoop/clip"
	"github.com/gocoop/gocoop/clip/ckpt"
	"github.com/gocoop/gocoop/tensor"
)

func init() {
	register("encode", &command{
		summary: "write CLIP image and text embeddings to a safetensors file",
		usage:   "--weights PATH [--image PATH]... [--text STRING]... --out OUT.safetensors",
		help: `Loads a CLIP ViT checkpoint (OpenAI .pt, torch.save state dict, or
safetensors with OpenAI or Hugging Face names), encodes every --image and
--text, and writes float32 tensors to OUT:

  image_embeds  [n_images, embed_dim]
  text_embeds   [n_texts, embed_dim]

in input order. Embeddings are projected but NOT normalized, as
model.encode_image / model.encode_text return them. Images are preprocessed
exactly as clip.load's transform (bicubic resize, centre crop, CLIP mean/std).

Example:
  cocoop encode --weights ViT-B-16.pt --image cat.png --text "a photo of a cat." --out emb.safetensors`,
		run: runEncode,
	})
}

func runEncode(fs *flag.FlagSet, args []string, stdout io.Writer) error {
	weights := fs.String("weights", "", "CLIP checkpoint `path` (required)")
	out := fs.String("out", "", "output safetensors `path` (required)")
	batch := fs.Int("batch", 8, "images encoded per forward pass")
	truncate := fs.Bool("truncate", false, "cut texts longer than the context instead of failing")
	var images, texts stringList
	fs.Var(&images, "image", "image `path` to encode (repeatable)")
	fs.Var(&texts, "text", "`text` to encode (repeatable)")
	threads := addThreadsFlag(fs)
	deviceName := addDeviceFlag(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	dev, err := openDevice(*deviceName)
	if err != nil {
		return err
	}
	switch {
	case *weights == "":
		return usagef("--weights is required")
	case *out == "":
		return usagef("--out is required")
	case len(images)+len(texts) == 0:
		return usagef("nothing to encode: give at least one --image or --text")
	case fs.NArg() > 0:
		return usagef("unexpected argument %q (images go after --image, texts after --text)", fs.Arg(0))
	case *batch < 1:
		return usagef("--batch must be at least 1, got %d", *batch)
	}
	restore, err := setThreads(*threads)
	if err != nil {
		return err
	}
	defer restore()
	for _, p := range images {
		if err := checkFile("image", p); err != nil {
			return err
		}
	}
	model, err := loadModel(*weights, nil, dev, false)
	if err != nil {
		return err
	}
	if _, err := model.To(dev); err != nil {
		return err
	}
	imgEmb, err := encodeImages(model, images, *batch)
	if err != nil {
		return err
	}
	txtEmb, err := encodeTexts(model, texts, *truncate)
	if err != nil {
		return err
	}
	e := model.EmbedDim
	tensors := map[string]*ckpt.Tensor{
		"image_embeds": {Shape: []int{len(images), e}, Data: imgEmb},
		"text_embeds":  {Shape: []int{len(texts), e}, Data: txtEmb},
	}
	meta := map[string]string{"weights": *weights, "producer": "gocoop encode"}
	if err := ckpt.SaveSafetensors(*out, []string{"image_embeds", "text_embeds"}, tensors, meta); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s: image_embeds [%d %d], text_embeds [%d %d]\n", *out, len(images), e, len(texts), e)
	return nil
}

// loadImages decodes and preprocesses paths into one [N, 3, R, R] tensor.
func loadImages(paths []string, res int) (*tensor.Tensor, error) {
	px := make([]float32, 0, len(paths)*3*res*res)
	for _, p := range paths {
		img, err := clip.LoadImage(p)
		if err != nil {
			return nil, err
		}
		chw, err := clip.Preprocess(img, res)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		px = append(px, chw...)
	}
	return tensor.FromSlice(px, len(paths), 3, res, res), nil
}

// encodeImages returns the image embeddings of paths, row-major
// [len(paths), EmbedDim], encoding batch images per forward pass.
func encodeImages(model *clip.CLIP, paths []string, batch int) ([]float32, error) {
	var emb []float32
	for lo := 0; lo < len(paths); lo += batch {
		hi := min(lo+batch, len(paths))
		x, err := loadImages(paths[lo:hi], model.ImageResolution)
		if err != nil {
			return nil, err
		}
		if x, err = toModel(model, x); err != nil {
			return nil, err
		}
		var f *tensor.Tensor
		autograd.NoGrad(func() { f = model.EncodeImage(x).Value })
		if f, err = hostOf(f); err != nil {
			return nil, err
		}
		emb = append(emb, f.ToSlice()...)
	}
	return emb, nil
}

// encodeTexts returns the text embeddings, row-major [len(texts), EmbedDim].
func encodeTexts(model *clip.CLIP, texts []string, truncate bool) ([]float32, error) {
	if len(texts) == 0 {
		return nil, nil
	}
	ids, err := clip.Tokenize(texts, model.ContextLength, truncate)
	if err != nil {
		return nil, err
	}
	var f *tensor.Tensor
	autograd.NoGrad(func() { f = model.EncodeText(ids).Value })
	if f, err = hostOf(f); err != nil {
		return nil, err
	}
	return f.ToSlice(), nil
}
