#!/usr/bin/env python3
"""PyTorch reference of CLIP ViT (image and text towers) for GoCoOp parity.

Written from the paper (Radford et al. 2021) and docs/clip.md §1–§2,
not copied from openai/CLIP: the attention is spelled out (no
torch.nn.MultiheadAttention) so that every intermediate is visible, while the
parameter names and layouts are those of the released state dicts
(``visual.transformer.resblocks.3.attn.in_proj_weight`` ...).

Everything runs in float32 on the CPU (docs/clip.md §1.5: clip.load(device="cpu")).
Use Debian's python, which has torch 1.13:  /usr/bin/python3

The module also holds the hash-weight formula shared with Go
(clip/hashweights.go): hash_tensor(name, shape) reproduces Go's HashTensor
bit for bit with NumPy uint64 arithmetic.
"""

import math
from collections import OrderedDict

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

# ---------------------------------------------------------------------------
# Hash weights (see clip/hashweights.go for the formula).

FNV_OFFSET = 0xCBF29CE484222325
FNV_PRIME = 0x100000001B3
MASK64 = (1 << 64) - 1
GAMMA = np.uint64(0x9E3779B97F4A7C15)
MIX1 = np.uint64(0xBF58476D1CE4E5B9)
MIX2 = np.uint64(0x94D049BB133111EB)
HASH_LOGIT_SCALE = np.float32(4.6051702)  # float32(ln 100)


def fnv1a64(s):
    h = FNV_OFFSET
    for b in s.encode("utf-8"):
        h = ((h ^ b) * FNV_PRIME) & MASK64
    return h


def hash_uniform(name, start, stop):
    """u for elements [start, stop) of tensor `name`: float32 in [-1, 1)."""
    h = np.uint64(fnv1a64(name))
    z = np.arange(start + 1, stop + 1, dtype=np.uint64)
    z *= GAMMA
    z += h
    z ^= z >> np.uint64(30)
    z *= MIX1
    z ^= z >> np.uint64(27)
    z *= MIX2
    z ^= z >> np.uint64(31)
    u = (z >> np.uint64(40)).astype(np.int32)
    u -= np.int32(1 << 23)
    return u.astype(np.float32) * np.float32(1.0 / (1 << 23))


def hash_init(name, shape):
    """(scale, offset) of a CLIP state-dict entry; mirrors Go's HashInit."""
    parts = name.split(".")
    last = parts[-1]
    parent = parts[-2] if len(parts) > 1 else ""
    fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else 1

    def inv_sqrt(n):
        return np.float32(1.0 / math.sqrt(n))

    if name == "logit_scale":
        return np.float32(0), HASH_LOGIT_SCALE
    if parent.startswith("ln_") and last == "weight":
        return np.float32(0.1), np.float32(1)
    if parent.startswith("ln_") and last == "bias":
        return np.float32(0.1), np.float32(0)
    if name == "token_embedding.weight":
        return np.float32(0.02), np.float32(0)
    if name == "positional_embedding":
        return np.float32(0.01), np.float32(0)
    if last in ("class_embedding", "positional_embedding"):
        return inv_sqrt(shape[-1]), np.float32(0)
    if last in ("proj", "text_projection"):
        return inv_sqrt(shape[0]), np.float32(0)
    if last.endswith("bias"):
        return np.float32(0.02), np.float32(0)
    if last.endswith("weight"):
        return inv_sqrt(fan_in), np.float32(0)
    return np.float32(1), np.float32(0)


def hash_tensor(name, shape, scale=None, offset=None, chunk=1 << 22):
    """NumPy float32 array of `shape` filled by the hash formula."""
    if scale is None:
        scale, offset = hash_init(name, shape)
    n = int(np.prod(shape)) if len(shape) else 1
    out = np.empty(n, dtype=np.float32)
    for lo in range(0, n, chunk):
        hi = min(n, lo + chunk)
        v = hash_uniform(name, lo, hi) * np.float32(scale)  # one float32 product
        out[lo:hi] = v + np.float32(offset)
    return out.reshape(shape)


def hash_checksum(a):
    """Sum of float32 bit patterns as uint64 (Go: HashChecksum)."""
    return int(np.ascontiguousarray(a, dtype=np.float32).view(np.uint32).astype(np.uint64).sum())


def hash_state_dict(model):
    """Hash weights for every parameter of `model`, by state-dict name."""
    return OrderedDict(
        (k, torch.from_numpy(hash_tensor(k, tuple(v.shape)))) for k, v in model.state_dict().items()
    )


# ---------------------------------------------------------------------------
# Model.


class Attention(nn.Module):
    """Multi-head self-attention with a packed q|k|v input projection."""

    def __init__(self, width, heads):
        super().__init__()
        self.heads = heads
        self.in_proj_weight = nn.Parameter(torch.empty(3 * width, width))
        self.in_proj_bias = nn.Parameter(torch.empty(3 * width))
        self.out_proj = nn.Linear(width, width)

    def forward(self, x, causal):  # x: [N, L, D]
        n, l, d = x.shape
        hd = d // self.heads
        qkv = x @ self.in_proj_weight.t() + self.in_proj_bias  # [N, L, 3D]
        q, k, v = qkv.split(d, dim=-1)
        q = q.reshape(n, l, self.heads, hd).transpose(1, 2)  # [N, H, L, hd]
        k = k.reshape(n, l, self.heads, hd).transpose(1, 2)
        v = v.reshape(n, l, self.heads, hd).transpose(1, 2)
        scores = (q * hd ** -0.5) @ k.transpose(-2, -1)  # [N, H, L, L]
        if causal:
            mask = torch.full((l, l), float("-inf")).triu(1)  # -inf where key j > query i
            scores = scores + mask
        probs = scores.softmax(dim=-1)
        o = (probs @ v).transpose(1, 2).reshape(n, l, d)  # [N, H, L, hd] -> [N, L, D]
        return self.out_proj(o), probs


class QuickGELU(nn.Module):
    def forward(self, x):
        return x * torch.sigmoid(1.702 * x)


class Block(nn.Module):
    """Pre-LN residual block: x + attn(ln_1(x)), then x + mlp(ln_2(x))."""

    def __init__(self, width, heads, causal):
        super().__init__()
        self.causal = causal
        self.attn = Attention(width, heads)
        self.ln_1 = nn.LayerNorm(width, eps=1e-5)
        self.mlp = nn.Sequential(OrderedDict([
            ("c_fc", nn.Linear(width, 4 * width)),
            ("gelu", QuickGELU()),
            ("c_proj", nn.Linear(4 * width, width)),
        ]))
        self.ln_2 = nn.LayerNorm(width, eps=1e-5)

    def forward(self, x):
        a, probs = self.attn(self.ln_1(x), self.causal)
        x = x + a
        x = x + self.mlp(self.ln_2(x))
        return x, probs


class Transformer(nn.Module):
    def __init__(self, width, layers, heads, causal):
        super().__init__()
        self.resblocks = nn.ModuleList([Block(width, heads, causal) for _ in range(layers)])

    def forward(self, x, trace=None):
        for blk in self.resblocks:
            x, probs = blk(x)
            if trace is not None:
                trace["blocks"].append(x)
                trace["attn"].append(probs)
        return x


class VisionTransformer(nn.Module):
    def __init__(self, resolution, patch, width, layers, heads, embed_dim):
        super().__init__()
        grid = resolution // patch
        self.conv1 = nn.Conv2d(3, width, kernel_size=patch, stride=patch, bias=False)
        self.class_embedding = nn.Parameter(torch.empty(width))
        self.positional_embedding = nn.Parameter(torch.empty(grid * grid + 1, width))
        self.ln_pre = nn.LayerNorm(width, eps=1e-5)
        self.transformer = Transformer(width, layers, heads, causal=False)
        self.ln_post = nn.LayerNorm(width, eps=1e-5)
        self.proj = nn.Parameter(torch.empty(width, embed_dim))

    def forward(self, x, trace=None):  # x: [N, 3, R, R]
        x = self.conv1(x)  # [N, D, grid, grid]
        x = x.flatten(2).transpose(1, 2)  # [N, grid², D]
        cls = self.class_embedding.expand(x.shape[0], 1, -1)  # [N, 1, D]
        x = torch.cat([cls, x], dim=1) + self.positional_embedding  # [N, grid²+1, D]
        x = self.ln_pre(x)
        x = self.transformer(x, trace)
        x = self.ln_post(x[:, 0, :])  # [N, D]
        return x @ self.proj  # [N, E]


class CLIP(nn.Module):
    def __init__(self, embed_dim, image_resolution, vision_layers, vision_width, vision_patch_size,
                 context_length, vocab_size, transformer_width, transformer_heads, transformer_layers):
        super().__init__()
        self.visual = VisionTransformer(image_resolution, vision_patch_size, vision_width,
                                        vision_layers, vision_width // 64, embed_dim)
        self.transformer = Transformer(transformer_width, transformer_layers, transformer_heads, causal=True)
        self.token_embedding = nn.Embedding(vocab_size, transformer_width)
        self.positional_embedding = nn.Parameter(torch.empty(context_length, transformer_width))
        self.ln_final = nn.LayerNorm(transformer_width, eps=1e-5)
        self.text_projection = nn.Parameter(torch.empty(transformer_width, embed_dim))
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))

    def encode_image(self, images, trace=None):
        return self.visual(images, trace)

    def token_embeddings(self, ids):  # ids: LongTensor [N, L]
        return self.token_embedding(ids)  # [N, L, W]

    def encode_text_embeddings(self, x, ids, trace=None):
        """encode_text from prompt embeddings x [N, L, W] (CoOp's entry)."""
        x = x + self.positional_embedding[: x.shape[1]]
        x = self.transformer(x, trace)
        x = self.ln_final(x)
        eot = ids.argmax(dim=-1)  # first maximal index = EOT position
        x = x[torch.arange(x.shape[0]), eot]  # [N, W]
        return x @ self.text_projection  # [N, E]

    def encode_text(self, ids, trace=None):
        return self.encode_text_embeddings(self.token_embeddings(ids), ids, trace)

    def logits_per_image(self, img, txt):
        img = img / img.norm(dim=1, keepdim=True)
        txt = txt / txt.norm(dim=1, keepdim=True)
        return self.logit_scale.exp() * img @ txt.t()


def new_trace():
    return {"blocks": [], "attn": []}


def config_from_state_dict(sd):
    """build_model's inference of the hyper-parameters (docs/clip.md §2.2)."""
    vision_width = sd["visual.conv1.weight"].shape[0]
    vision_layers = len([k for k in sd if k.startswith("visual.") and k.endswith(".attn.in_proj_weight")])
    vision_patch_size = sd["visual.conv1.weight"].shape[-1]
    grid = round((sd["visual.positional_embedding"].shape[0] - 1) ** 0.5)
    transformer_width = sd["ln_final.weight"].shape[0]
    return dict(
        embed_dim=sd["text_projection"].shape[1],
        image_resolution=vision_patch_size * grid,
        vision_layers=vision_layers,
        vision_width=vision_width,
        vision_patch_size=vision_patch_size,
        context_length=sd["positional_embedding"].shape[0],
        vocab_size=sd["token_embedding.weight"].shape[0],
        transformer_width=transformer_width,
        transformer_heads=transformer_width // 64,
        transformer_layers=len({k.split(".")[2] for k in sd if k.startswith("transformer.resblocks")}),
    )


def build_model(sd):
    sd = {k: v for k, v in sd.items() if k not in ("input_resolution", "context_length", "vocab_size")}
    model = CLIP(**config_from_state_dict(sd))
    model.load_state_dict(sd, strict=True)
    model.float().eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def build_hash_model(**cfg):
    """A CLIP of config cfg with hash weights (no random init needed)."""
    with torch.no_grad():
        shell = CLIP(**cfg)
    return build_model(hash_state_dict(shell))
