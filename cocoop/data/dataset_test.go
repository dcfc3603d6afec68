package data

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestLoadOxfordPets(t *testing.T) {
	root := t.TempDir()
	names := []string{"abyssinian", "american_bulldog", "beagle"}
	makePets(t, root, names, 4, 2, 3)
	for _, n := range []string{"OxfordPets", "oxfordpets", "OXFORDPETS"} {
		ds, err := Load(n, root)
		if err != nil {
			t.Fatal(err)
		}
		if ds.Name != "OxfordPets" || len(ds.Train) != 12 || len(ds.Val) != 6 || len(ds.Test) != 9 {
			t.Fatalf("%s: name %s, sizes %d/%d/%d", n, ds.Name, len(ds.Train), len(ds.Val), len(ds.Test))
		}
		if !reflect.DeepEqual(ds.ClassNames, names) {
			t.Fatalf("class names %v", ds.ClassNames)
		}
		want := Datum{ImPath: filepath.Join(root, "oxford_pets", "images", "c1_val_0.png"), Label: 1, ClassName: "american_bulldog"}
		if ds.Val[2] != want {
			t.Fatalf("val[2] = %+v, want %+v", ds.Val[2], want)
		}
	}
	// root may also be the dataset folder itself.
	if _, err := Load("OxfordPets", filepath.Join(root, "oxford_pets")); err != nil {
		t.Fatal(err)
	}
}

func TestLoadStanfordCarsDatasetRelative(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "stanford_cars")
	names := []string{"2012 Audi TTS Coupe", "2007 BMW X5 SUV"}
	writeSplitDataset(t, filepath.Join(dir, "split_zhou_StanfordCars.json"), dir, map[string][][]any{
		"train": splitEntries(names, 2, "cars_train/%d%04d.jpg"),
		"val":   splitEntries(names, 1, "cars_train/9%d%03d.jpg"),
		"test":  splitEntries(names, 2, "cars_test/%d%04d.jpg"),
	})
	ds, err := Load("StanfordCars", root)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := ds.Test[3].ImPath, filepath.Join(dir, "cars_test", "10001.jpg"); got != want {
		t.Fatalf("test[3] path %s, want %s (relative to the dataset dir)", got, want)
	}
	if ds.ClassNames[0] != "2012 Audi TTS Coupe" {
		t.Fatalf("class names %v", ds.ClassNames)
	}
}

func TestLoadEuroSAT(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "eurosat")
	names := []string{"Annual Crop Land", "Forest", "Herbaceous Vegetation Land"}
	folders := []string{"AnnualCrop", "Forest", "HerbaceousVegetation"}
	split := map[string][][]any{}
	for _, s := range []string{"train", "val", "test"} {
		for c := range names {
			split[s] = append(split[s], []any{folders[c] + "/" + folders[c] + "_" + s + ".jpg", c, names[c]})
		}
	}
	writeSplitDataset(t, filepath.Join(dir, "split_zhou_EuroSAT.json"), filepath.Join(dir, "2750"), split)
	ds, err := Load("eurosat", root)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(ds.ClassNames, names) || len(ds.Train) != 3 {
		t.Fatalf("got %v, %d train", ds.ClassNames, len(ds.Train))
	}
	if want := filepath.Join(dir, "2750", "Forest", "Forest_test.jpg"); ds.Test[1].ImPath != want {
		t.Fatalf("path %s, want %s", ds.Test[1].ImPath, want)
	}
}

func TestLoadFGVCAircraft(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "fgvc_aircraft")
	// Not sorted: labels follow the file order, as CoOp's fgvc_aircraft.py.
	writeFile(t, filepath.Join(dir, "variants.txt"), "747-400\nA320\nF-16A/B\nBoeing 707 320\n")
	writeFile(t, filepath.Join(dir, "images_variant_train.txt"), "0001 747-400\n0002 F-16A/B\n0003 Boeing 707 320\n0004 A320\n")
	writeFile(t, filepath.Join(dir, "images_variant_val.txt"), "0005 A320\n")
	writeFile(t, filepath.Join(dir, "images_variant_test.txt"), "0006 Boeing 707 320\n0007 747-400\n")
	for i := 1; i <= 7; i++ {
		writePNG(t, filepath.Join(dir, "images", "000"+string(rune('0'+i))+".jpg"), 5, 5, i)
	}
	ds, err := Load("FGVCAircraft", root)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(ds.ClassNames, []string{"747-400", "A320", "F-16A/B", "Boeing 707 320"}) {
		t.Fatalf("class names %v", ds.ClassNames)
	}
	if got := labelsOf(ds.Train); !reflect.DeepEqual(got, []int{0, 2, 3, 1}) {
		t.Fatalf("train labels %v", got)
	}
	if ds.Train[2].ClassName != "Boeing 707 320" || ds.Train[2].ImPath != filepath.Join(dir, "images", "0003.jpg") {
		t.Fatalf("train[2] = %+v", ds.Train[2])
	}
	if len(ds.Val) != 1 || len(ds.Test) != 2 {
		t.Fatalf("sizes %d/%d", len(ds.Val), len(ds.Test))
	}

	writeFile(t, filepath.Join(dir, "images_variant_val.txt"), "0005 A321\n")
	_, err = Load("FGVCAircraft", root)
	wantErr(t, err, "images_variant_val.txt:1", `"A321"`, "variants.txt")
}

// makeImageNetLike writes classnames.txt (in the given, unsorted order)
// into dir.
func writeClassNames(t *testing.T, dir string, wnids, names []string) {
	var sb strings.Builder
	for i := range wnids {
		sb.WriteString(wnids[i] + " " + names[i] + "\n")
	}
	writeFile(t, filepath.Join(dir, "classnames.txt"), sb.String())
}

func TestLoadImageNet(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "imagenet")
	wnids := []string{"n02", "n01", "n03"}
	names := []string{"goldfish", "tench fish", "great white shark"}
	writeClassNames(t, dir, wnids, names)
	for _, w := range wnids {
		for i, s := range []string{"b.JPEG", "a.JPEG", ".hidden"} {
			writePNG(t, filepath.Join(dir, "images", "train", w, s), 4, 4, i)
		}
		writePNG(t, filepath.Join(dir, "images", "val", w, "v.JPEG"), 4, 4, 9)
	}
	ds, err := Load("ImageNet", root)
	if err != nil {
		t.Fatal(err)
	}
	// Sorted wnids: n01, n02, n03.
	if want := []string{"tench fish", "goldfish", "great white shark"}; !reflect.DeepEqual(ds.ClassNames, want) {
		t.Fatalf("class names %v, want %v", ds.ClassNames, want)
	}
	if len(ds.Train) != 6 || len(ds.Test) != 3 || len(ds.Val) != 3 {
		t.Fatalf("sizes %d/%d/%d", len(ds.Train), len(ds.Val), len(ds.Test))
	}
	if d := ds.Train[1]; d.Label != 0 || d.ImPath != filepath.Join(dir, "images", "train", "n01", "b.JPEG") {
		t.Fatalf("train[1] = %+v", d)
	}
	if d := ds.Test[2]; d.Label != 2 || d.ClassName != "great white shark" {
		t.Fatalf("test[2] = %+v", d)
	}
	// Few-shot samples train only; val stays the test set.
	fs := FewShot(ds, 1, NewPyRandom(1))
	if len(fs.Train) != 3 || len(fs.Val) != 3 {
		t.Fatalf("few-shot sizes %d/%d", len(fs.Train), len(fs.Val))
	}

	if err := os.RemoveAll(filepath.Join(dir, "images", "val", "n03")); err != nil {
		t.Fatal(err)
	}
	_, err = Load("ImageNet", root)
	wantErr(t, err, "labels would not match")
}

func TestLoadImageNetA(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "imagenet-adversarial")
	wnids := []string{"n05", "n01", "n04", "n02", "n03"}
	names := []string{"e", "a", "d", "b", "c"}
	writeClassNames(t, dir, wnids, names)
	for _, w := range []string{"n04", "n02", "n05"} { // a subset of the wnids
		writePNG(t, filepath.Join(dir, "imagenet-a", w, "x.jpg"), 4, 4, 1)
	}
	writeFile(t, filepath.Join(dir, "imagenet-a", "README.txt"), "ignored")
	ds, err := Load("ImageNetA", root)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"b", "d", "e"}; !reflect.DeepEqual(ds.ClassNames, want) {
		t.Fatalf("class names %v, want %v", ds.ClassNames, want)
	}
	if got := labelsOf(ds.Test); !reflect.DeepEqual(got, []int{0, 1, 2}) || len(ds.Train) != 3 {
		t.Fatalf("labels %v", got)
	}
	if fs := FewShot(ds, 16, NewPyRandom(1)); len(fs.Test) != 3 {
		t.Fatal("variants must not be subsampled")
	}
	writePNG(t, filepath.Join(dir, "imagenet-a", "n99", "x.jpg"), 4, 4, 1)
	_, err = Load("ImageNetA", root)
	wantErr(t, err, "n99", "classnames.txt")
}

func TestLoadImageNetV2(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "imagenetv2")
	writeClassNames(t, dir, []string{"n02", "n01"}, []string{"goldfish", "tench"})
	writePNG(t, filepath.Join(dir, "imagenetv2-matched-frequency-format-val", "0", "a.jpeg"), 4, 4, 1)
	writePNG(t, filepath.Join(dir, "imagenetv2-matched-frequency-format-val", "1", "b.jpeg"), 4, 4, 2)
	ds, err := Load("imagenetv2", root)
	if err != nil {
		t.Fatal(err)
	}
	// Folder str(i) is the i-th classnames.txt entry (file order).
	if !reflect.DeepEqual(ds.ClassNames, []string{"goldfish", "tench"}) || ds.Test[1].Label != 1 || ds.Test[1].ClassName != "tench" {
		t.Fatalf("got %v %+v", ds.ClassNames, ds.Test)
	}
}

func TestLoadImageFolder(t *testing.T) {
	dir := t.TempDir()
	writePNG(t, filepath.Join(dir, "train", "dog", "1.png"), 4, 4, 1)
	writePNG(t, filepath.Join(dir, "train", "cat", "1.png"), 4, 4, 2)
	writePNG(t, filepath.Join(dir, "test", "cat", "2.PNG"), 4, 4, 3)
	writePNG(t, filepath.Join(dir, "test", "zebra", "3.jpg"), 4, 4, 4)
	writeFile(t, filepath.Join(dir, "test", "zebra", "notes.txt"), "not an image")
	ds, err := Load("ImageFolder", dir)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(ds.ClassNames, []string{"cat", "dog", "zebra"}) {
		t.Fatalf("class names %v", ds.ClassNames)
	}
	if got := labelsOf(ds.Train); !reflect.DeepEqual(got, []int{0, 1}) {
		t.Fatalf("train labels %v", got)
	}
	if got := labelsOf(ds.Test); !reflect.DeepEqual(got, []int{0, 2}) || len(ds.Val) != 0 {
		t.Fatalf("test labels %v", got)
	}

	flat := t.TempDir()
	writePNG(t, filepath.Join(flat, "b", "1.png"), 4, 4, 1)
	writePNG(t, filepath.Join(flat, "a", "1.png"), 4, 4, 1)
	ds, err = LoadImageFolder(flat)
	if err != nil {
		t.Fatal(err)
	}
	if len(ds.Train) != 0 || len(ds.Test) != 2 || ds.Test[0].ClassName != "a" {
		t.Fatalf("flat: %+v", ds)
	}
}

func TestLoadUnknownName(t *testing.T) {
	_, err := Load("Flowers", t.TempDir())
	wantErr(t, err, `"Flowers"`, "OxfordFlowers", "ImageNetR", "ImageFolder")
}

func TestLoadErrors(t *testing.T) {
	names := []string{"a", "b"}
	pets := func(t *testing.T) (root, split string) {
		root = t.TempDir()
		makePets(t, root, names, 2, 1, 1)
		return root, filepath.Join(root, "oxford_pets", "split_zhou_OxfordPets.json")
	}
	t.Run("missing dataset dir", func(t *testing.T) {
		root := t.TempDir()
		_, err := Load("OxfordPets", root)
		wantErr(t, err, filepath.Join(root, "oxford_pets"), "does not exist")
	})
	t.Run("missing split file", func(t *testing.T) {
		root, split := pets(t)
		os.Remove(split)
		_, err := Load("OxfordPets", root)
		wantErr(t, err, split, "does not exist")
	})
	t.Run("JSON syntax", func(t *testing.T) {
		root, split := pets(t)
		writeFile(t, split, "{\"train\": [\n [\"a.png\", 0, \"a\"],,\n]}")
		_, err := Load("OxfordPets", root)
		wantErr(t, err, split, "line 2")
	})
	t.Run("malformed entry", func(t *testing.T) {
		root, split := pets(t)
		writeFile(t, split, `{"train": [["c0_train_0.png", 0, "a"], ["c0_train_1.png", "zero", "a"]], "val": [], "test": []}`)
		_, err := Load("OxfordPets", root)
		wantErr(t, err, split, "train[1]", "expected [impath (string), label (int), classname (string)]", `"zero"`)
	})
	t.Run("short entry", func(t *testing.T) {
		root, split := pets(t)
		writeFile(t, split, `{"train": [], "val": [], "test": [["c0_test_0.png", 0]]}`)
		_, err := Load("OxfordPets", root)
		wantErr(t, err, "test[0]", "expected [impath")
	})
	t.Run("missing key", func(t *testing.T) {
		root, split := pets(t)
		writeFile(t, split, `{"train": [], "test": []}`)
		_, err := Load("OxfordPets", root)
		wantErr(t, err, split, `missing key "val"`)
	})
	t.Run("label out of range", func(t *testing.T) {
		root, split := pets(t)
		writeFile(t, split, `{"train": [["c0_train_0.png", 0, "a"], ["c1_train_0.png", 5, "b"]], "val": [], "test": []}`)
		_, err := Load("OxfordPets", root)
		wantErr(t, err, split, "train[1]", "label 5 out of range")
	})
	t.Run("label inconsistent with name", func(t *testing.T) {
		root, split := pets(t)
		writeFile(t, split, `{"train": [["c0_train_0.png", 0, "a"], ["c1_train_0.png", 1, "b"]], "val": [["c0_val_0.png", 1, "a"]], "test": []}`)
		_, err := Load("OxfordPets", root)
		wantErr(t, err, split, "val[0]", `label 1 has class name "a"`, `"b"`)
	})
	t.Run("negative label", func(t *testing.T) {
		root, split := pets(t)
		writeFile(t, split, `{"train": [["c0_train_0.png", -1, "a"]], "val": [], "test": []}`)
		_, err := Load("OxfordPets", root)
		wantErr(t, err, "train[0]", "negative")
	})
	t.Run("missing images", func(t *testing.T) {
		root, _ := pets(t)
		img := filepath.Join(root, "oxford_pets", "images")
		os.Remove(filepath.Join(img, "c1_test_0.png"))
		os.Remove(filepath.Join(img, "c0_train_1.png"))
		_, err := Load("OxfordPets", root)
		wantErr(t, err, "2 of 8 image files missing", filepath.Join(img, "c0_train_1.png"), filepath.Join(img, "c1_test_0.png"))
	})
}

func TestSplitCountsAndSizes(t *testing.T) {
	if b, n := BaseNewCounts(37); b != 19 || n != 18 {
		t.Fatalf("37 → %d/%d", b, n)
	}
	if b, n := BaseNewCounts(1000); b != 500 || n != 500 {
		t.Fatalf("1000 → %d/%d", b, n)
	}
}
