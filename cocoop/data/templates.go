package data

import "strings"

// templates are CoOp's CUSTOM_TEMPLATES (trainers/zsclip.py, docs/cocoop.md §5.2),
// one per DATASET.NAME; "{}" is replaced by the class name.
var templates = map[string]string{
	"OxfordPets":          "a photo of a {}, a type of pet.",
	"OxfordFlowers":       "a photo of a {}, a type of flower.",
	"FGVCAircraft":        "a photo of a {}, a type of aircraft.",
	"DescribableTextures": "{} texture.",
	"EuroSAT":             "a centered satellite photo of {}.",
	"StanfordCars":        "a photo of a {}.",
	"Food101":             "a photo of {}, a type of food.",
	"SUN397":              "a photo of a {}.",
	"Caltech101":          "a photo of a {}.",
	"UCF101":              "a photo of a person doing {}.",
	"ImageNet":            "a photo of a {}.",
	"ImageNetSketch":      "a photo of a {}.",
	"ImageNetV2":          "a photo of a {}.",
	"ImageNetA":           "a photo of a {}.",
	"ImageNetR":           "a photo of a {}.",
	"World":               "a photo of a {}.",
	"FashionMNIST":        "a photo of a {}.",
}

// DefaultTemplate is the template of datasets without their own
// (ImageFolder and unknown names).
const DefaultTemplate = "a photo of a {}."

// TemplatesSelect is IMAGENET_TEMPLATES_SELECT
// (trainers/imagenet_templates.py), the 7 templates of ZeroshotCLIP2's
// ensemble, in order.
var TemplatesSelect = []string{
	"itap of a {}.",
	"a bad photo of the {}.",
	"a origami {}.",
	"a photo of the large {}.",
	"a {} in a video game.",
	"art of the {}.",
	"a photo of the small {}.",
}

// Template returns the zero-shot template of dataset name (ZeroshotCLIP's
// CUSTOM_TEMPLATES, name matched without regard to case), or
// DefaultTemplate.
func Template(name string) string {
	if c, err := CanonicalName(name); err == nil {
		if t, ok := templates[c]; ok {
			return t
		}
	}
	return DefaultTemplate
}

// EnsembleTemplates is ZeroshotCLIP2's list: TemplatesSelect, followed by
// the dataset's own template unless the dataset is ImageNet.
func EnsembleTemplates(name string) []string {
	out := append([]string(nil), TemplatesSelect...)
	if c, _ := CanonicalName(name); c != "ImageNet" {
		out = append(out, Template(name))
	}
	return out
}

// Prompt fills template with a class name, replacing "_" in the name by a
// space as CoOp does (classname.replace("_", " ")).
func Prompt(template, className string) string {
	return strings.ReplaceAll(template, "{}", strings.ReplaceAll(className, "_", " "))
}
