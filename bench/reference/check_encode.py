#!/usr/bin/env python3
"""Acceptance check of `cocoop encode` / `cocoop tokenize` against PyTorch.

Independently of the Go tests, this script builds random CLIP ViT models with
openai/CLIP's module structure (the classes of make_checkpoints.py; heads =
width/64 as build_model infers them), saves each in every checkpoint format
GoCoOp reads, encodes a few PNG images and held-out texts with
`cocoop encode`, and compares the embeddings with PyTorch float32 features
computed from the same weights (after the fp16 round trip for the formats
stored in the release dtypes, as clip.load(device="cpu") sees them).

Run with Debian's python (PyTorch 1.13, Pillow; no torchvision needed):

    go build -o /tmp/cocoop ./cmd/cocoop
    /usr/bin/python3 bench/reference/check_encode.py [--cocoop /tmp/cocoop] [--keep DIR]

Formats (docs/clip.md §2):

  hf.safetensors        Hugging Face CLIPModel names, F32, legacy position_ids
  openai.safetensors    OpenAI / open_clip names, F32, no buffers
  state_dict.pt         torch.save(model.state_dict()) after convert_weights
                        (fp16/fp32 mix + int64 buffers)
  torchscript.pt        torch.jit.trace of the model, convert_weights dtypes,
                        torch.jit.save (module tree in data.pkl, as the release)

and edge cases a reviewer may try: HF without position_ids, HF in F16, HF
names in a torch.save pytorch_model.bin, an fp32 (unconverted) state dict, a
.bin extension, a {"state_dict": ..., "epoch": ...} wrapper with "module."
keys, OpenAI-names safetensors in release dtypes with the int64 buffers, and
a torch.jit.script archive.

Pass criterion: max|go - torch| / max|torch| <= 1e-4 for image_embeds and
text_embeds. The script exits 1 if any case fails.
"""

import argparse
import copy
import json
import math
import os
import shutil
import struct
import subprocess
import sys
import tempfile

import numpy as np
import torch
import torch.nn as nn
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.dont_write_bytecode = True  # no __pycache__ in the tree
sys.path.insert(0, HERE)
import make_checkpoints as mc  # noqa: E402

TOL = 1e-4
MEAN = (0.48145466, 0.4578275, 0.40821073)
STD = (0.26862954, 0.26130258, 0.27577711)
BUFFERS = ("input_resolution", "context_length", "vocab_size")

CONFIGS = [
    dict(name="v64x2p8r32_t64x2_e32", embed=32, res=32, vlayers=2, vwidth=64, patch=8,
         twidth=64, tlayers=2, ctx=77, vocab=49408, seed=1),
    dict(name="v128x3p16r48_t128x2_e64", embed=64, res=48, vlayers=3, vwidth=128, patch=16,
         twidth=128, tlayers=2, ctx=77, vocab=49408, seed=2),
    dict(name="v192x1p14r42_t64x3_e48", embed=48, res=42, vlayers=1, vwidth=192, patch=14,
         twidth=64, tlayers=3, ctx=77, vocab=49408, seed=3),
]

# Held out from tokenizer_golden.json (checked below).
TEXTS = [
    "a photo of a Σίσυφος, naïve café — 3.14 apples!",
    "Boeing 787-9 Dreamliner taxiing at dusk, O'Reilly's hangar",
    "an <|endoftext|> inside the text, then more words &amp; HTML",
]


# ---------------------------------------------------------------------------
# Model: openai/CLIP structure from make_checkpoints.py, heads = width // 64.

def set_globals(c):
    """Point make_checkpoints' size globals at config c (as set_vit_b_16)."""
    mc.EMBED_DIM, mc.IMAGE_RESOLUTION, mc.VISION_LAYERS = c["embed"], c["res"], c["vlayers"]
    mc.VISION_WIDTH, mc.VISION_PATCH = c["vwidth"], c["patch"]
    mc.CONTEXT_LENGTH, mc.VOCAB_SIZE = c["ctx"], c["vocab"]
    mc.TEXT_WIDTH, mc.TEXT_HEADS, mc.TEXT_LAYERS = c["twidth"], c["twidth"] // 64, c["tlayers"]


class CLIP(nn.Module):
    """clip/model.py's CLIP (ViT image tower) with the release's int64 buffers."""

    def __init__(self, c):
        super().__init__()
        ctx = c["ctx"]
        self.visual = mc.VisionTransformer(c["res"], c["patch"], c["vwidth"], c["vlayers"],
                                           c["vwidth"] // 64, c["embed"])
        mask = torch.empty(ctx, ctx).fill_(float("-inf")).triu_(1)
        self.transformer = mc.Transformer(c["twidth"], c["tlayers"], c["twidth"] // 64,
                                          attn_mask=mask)
        self.token_embedding = nn.Embedding(c["vocab"], c["twidth"])
        self.positional_embedding = nn.Parameter(torch.empty(ctx, c["twidth"]))
        self.ln_final = nn.LayerNorm(c["twidth"])
        self.text_projection = nn.Parameter(torch.empty(c["twidth"], c["embed"]))
        self.logit_scale = nn.Parameter(torch.ones([]) * math.log(1 / 0.07))
        self.register_buffer("input_resolution", torch.tensor(c["res"]))
        self.register_buffer("context_length", torch.tensor(ctx))
        self.register_buffer("vocab_size", torch.tensor(c["vocab"]))

    def encode_image(self, image):
        return self.visual(image)

    def encode_text(self, text):
        x = self.token_embedding(text)
        x = x + self.positional_embedding
        x = x.permute(1, 0, 2)
        x = self.transformer(x)
        x = x.permute(1, 0, 2)
        x = self.ln_final(x)
        return x[torch.arange(x.shape[0]), text.argmax(dim=-1)] @ self.text_projection

    def forward(self, image, text):
        img = self.encode_image(image)
        txt = self.encode_text(text)
        img = img / img.norm(p=2.0, dim=1, keepdim=True)
        txt = txt / txt.norm(p=2.0, dim=1, keepdim=True)
        return self.logit_scale.exp() * img @ txt.t()


def build(c):
    """Random weights on CLIP's scale; LayerNorms and logit_scale off their defaults."""
    torch.manual_seed(c["seed"])
    m = CLIP(c).eval()
    with torch.no_grad():
        for name, p in m.named_parameters():
            last = name.rsplit(".", 1)[-1]
            if ".ln_" in "." + name or name.startswith("ln_"):
                p.copy_((1.0 if last == "weight" else 0.0) + 0.3 * torch.randn(p.shape))
            elif name == "logit_scale":
                p.fill_(3.3 + 0.5 * torch.rand(()).item())
            elif name == "token_embedding.weight":
                p.copy_(0.05 * torch.randn(p.shape))
            elif last == "bias" or name.endswith("in_proj_bias"):
                p.copy_(0.1 * torch.randn(p.shape))
            elif p.dim() >= 2 and not name.endswith("positional_embedding"):
                fan_in = p[0].numel() if name not in ("visual.proj", "text_projection") else p.shape[0]
                p.copy_(torch.randn(p.shape) / math.sqrt(fan_in))
            else:  # class / positional embeddings
                p.copy_(0.2 * torch.randn(p.shape))
    return m


def converted(model):
    """(convert_weights copy with fp16 params, its float() copy = the CPU reference)."""
    half = copy.deepcopy(model)
    mc.convert_weights(half)
    ref = copy.deepcopy(half).float()
    return half, ref


def half_everything(model):
    """Every float tensor rounded through fp16 (an HF checkpoint saved in F16)."""
    m = copy.deepcopy(model)
    with torch.no_grad():
        for p in m.parameters():
            p.copy_(p.half().float())
    return m


# ---------------------------------------------------------------------------
# Preprocessing: clip._transform with PIL only.

def preprocess(path, n_px):
    img = Image.open(path)
    w, h = img.size
    short, long = (w, h) if w <= h else (h, w)
    new_long = int(n_px * long / short)
    nw, nh = (n_px, new_long) if w <= h else (new_long, n_px)
    if (nw, nh) != (w, h):
        img = img.resize((nw, nh), Image.BICUBIC)
    top = int(round((nh - n_px) / 2.0))
    left = int(round((nw - n_px) / 2.0))
    img = img.crop((left, top, left + n_px, top + n_px)).convert("RGB")
    x = torch.from_numpy(np.asarray(img, dtype=np.uint8).copy()).permute(2, 0, 1).float().div(255)
    mean = torch.tensor(MEAN).view(3, 1, 1)
    std = torch.tensor(STD).view(3, 1, 1)
    return (x - mean) / std


def write_images(d):
    rng = np.random.default_rng(12345)

    def field(w, h, ch):
        yy, xx = np.mgrid[0:h, 0:w]
        base = np.stack([np.sin(xx / (3 + k) + yy / (5 + k)) for k in range(ch)], -1)
        v = 127.5 + 90 * base + rng.normal(0, 30, (h, w, ch))
        return np.clip(np.rint(v), 0, 255).astype(np.uint8)

    paths = []
    p = os.path.join(d, "rgb_67x45.png")
    Image.fromarray(field(67, 45, 3), "RGB").save(p)
    paths.append(p)
    p = os.path.join(d, "gray_45x71.png")
    Image.fromarray(field(45, 71, 1)[:, :, 0], "L").save(p)
    paths.append(p)
    p = os.path.join(d, "rgba_50x37.png")
    a = field(50, 37, 4)
    a[:, :, 3] = np.clip(a[:, :, 3].astype(int) + 60, 0, 255)
    a[:5, :, 3] = 0
    Image.fromarray(a, "RGBA").save(p)
    paths.append(p)
    p = os.path.join(d, "pal_31x80.png")
    Image.fromarray(field(31, 80, 3), "RGB").convert("P", palette=Image.ADAPTIVE, colors=64).save(p)
    paths.append(p)
    return paths


# ---------------------------------------------------------------------------
# Formats.

def save_all(c, model, d):
    """Write every checkpoint; returns [(label, path, reference model, main?)]."""
    set_globals(c)
    half, ref_mixed = converted(model)
    sd32 = model.state_dict()
    sd16 = half.state_dict()
    no_buf = lambda sd: [(k, v) for k, v in sd.items() if k not in BUFFERS]  # noqa: E731
    out = []

    def p(name):
        return os.path.join(d, name)

    hf = mc.hf_items(sd32)
    mc.write_safetensors(p("hf.safetensors"), hf, {"format": "pt"})
    out.append(("hf.safetensors", p("hf.safetensors"), model, True))
    mc.write_safetensors(p("openai.safetensors"), no_buf(sd32), {"format": "pt"})
    out.append(("openai.safetensors", p("openai.safetensors"), model, True))
    torch.save(sd16, p("state_dict.pt"))
    out.append(("state_dict.pt (fp16 mix)", p("state_dict.pt"), ref_mixed, True))

    image = torch.randn(1, 3, c["res"], c["res"])
    text = torch.randint(1, c["vocab"], (1, c["ctx"]))
    with torch.no_grad():
        traced = torch.jit.trace(copy.deepcopy(model), (image, text))
    jparams = dict(traced.named_parameters())
    for k, v in sd16.items():
        if v.dtype == torch.float16:
            jparams[k].data = jparams[k].data.half()
    jsd = traced.state_dict()
    assert list(jsd) == list(sd16), "traced state_dict order differs"
    for k in sd16:
        assert jsd[k].dtype == sd16[k].dtype and torch.equal(jsd[k], sd16[k]), k
    torch.jit.save(traced, p("torchscript.pt"))
    out.append(("torchscript.pt (trace)", p("torchscript.pt"), ref_mixed, True))

    # Edge cases.
    mc.write_safetensors(p("hf_nopos.safetensors"),
                         [(k, v) for k, v in hf if not k.endswith("position_ids")])
    out.append(("hf w/o position_ids", p("hf_nopos.safetensors"), model, False))
    mc.write_safetensors(p("hf_f16.safetensors"),
                         [(k, v.half() if v.is_floating_point() else v) for k, v in hf])
    out.append(("hf F16", p("hf_f16.safetensors"), half_everything(model), False))
    torch.save(collections_od(hf), p("pytorch_model.bin"))
    out.append(("hf names pytorch_model.bin", p("pytorch_model.bin"), model, False))
    torch.save(sd32, p("state_dict_fp32.pt"))
    out.append(("state_dict.pt fp32", p("state_dict_fp32.pt"), model, False))
    torch.save(sd16, p("state_dict.bin"))
    out.append(("state_dict .bin", p("state_dict.bin"), ref_mixed, False))
    torch.save({"state_dict": collections_od(("module." + k, v) for k, v in sd16.items()),
                "epoch": 3, "lr": 1e-3}, p("wrapped.pt"))
    out.append(("{'state_dict': module.*}", p("wrapped.pt"), ref_mixed, False))
    mc.write_safetensors(p("openai_release.safetensors"), list(sd16.items()))
    out.append(("openai st F16 + I64 buffers", p("openai_release.safetensors"), ref_mixed, False))
    wrapper = Wrapper(copy.deepcopy(model)).eval()
    with torch.no_grad():
        wtraced = torch.jit.trace(wrapper, (image, text))
    wparams = dict(wtraced.named_parameters())
    for k, v in sd16.items():
        if v.dtype == torch.float16:
            wparams["model." + k].data = wparams["model." + k].data.half()
    torch.jit.save(wtraced, p("wrapper_trace.pt"))
    out.append(("torchscript trace of wrapper", p("wrapper_trace.pt"), ref_mixed, False))
    try:
        scripted = torch.jit.script(copy.deepcopy(half))
        torch.jit.save(scripted, p("scripted.pt"))
        back = torch.jit.load(p("scripted.pt")).state_dict()
        assert list(back) == list(sd16)
        out.append(("torchscript.pt (script)", p("scripted.pt"), ref_mixed, False))
    except Exception as e:  # noqa: BLE001
        print(f"  (torch.jit.script not possible: {type(e).__name__}: {str(e)[:200]})")
    return out


class Wrapper(nn.Module):
    """A module holding CLIP as .model (state_dict keys "model.*")."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, image, text):
        return self.model.encode_image(image), self.model.encode_text(text)


def collections_od(items):
    import collections
    return collections.OrderedDict(items)


# ---------------------------------------------------------------------------
# cocoop.

def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for k, e in header.items():
        if k == "__metadata__":
            continue
        assert e["dtype"] == "F32", (k, e["dtype"])
        b, end = e["data_offsets"]
        out[k] = np.frombuffer(data[b:end], dtype="<f4").reshape(e["shape"])
    return out


def run(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    return r.returncode, r.stdout, r.stderr


def tokenize(cocoop, texts, truncate=False):
    rc, out, err = run([cocoop, "tokenize"] + (["--truncate"] if truncate else []) + ["--"] + list(texts))
    if rc != 0:
        raise SystemExit(f"cocoop tokenize failed (rc {rc}): {err}")
    lines = out.splitlines()
    assert len(lines) == len(texts), (len(lines), len(texts))
    rows = []
    for line in lines:
        row = json.loads(line)
        assert isinstance(row, list) and len(row) == 77 and all(isinstance(i, int) for i in row), line
        rows.append(row)
    return rows


def rel_err(got, ref):
    if got.shape != ref.shape:
        return float("inf")
    return float(np.max(np.abs(got - ref)) / max(np.max(np.abs(ref)), 1e-30))


def check_tokenizer(cocoop):
    golden = json.load(open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "clip", "testdata", "tokenizer_golden.json")))
    pick = golden[:: max(1, len(golden) // 8)] + [g for g in golden if len(g["ids"]) > 75]
    rows = tokenize(cocoop, [g["text"] for g in pick], truncate=True)
    for g in pick:  # without --truncate, texts over 75 tokens must be refused
        rc, _, _ = run([cocoop, "tokenize", "--", g["text"]])
        if (rc != 0) != (len(g["ids"]) > 75):
            print(f"tokenize: rc {rc} for {g['text'][:40]!r} ({len(g['ids'])} tokens)")
            return False
    bad = [g["text"] for g, r in zip(pick, rows) if r != g["tokens77"]]
    held = {g["text"] for g in golden}
    assert not any(t in held for t in TEXTS), "TEXTS must be held out of the golden file"
    print(f"tokenize: {len(pick)} golden strings via the CLI, {len(bad)} mismatches"
          + (f": {bad}" if bad else ""))
    return not bad


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cocoop", default="/tmp/cocoop")
    ap.add_argument("--keep", help="write the files here and keep them")
    ap.add_argument("--configs", type=int, default=len(CONFIGS))
    args = ap.parse_args()
    if not os.path.exists(args.cocoop):
        print(f"building {args.cocoop}")
        subprocess.run(["go", "build", "-o", args.cocoop, "./cmd/cocoop"], cwd=ROOT, check=True)
    torch.set_num_threads(1)

    ok = check_tokenizer(args.cocoop)
    ids = tokenize(args.cocoop, TEXTS)
    work = args.keep or tempfile.mkdtemp(prefix="check_encode_")
    os.makedirs(work, exist_ok=True)
    images = write_images(work)
    rows = []
    try:
        for c in CONFIGS[: args.configs]:
            print(f"config {c['name']}")
            d = os.path.join(work, c["name"])
            os.makedirs(d, exist_ok=True)
            model = build(c)
            x = torch.stack([preprocess(p, c["res"]) for p in images])
            t = torch.tensor(ids, dtype=torch.long)
            refs = {}
            with torch.no_grad():  # how far the fp16 round trip moves the features
                r32, r16 = model.encode_image(x), converted(model)[1].encode_image(x)
            print(f"  fp16 round trip moves image features by {rel_err(r16.numpy(), r32.numpy()):.1e} "
                  f"(relative), so the {TOL:g} check tells the dtypes apart")
            for label, path, ref_model, main_case in save_all(c, model, d):
                key = id(ref_model)
                if key not in refs:
                    with torch.no_grad():
                        refs[key] = (ref_model.encode_image(x).numpy(), ref_model.encode_text(t).numpy())
                ri, rt = refs[key]
                out = os.path.join(d, "out.safetensors")
                if os.path.exists(out):
                    os.remove(out)
                cmd = [args.cocoop, "encode", "--weights", path, "--out", out]
                for p in images:
                    cmd += ["--image", p]
                for s in TEXTS:
                    cmd += ["--text", s]
                rc, so, se = run(cmd)
                if rc != 0:
                    rows.append((c["name"], label, main_case, None, None, se.strip().splitlines()[-1][:160]))
                    continue
                got = read_safetensors(out)
                ei = rel_err(got["image_embeds"], ri)
                et = rel_err(got["text_embeds"], rt)
                note = ""
                if ei > TOL and got["image_embeds"].shape == ri.shape:
                    per = [rel_err(got["image_embeds"][i], ri[i]) for i in range(len(images))]
                    note = "per image " + " ".join(f"{os.path.basename(p)}={e:.1e}" for p, e in zip(images, per))
                rows.append((c["name"], label, main_case, ei, et, note))
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)

    print()
    print(f"{'config':26} {'format':30} {'image rel':>10} {'text rel':>10}  result")
    for name, label, main_case, ei, et, note in rows:
        if ei is None:
            res = "FAIL"
            print(f"{name:26} {label:30} {'error':>10} {'':>10}  {res}  {note}")
            ok = False
            continue
        res = "PASS" if ei <= TOL and et <= TOL else "FAIL"
        ok &= res == "PASS"
        print(f"{name:26} {label:30} {ei:10.2e} {et:10.2e}  {res}{'' if main_case else '  (edge)'}"
              + (f"  {note}" if note else ""))
    print("\nALL PASS" if ok else "\nSOME FAILED")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
