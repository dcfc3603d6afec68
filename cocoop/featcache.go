package cocoop

import (
	"crypto/sha256"
	"encoding/binary"
	"math"
	"sync"

	"github.com/gocoop/gocoop/clip"
	"github.com/gocoop/gocoop/tensor"
)

// encodeImages is normalize(encode_image(images)) [B, E], the one place the
// frozen image encoder runs (a variable so that tests can count its calls).
var encodeImages = imageFeatures

// featureCache memoizes normalized image features by image content
// (Config.CacheImageFeatures): the key is the SHA-256 of an image's shape
// and float32 bits, so any change of the input — another datum, another
// transform, a random augmentation — is a different key, and a hit is
// exactly the features computed the first time that input was seen.
type featureCache struct {
	mu           sync.Mutex
	feats        map[[sha256.Size]byte][]float32
	hits, misses int
}

func newFeatureCache() *featureCache {
	return &featureCache{feats: map[[sha256.Size]byte][]float32{}}
}

// ImageCacheStats reports a learner's image-feature cache: lookups that
// hit, lookups that ran the image encoder, and stored images.
type ImageCacheStats struct {
	Hits, Misses, Entries int
}

// imageKey hashes image i of images [B, ...].
func imageKey(images *tensor.Tensor, i int) [sha256.Size]byte {
	img := images.Index(0, i).Contiguous()
	h := sha256.New()
	var b [8]byte
	for _, d := range img.Shape() {
		binary.LittleEndian.PutUint64(b[:], uint64(d))
		h.Write(b[:])
	}
	data := img.Data()
	buf := make([]byte, 0, 4*4096)
	for lo := 0; lo < len(data); lo += 4096 {
		buf = buf[:0]
		for _, v := range data[lo:min(len(data), lo+4096)] {
			buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(v))
		}
		h.Write(buf)
	}
	var k [sha256.Size]byte
	h.Sum(k[:0])
	return k
}

// features returns the normalized features [B, E] of images, running the
// encoder once, as one batch, on the images not yet cached (a nil cache
// runs it on all of them).
func (fc *featureCache) features(m *clip.CLIP, images *tensor.Tensor) *tensor.Tensor {
	if fc == nil {
		return encodeImages(m, images)
	}
	b := images.Dim(0)
	keys := make([][sha256.Size]byte, b)
	for i := range keys {
		keys[i] = imageKey(images, i)
	}
	out := tensor.New(b, m.EmbedDim)
	od := out.Data()
	var miss []int
	first := map[[sha256.Size]byte]int{} // a missing image repeated in the batch is encoded once
	fc.mu.Lock()
	for i, k := range keys {
		if f, ok := fc.feats[k]; ok {
			copy(od[i*m.EmbedDim:], f)
			fc.hits++
		} else if _, ok := first[k]; !ok {
			first[k] = i
			miss = append(miss, i)
		}
	}
	fc.mu.Unlock()
	if len(miss) == 0 {
		return out
	}
	sub := images
	if len(miss) < b {
		sub = tensor.IndexSelect(images, 0, miss)
	}
	f := encodeImages(m, sub).Contiguous().Data()
	fc.mu.Lock()
	defer fc.mu.Unlock()
	for j, i := range miss {
		v := make([]float32, m.EmbedDim)
		copy(v, f[j*m.EmbedDim:])
		fc.feats[keys[i]] = v
		fc.misses++
	}
	for i, k := range keys { // the misses and their repeats
		if _, ok := first[k]; ok {
			copy(od[i*m.EmbedDim:], fc.feats[k])
		}
	}
	return out
}

func (fc *featureCache) stats() ImageCacheStats {
	if fc == nil {
		return ImageCacheStats{}
	}
	fc.mu.Lock()
	defer fc.mu.Unlock()
	return ImageCacheStats{Hits: fc.hits, Misses: fc.misses, Entries: len(fc.feats)}
}

// imageCacher is a learner with an image-feature cache (nil when off).
type imageCacher interface {
	imageCache() *featureCache
}

// ImageCacheStatsOf returns the image-feature cache counters of c (zero
// when Config.CacheImageFeatures is off or c has no cache).
func ImageCacheStatsOf(c Classifier) ImageCacheStats {
	if ic, ok := c.(imageCacher); ok {
		return ic.imageCache().stats()
	}
	return ImageCacheStats{}
}
