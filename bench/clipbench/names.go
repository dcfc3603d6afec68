package main

import (
	"math/rand/v2"
	"strings"
	"sync"
)

// Names1000 returns the 1,000 synthetic class names of the eval1000
// workload (ImageNet's class count). They are made, deterministically
// (PCG seed 1000), of 1 to 4 words drawn from nameWords — common English
// nouns and adjectives, which the CLIP tokenizer keeps whole, and rarer
// animal, plant and object names, which it splits into 2–4 pieces — with
// 40% one word, 40% two, 17% three and 3% four, like ImageNet's
// "tench", "great white shark", "Greater Swiss Mountain Dog". Duplicates
// are drawn again. Their prompts "a photo of a {name}." are 8–17 tokens up
// to and including the EOT (mean 10.0; cut length 17); TestNames1000 pins
// the range.
func Names1000() []string {
	names1000Once.Do(func() {
		r := rand.New(rand.NewPCG(1000, 0))
		seen := map[string]bool{}
		for len(names1000) < 1000 {
			n := 1
			switch p := r.IntN(100); {
			case p >= 97:
				n = 4
			case p >= 80:
				n = 3
			case p >= 40:
				n = 2
			}
			ws := make([]string, n)
			for i := range ws {
				ws[i] = nameWords[r.IntN(len(nameWords))]
			}
			name := strings.Join(ws, "_")
			if !seen[name] {
				seen[name] = true
				names1000 = append(names1000, name)
			}
		}
	})
	return names1000
}

var (
	names1000Once sync.Once
	names1000     []string
)

// nameWords are the words of Names1000.
var nameWords = strings.Fields(`
red blue green black white grey brown golden spotted striped small great
giant common northern southern american european african indian
dog cat bird fish shark snake lizard frog turtle spider beetle butterfly
horse bear wolf fox deer goat sheep monkey whale seal owl eagle hawk duck
car truck bus boat ship train plane bicycle chair table lamp clock phone
bottle cup bowl plate knife spoon hat shoe shirt coat bag box basket
house bridge tower church castle fence gate wall window door
apple orange banana lemon mushroom flower tree leaf rose daisy corn
mountain river lake beach island valley desert volcano
terrier retriever spaniel hound poodle shepherd collie mastiff
axolotl pangolin quokka capybara okapi ocelot tarsier kinkajou armadillo
cassowary flamingo toucan pelican cormorant albatross hornbill
tarantula scorpion centipede millipede dragonfly grasshopper cicada
stingray hammerhead barracuda anemone jellyfish nautilus chiton
trilobite ammonite isopod salamander chameleon iguana gecko
harmonica accordion saxophone trombone xylophone tambourine bassoon
stethoscope thermometer barometer odometer sextant astrolabe
carbonara guacamole bruschetta tiramisu baklava croissant
`)
