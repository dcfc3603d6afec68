package clip_test

import (
	"fmt"
	"image"
	"image/color"
	"os"
	"path/filepath"

	"github.com/gocoop/gocoop/clip"
	"github.com/gocoop/gocoop/tensor"
)

// smallConfig is a CLIP small enough for an example: 2 blocks per tower,
// 32×32 images in 4×4 patches of 8 pixels, the real tokenizer and context.
var smallConfig = clip.Config{
	EmbedDim: 32, ImageResolution: 32, VisionLayers: 2, VisionWidth: 64, VisionHeads: 1,
	VisionPatchSize: 8, ContextLength: 77, VocabSize: 49408,
	TransformerWidth: 64, TransformerHeads: 1, TransformerLayers: 2,
}

// Zero-shot classification: encode images and class prompts, compare them.
// NewHashCLIP fills every weight deterministically (for tests and timing);
// clip.Load reads real weights (docs/clip.md §2).
func ExampleCLIP_LogitsPerImage() {
	m, err := clip.NewHashCLIP(smallConfig)
	if err != nil {
		panic(err)
	}
	images := clip.HashTensor("example.images", 1, 0, 2, 3, 32, 32) // [B, 3, R, R], preprocessed
	ids, err := clip.Tokenize([]string{"a photo of a cat.", "a photo of a dog.", "a photo of a car."}, m.ContextLength, false)
	if err != nil {
		panic(err)
	}
	img := m.EncodeImage(images) // [B, E]
	txt := m.EncodeText(ids)     // [K, E]
	logits := m.LogitsPerImage(img, txt)
	fmt.Println("image features", img.Value.Shape(), "text features", txt.Value.Shape(), "logits", logits.Value.Shape())
	probs := tensor.Softmax(logits.Value, 1)
	s := 0.0
	for k := range 3 {
		s += float64(probs.At(0, k))
	}
	fmt.Printf("probabilities of image 0 sum to %.3f\n", s)
	// Output:
	// image features [2 32] text features [3 32] logits [2 3]
	// probabilities of image 0 sum to 1.000
}

// Tokenize pads each text to the context length between the start and end
// tokens; EOTPositions finds the end token, whose row becomes the feature.
func ExampleTokenize() {
	ids, err := clip.Tokenize([]string{"a photo of a red circle."}, 77, false)
	if err != nil {
		panic(err)
	}
	eot := clip.EOTPositions(ids)[0]
	fmt.Println(ids[0][:eot+2], "EOT at", eot)
	tok, err := clip.DefaultTokenizer()
	if err != nil {
		panic(err)
	}
	var inner []int
	for _, id := range ids[0][1:eot] {
		inner = append(inner, int(id))
	}
	fmt.Printf("%q\n", tok.Decode(inner))
	// Output:
	// [49406 320 1125 539 320 736 7117 269 49407 0] EOT at 8
	// "a photo of a red circle . "
}

// Save a model as safetensors and load it back: Load takes the shapes and
// head counts from the file, so the loaded model computes the same.
func ExampleLoad() {
	m, err := clip.NewHashCLIP(smallConfig)
	if err != nil {
		panic(err)
	}
	dir, err := os.MkdirTemp("", "clip-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "clip.safetensors")
	if err := clip.SaveSafetensors(path, m, nil); err != nil {
		panic(err)
	}
	m2, err := clip.Load(path)
	if err != nil {
		panic(err)
	}
	ids, _ := clip.Tokenize([]string{"a photo of a dog."}, m.ContextLength, false)
	a, b := m.EncodeText(ids).Value.ToSlice(), m2.EncodeText(ids).Value.ToSlice()
	same := len(a) == len(b)
	for i := range a {
		same = same && a[i] == b[i]
	}
	fmt.Println("width", m2.TransformerWidth, "same text features:", same)
	// Output:
	// width 64 same text features: true
}

// Preprocess resizes (bicubic, as Pillow), centre-crops and normalizes an
// image into the [3, R, R] floats the image tower takes.
func ExamplePreprocess() {
	img := image.NewRGBA(image.Rect(0, 0, 48, 40))
	for y := range 40 {
		for x := range 48 {
			img.Set(x, y, color.RGBA{R: uint8(5 * x), G: uint8(6 * y), B: 128, A: 255})
		}
	}
	px, err := clip.Preprocess(img, 32)
	if err != nil {
		panic(err)
	}
	fmt.Println(len(px), "=", 3*32*32)
	// Output:
	// 3072 = 3072
}

// Encode splits a text into words, digits and punctuation, then merges
// each piece's bytes by the BPE ranks; Decode of one id shows its text
// ("</w>", the end of a word, as a space).
func ExampleTokenizer_Encode() {
	tok, err := clip.DefaultTokenizer()
	if err != nil {
		panic(err)
	}
	for _, text := range []string{"a photo of a red circle.", "Boeing 737-200", "naïve café", "sea_or_lake"} {
		fmt.Printf("%q:", text)
		for _, id := range tok.Encode(text) {
			fmt.Printf(" %d=%q", id, tok.Decode([]int{id}))
		}
		fmt.Println()
	}
	// Output:
	// "a photo of a red circle.": 320="a " 1125="photo " 539="of " 320="a " 736="red " 7117="circle " 269=". "
	// "Boeing 737-200": 11857="boeing " 278="7 " 274="3 " 278="7 " 268="- " 273="2 " 271="0 " 271="0 "
	// "naïve café": 1097="na" 35689="ï" 563="ve " 15304="café "
	// "sea_or_lake": 2102="sea " 318="_ " 541="or " 318="_ " 2553="lake "
}
