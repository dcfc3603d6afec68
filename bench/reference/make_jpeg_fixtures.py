#!/usr/bin/env python3
"""Write the JPEG decoder fixtures used by clip/jpeg/jpeg_test.go.

    /usr/bin/python3 bench/reference/make_jpeg_fixtures.py [outdir]

Needs Debian's python3-pil (Pillow 9.4 on libjpeg-turbo 2.1.5),
libjpeg-turbo-progs (cjpeg), ImageMagick (convert) and go on PATH. outdir
defaults to clip/jpeg/testdata. The script is deterministic for a given set
of tools.

For every fixture NAME.jpg it stores NAME.png, Pillow's
Image.open(NAME.jpg).convert("RGB") (or the "L" image for greyscale files),
and lists it in manifest.json:

    {"file": "NAME.jpg", "ref": "NAME.png", "encoder": "...",
     "settings": "...", "width": W, "height": H, "mode": "RGB"|"L"|"CMYK",
     "error": "..."}   # error: Pillow fails too; Go must return an error

Source images are synthetic and photo-like: smooth gradients, sharp
coloured shapes, thin lines, text-like detail and noise.
"""

import io
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile

from PIL import Image, ImageDraw, ImageFilter

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def photo(w, h, seed):
    """A photo-like RGB test image of size w×h."""
    rnd = random.Random(seed)
    im = Image.new("RGB", (w, h))
    px = im.load()
    a, b, c = [rnd.uniform(0.5, 2.5) for _ in range(3)]
    for y in range(h):
        for x in range(w):
            px[x, y] = (
                int(127 + 120 * ((x / max(w - 1, 1)) * a % 1 - 0.5)),
                int(60 + 150 * y / max(h - 1, 1)),
                int(255 * ((x + y) / max(w + h - 2, 1)) ** b),
            )
    d = ImageDraw.Draw(im)
    for _ in range(max(3, (w * h) // 800)):
        x0, y0 = rnd.randrange(-w // 4, w), rnd.randrange(-h // 4, h)
        x1, y1 = x0 + rnd.randrange(2, max(3, w // 2)), y0 + rnd.randrange(2, max(3, h // 2))
        col = tuple(rnd.randrange(256) for _ in range(3))
        kind = rnd.randrange(3)
        if kind == 0:
            d.ellipse([x0, y0, x1, y1], fill=col)
        elif kind == 1:
            d.rectangle([x0, y0, x1, y1], fill=col)
        else:
            d.line([x0, y0, x1, y1], fill=col, width=rnd.randrange(1, 4))
    im = im.filter(ImageFilter.GaussianBlur(0.6))
    noise = Image.effect_noise((w, h), 18).convert("RGB")
    im = Image.blend(im, noise, 0.12)
    d = ImageDraw.Draw(im)
    for i in range(0, w, 9):  # fine detail: "text"
        if rnd.random() < 0.3:
            d.point([(i + k, h // 2 + (k * 7) % 5) for k in range(5)], fill=(250, 20, 30))
    return im


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, **kw)


class Fixtures:
    def __init__(self, outdir, tmp):
        self.outdir, self.tmp, self.items = outdir, tmp, []

    def add(self, name, data, encoder, settings):
        path = os.path.join(self.outdir, name + ".jpg")
        with open(path, "wb") as f:
            f.write(data)
        item = {"file": name + ".jpg", "encoder": encoder, "settings": settings}
        try:
            im = Image.open(path)
            mode = im.mode
            out = im if mode == "L" else im.convert("RGB")
            out.load()
        except Exception as e:  # Pillow refuses it: the Go decoder must too
            item["error"] = f"{type(e).__name__}: {e}"
            self.items.append(item)
            return
        out.save(os.path.join(self.outdir, name + ".png"), optimize=True)
        item.update(ref=name + ".png", width=out.width, height=out.height, mode=mode)
        self.items.append(item)

    def pillow(self, name, src, settings, **kw):
        buf = io.BytesIO()
        src.save(buf, "JPEG", **kw)
        self.add(name, buf.getvalue(), "pillow", settings)

    def cjpeg(self, name, src, args):
        ppm = os.path.join(self.tmp, "in.ppm" if src.mode == "RGB" else "in.pgm")
        src.save(ppm)
        data = run(["cjpeg"] + args + [ppm]).stdout
        self.add(name, data, "cjpeg", " ".join(os.path.basename(a) if a.startswith(self.tmp) else a for a in args))

    def magick(self, name, src, args):
        png = os.path.join(self.tmp, "in.png")
        out = os.path.join(self.tmp, "out.jpg")
        src.save(png)
        run(["convert", png] + args + [out])
        with open(out, "rb") as f:
            self.add(name, f.read(), "imagemagick", " ".join(args))

    def gojpeg(self, name, src, quality):
        prog = os.path.join(self.tmp, "enc.go")
        with open(prog, "w") as f:
            f.write(GO_ENCODER)
        png = os.path.join(self.tmp, "in.png")
        src.save(png)
        data = run(["go", "run", prog, png, str(quality)], cwd=self.tmp).stdout
        self.add(name, data, "go image/jpeg", f"quality {quality}")


GO_ENCODER = """package main

import (
	"image/jpeg"
	"image/png"
	"os"
	"strconv"
)

func main() {
	f, _ := os.Open(os.Args[1])
	img, err := png.Decode(f)
	if err != nil {
		panic(err)
	}
	q, _ := strconv.Atoi(os.Args[2])
	if err := jpeg.Encode(os.Stdout, img, &jpeg.Options{Quality: q}); err != nil {
		panic(err)
	}
}
"""

# An incomplete progressive script: AC bands of the first nine coefficients
# stop at Al=1, so libjpeg-turbo smooths blocks (jdcoefct.c).
SCANS_INCOMPLETE = """0,1,2: 0-0, 0, 1;
0: 1-9, 0, 2;
1: 1-63, 0, 1;
2: 1-63, 0, 1;
0: 1-9, 2, 1;
0: 10-63, 0, 0;
0,1,2: 0-0, 1, 0;
"""
# DC-only progressive file: every AC coefficient is unknown.
SCANS_DC_ONLY = """0,1,2: 0-0, 0, 0;
"""


def main():
    outdir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "clip", "jpeg", "testdata")
    if os.path.isdir(outdir):
        for f in os.listdir(outdir):
            if f.endswith((".jpg", ".png")) or f == "manifest.json":
                os.remove(os.path.join(outdir, f))
    os.makedirs(outdir, exist_ok=True)
    tmp = tempfile.mkdtemp()
    fx = Fixtures(outdir, tmp)
    try:
        big = photo(160, 120, 1)
        mid = photo(96, 72, 2)
        gray = photo(80, 60, 3).convert("L")

        # Pillow: quality × subsampling, baseline
        for q in (50, 75, 90, 95):
            for ss, label in ((0, "444"), (1, "422"), (2, "420")):
                src = big if q == 90 else mid
                fx.pillow(f"pil_q{q}_{label}", src, f"quality={q} subsampling={label}", quality=q, subsampling=ss)
        for ss, label in ((0, "444"), (1, "422"), (2, "420")):
            fx.pillow(f"pil_prog_{label}", big, f"progressive quality=80 subsampling={label}",
                      quality=80, subsampling=ss, progressive=True)
        fx.pillow("pil_optimize_420", big, "optimize quality=85", quality=85, optimize=True)
        fx.pillow("pil_q100_444", mid, "quality=100 subsampling=444", quality=100, subsampling=0)
        fx.pillow("pil_gray", gray, "mode L quality=85", quality=85)
        fx.pillow("pil_gray_prog", gray, "mode L progressive", quality=85, progressive=True)
        fx.pillow("pil_cmyk", mid.convert("CMYK"), "mode CMYK quality=90", quality=90)

        # cjpeg: sampling factors, progressive, restarts, greyscale
        for samp in ("1x1", "2x1", "1x2", "2x2", "4x1", "1x4", "4x2", "2x4", "3x1", "1x3"):
            fx.cjpeg(f"cjpeg_{samp}", mid, ["-quality", "85", "-sample", samp])
        fx.cjpeg("cjpeg_2x2_q30", big, ["-quality", "30", "-sample", "2x2"])
        fx.cjpeg("cjpeg_mixed", mid, ["-quality", "85", "-sample", "2x2,1x2,2x1"])
        for samp in ("2x2", "1x2", "2x1", "1x1"):
            fx.cjpeg(f"cjpeg_prog_{samp}", mid, ["-quality", "85", "-progressive", "-sample", samp])
        fx.cjpeg("cjpeg_restart1", mid, ["-quality", "80", "-restart", "1"])
        fx.cjpeg("cjpeg_restart3b", mid, ["-quality", "80", "-restart", "3B", "-sample", "1x1"])
        fx.cjpeg("cjpeg_prog_restart", mid, ["-quality", "80", "-progressive", "-restart", "2"])
        fx.cjpeg("cjpeg_optimize", mid, ["-quality", "75", "-optimize"])
        fx.cjpeg("cjpeg_gray", gray, ["-quality", "85"])
        fx.cjpeg("cjpeg_gray_2x2", gray, ["-quality", "85", "-sample", "2x2"])
        fx.cjpeg("cjpeg_grayscale_prog", mid, ["-quality", "85", "-grayscale", "-progressive"])
        fx.cjpeg("cjpeg_rgb", mid, ["-quality", "90", "-rgb"])
        fx.cjpeg("cjpeg_baseline_q5", mid, ["-quality", "5", "-baseline"])
        scans = os.path.join(tmp, "scans.txt")
        with open(scans, "w") as f:
            f.write(SCANS_INCOMPLETE)
        fx.cjpeg("cjpeg_scans_incomplete", mid, ["-quality", "85", "-sample", "1x1", "-scans", scans])
        fx.cjpeg("cjpeg_scans_incomplete_420", big, ["-quality", "85", "-sample", "2x2", "-scans", scans])
        with open(scans, "w") as f:
            f.write(SCANS_DC_ONLY)
        fx.cjpeg("cjpeg_scans_dconly", mid, ["-quality", "85", "-sample", "2x2", "-scans", scans])
        fx.cjpeg("cjpeg_arith", mid, ["-quality", "85", "-arithmetic"])

        # odd sizes: partial MCUs, narrow chroma
        for (w, h) in ((1, 1), (2, 2), (3, 5), (7, 5), (17, 9), (33, 65), (65, 33)):
            src = photo(w, h, 10 + w)
            fx.pillow(f"pil_{w}x{h}_420", src, "quality=90 subsampling=420", quality=90, subsampling=2)
            fx.cjpeg(f"cjpeg_{w}x{h}_1x2", src, ["-quality", "90", "-sample", "1x2"])
            fx.cjpeg(f"cjpeg_{w}x{h}_prog", src, ["-quality", "90", "-progressive", "-sample", "2x1"])
        fx.cjpeg("cjpeg_37x23_4x1", photo(37, 23, 5), ["-quality", "90", "-sample", "4x1"])

        # ImageMagick: Adobe CMYK
        fx.magick("magick_cmyk", mid, ["-colorspace", "CMYK", "-quality", "90"])
        fx.magick("magick_cmyk_prog", mid, ["-colorspace", "CMYK", "-quality", "85", "-interlace", "JPEG"])
        fx.magick("magick_q92", mid, ["-quality", "92", "-sampling-factor", "2x2"])

        # Go's encoder (no JFIF marker; component ids 1, 2, 3)
        fx.gojpeg("go_q75", mid, 75)
        fx.gojpeg("go_q90_odd", photo(33, 17, 7), 90)

        # Truncated data: Pillow raises "image file is truncated"
        with open(os.path.join(outdir, "pil_q90_420.jpg"), "rb") as f:
            whole = f.read()
        fx.add("truncated", whole[: len(whole) * 2 // 3], "pillow, cut", "first 2/3 of pil_q90_420.jpg")

        # Benchmark file (400×300, 4:2:0, quality 90)
        fx.pillow("bench420", photo(400, 300, 9), "quality=90 subsampling=420 (benchmark)", quality=90, subsampling=2)
    finally:
        shutil.rmtree(tmp)
    with open(os.path.join(outdir, "manifest.json"), "w") as f:
        json.dump({"generator": "bench/reference/make_jpeg_fixtures.py",
                   "pillow": Image.__version__, "fixtures": fx.items}, f, indent=1)
        f.write("\n")
    total = sum(os.path.getsize(os.path.join(outdir, f)) for f in os.listdir(outdir))
    print(f"{len(fx.items)} fixtures, {total} bytes in {outdir}")


if __name__ == "__main__":
    main()
