#!/usr/bin/env python3
"""Writes the preprocessing parity fixtures in clip/testdata/preprocess/.

For each case it writes an input PNG with deterministic content, then runs
what clip._transform(size) does on a PIL image, with PIL only (torchvision's
Resize(int) / CenterCrop arithmetic is reproduced below, docs/clip.md §4.1):

    Resize(size, BICUBIC) -> CenterCrop(size) -> convert("RGB")

and saves the uint8 crop (before ToTensor/Normalize) as an RGB PNG; for
the modes convert("RGB") changes (P, 1, L, LA, RGBA) also the crop of the
official CoOp/Dassl data path, which converts first (read_image:
Image.open(path).convert("RGB"), then the same Resize and CenterCrop),
as NAME_dassl_crop.png. For the
cases marked "floats" it also saves ToTensor+Normalize in float32 as .npy
(CHW), computed like torchvision: x.float()/255, then (x-mean)/std with
float32 mean/std. A manifest.json lists the cases.

Run from the clip directory:  /usr/bin/python3 testdata/make_preprocess_fixtures.py
Made with Debian's python3-pil 9.4.0 and python3-numpy 1.24.2.
"""
import json
import os

import numpy as np
import PIL
from PIL import Image

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "preprocess")
MEAN = np.array([0.48145466, 0.4578275, 0.40821073], dtype=np.float32)
STD = np.array([0.26862954, 0.26130258, 0.27577711], dtype=np.float32)


def pattern(w, h, seed, channels):
    """Smooth gradients, hard-edged blocks (which make bicubic overshoot and
    clip) and a narrow band of low-amplitude noise, per channel, as uint8."""
    rng = np.random.RandomState(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    planes = []
    for c in range(channels):
        v = 128 + 90 * np.sin(x / (7.0 + 3 * c) + c) * np.cos(y / (11.0 + 2 * c))
        blocks = ((x // (5 + c)).astype(int) + (y // (6 + c)).astype(int)) % 2
        region = (x > w * 0.55) & (y < h * 0.45)
        v = np.where(region, np.where(blocks == 1, 255.0, 0.0), v)
        band = (y > h * 0.7) & (y < h * 0.8) & (x < 48)
        v = np.where(band, v + rng.randint(-12, 13, size=v.shape), v)
        planes.append(np.clip(np.rint(v), 0, 255).astype(np.uint8))
    return np.stack(planes, axis=-1)


def make_input(mode, w, h, seed):
    if mode == "RGB" and w * h > 400000:
        # Large input: the pattern at 1/5 resolution, pixels repeated 5x5
        # (keeps the PNG small), plus a full-resolution checkerboard edge.
        small = pattern(w // 5, h // 5, seed, 3)
        a = np.repeat(np.repeat(small, 5, axis=0), 5, axis=1)
        a[: h // 3, : w // 3] = np.where(((np.arange(w // 3) // 3)[None, :] + (np.arange(h // 3) // 2)[:, None]) % 2 == 1, 250, 5)[..., None]
        return Image.fromarray(np.ascontiguousarray(a), "RGB")
    if mode == "RGB":
        return Image.fromarray(pattern(w, h, seed, 3), "RGB")
    if mode == "RGBA":
        a = pattern(w, h, seed, 4)
        a[..., 3] = np.where(a[..., 3] < 60, 0, a[..., 3])  # some fully transparent
        a[: h // 5, :, 3] = 255  # and some opaque rows
        return Image.fromarray(a, "RGBA")
    if mode == "L":
        return Image.fromarray(pattern(w, h, seed, 1)[..., 0], "L")
    if mode == "LA":
        a = pattern(w, h, seed, 2)
        return Image.fromarray(a, "LA")
    if mode == "P":
        rgb = Image.fromarray(pattern(w, h, seed, 3), "RGB")
        return rgb.quantize(colors=37, method=Image.Quantize.MEDIANCUT)
    if mode == "1":
        g = Image.fromarray(pattern(w, h, seed, 1)[..., 0], "L")
        return g.convert("1")  # Floyd-Steinberg dither, deterministic
    raise ValueError(mode)


def tv_resize_size(w, h, size):
    """torchvision _compute_resized_output_size for an int size: (w', h')."""
    short, long = (w, h) if w <= h else (h, w)
    new_short, new_long = size, int(size * long / short)
    return (new_short, new_long) if w <= h else (new_long, new_short)


def clip_transform_uint8(img, size):
    w, h = img.size
    nw, nh = tv_resize_size(w, h, size)
    if (nw, nh) != (w, h):
        img = img.resize((nw, nh), Image.BICUBIC)
    top = int(round((nh - size) / 2.0))
    left = int(round((nw - size) / 2.0))
    img = img.crop((left, top, left + size, top + size))
    return img.convert("RGB"), (nw, nh)


CASES = [
    # name, mode, w, h, size, floats
    ("rgb_300x200", "RGB", 300, 200, 224, False),  # upscale, odd excess
    ("rgba_97x311", "RGBA", 97, 311, 224, False),  # premultiplied alpha path
    ("p_50x50", "P", 50, 50, 224, False),  # palette: NEAREST
    ("l_640x481", "L", 640, 481, 224, False),  # downscale, one channel
    ("rgb_900x700", "RGB", 900, 700, 80, True),  # strong reduction (support 2*8.75)
    ("rgb_224x301", "RGB", 224, 301, 224, False),  # width kept: horizontal pass skipped
    ("la_260x230", "LA", 260, 230, 64, False),
    ("bilevel_120x90", "1", 120, 90, 48, False),
    ("rgb_37x23", "RGB", 37, 23, 32, True),
]


def main():
    os.makedirs(OUT, exist_ok=True)
    manifest = {"pillow": PIL.__version__, "numpy": np.__version__, "cases": []}
    for i, (name, mode, w, h, size, floats) in enumerate(CASES):
        img = make_input(mode, w, h, seed=1000 + i)
        src = name + ".png"
        img.save(os.path.join(OUT, src), optimize=True)
        reread = Image.open(os.path.join(OUT, src))
        assert reread.mode == mode, (reread.mode, mode)
        crop, (nw, nh) = clip_transform_uint8(reread, size)
        want = name + "_crop.png"
        crop.save(os.path.join(OUT, want), optimize=True)
        case = {"name": name, "input": src, "mode": mode, "size": size,
                "resized": [nw, nh], "crop": want}
        if mode != "RGB":
            dassl, _ = clip_transform_uint8(reread.convert("RGB"), size)
            case["dassl_crop"] = name + "_dassl_crop.png"
            dassl.save(os.path.join(OUT, case["dassl_crop"]), optimize=True)
        if floats:
            x = np.asarray(crop).astype(np.float32) / np.float32(255)
            x = (x - MEAN) / STD
            chw = np.ascontiguousarray(x.transpose(2, 0, 1).astype("<f4"))
            case["floats"] = name + "_norm.npy"
            np.save(os.path.join(OUT, case["floats"]), chw)
        manifest["cases"].append(case)
    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
    total = sum(os.path.getsize(os.path.join(OUT, n)) for n in os.listdir(OUT))
    print("wrote %d cases, %d bytes in %s" % (len(CASES), total, OUT))


if __name__ == "__main__":
    main()
