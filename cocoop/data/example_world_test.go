package data_test

import (
	"fmt"

	"github.com/gocoop/gocoop/cocoop/data"
	"github.com/gocoop/gocoop/tensor"
)

func ExampleWorld_Pair() {
	w, err := data.NewWorld(data.WorldConfig{Seed: 1})
	if err != nil {
		panic(err)
	}
	for i := range 3 {
		img, caption := w.Pair(i)
		fmt.Println(img.Bounds().Dx(), caption)
	}
	names := data.WorldClassNames()
	fmt.Println("base:", names[:8])
	fmt.Println("new: ", names[8:])
	// Output:
	// 32 an image of one large star that is blue on the right.
	// 32 a picture showing two circles.
	// 32 a picture showing three emerald dotted discs.
	// base: [red circle red triangle green square green star blue circle yellow square pink star purple star]
	// new:  [red square red star green circle green triangle blue square blue star yellow circle yellow triangle]
}

func ExampleFashionCaption() {
	rng := tensor.NewRNG(1)
	for range 3 {
		// Templates keep "a" before a vowel, as the zero-shot template
		// "a photo of a {}." does.
		fmt.Println(data.FashionCaption(4, data.CaptionsGap, rng)) // label 4: coat
	}
	fmt.Println(data.FashionSynonyms(data.CaptionsGap)[4])
	fmt.Println(data.FashionSynonyms(data.CaptionsPlain)[4])
	// Output:
	// a small photo of a overcoat.
	// a small photo of a jacket.
	// a black and white photo of a pullover.
	// [coat pullover jacket overcoat]
	// [coat jacket overcoat]
}
