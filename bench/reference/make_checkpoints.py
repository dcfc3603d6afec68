#!/usr/bin/env python3
"""Write the tiny CLIP-shaped checkpoint fixtures used by clip/ckpt tests.

Run with Debian's python (PyTorch 1.13, CPU):

    /usr/bin/python3 bench/reference/make_checkpoints.py [outdir]
    /usr/bin/python3 bench/reference/make_checkpoints.py --vit-b-16 outdir

outdir defaults to clip/ckpt/testdata. --vit-b-16 instead writes random
full-size ViT-B/16 checkpoints (vitb16_{openai.safetensors,state_dict.pt,
torchscript.pt}, about 335 MiB each) for load benchmarks; they are not
fixtures. The model mirrors openai/CLIP's
clip/model.py attribute structure (VisionTransformer, Transformer of
ResidualAttentionBlocks with torch.nn.MultiheadAttention and LayerNorm, the
joint head) at a tiny size, with a seeded generator so the files are
reproducible. It writes:

  tiny_openai.safetensors     OpenAI names, release dtypes (F16/F32 + I64 buffers)
  tiny_hf.safetensors         Hugging Face CLIPModel names, F32, legacy position_ids (I64)
  tiny_state_dict.pt          torch.save(state_dict) zip, mixed fp16/fp32 + int64 buffers
  tiny_torchscript.pt         torch.jit.trace + convert_weights + torch.jit.save
  tiny_expected.safetensors   F32 values every loader must produce (buffers dropped)
  tiny_dtypes.pt              torch.save of F64/BF16/F16/I64/I32/... and strided views
  tiny_dtypes.safetensors     the same tensors (contiguous) in safetensors
  tiny_dtypes_expected.safetensors  their F32 values
  tiny_wrapped.pt             {'state_dict': {'module.*': ...}, 'epoch': 3} wrapper
  tiny_scripted.pt            torch.jit.script of the converted model: its data.pkl
                              also holds the plain tensor attribute attn_mask
                              (not in state_dict); code entries deflated, no
                              .debug_pkl, to stay small
  tiny_hf_f16.bin             torch.save of the Hugging Face names in F16
                              (a pytorch_model.bin), F16 to stay small

The safetensors files are written by write_safetensors below (the
`safetensors` package is not needed).
"""

import collections
import json
import math
import os
import struct
import sys

import torch
import torch.nn as nn

# Tiny CLIP hyper-parameters (ViT-B/16 is 768/12/16/224, text 512/12/77/49408).
EMBED_DIM = 32
IMAGE_RESOLUTION = 32
VISION_LAYERS = 2
VISION_WIDTH = 32
VISION_PATCH = 8  # (32/8)^2 + 1 = 17 tokens
CONTEXT_LENGTH = 16
VOCAB_SIZE = 64
TEXT_WIDTH = 32
TEXT_HEADS = 2
TEXT_LAYERS = 2


class QuickGELU(nn.Module):
    def forward(self, x):
        return x * torch.sigmoid(1.702 * x)


class ResidualAttentionBlock(nn.Module):
    def __init__(self, d_model, n_head, attn_mask=None):
        super().__init__()
        self.attn = nn.MultiheadAttention(d_model, n_head)
        self.ln_1 = nn.LayerNorm(d_model)
        self.mlp = nn.Sequential(collections.OrderedDict([
            ("c_fc", nn.Linear(d_model, d_model * 4)),
            ("gelu", QuickGELU()),
            ("c_proj", nn.Linear(d_model * 4, d_model)),
        ]))
        self.ln_2 = nn.LayerNorm(d_model)
        self.attn_mask = attn_mask  # plain attribute, as in clip/model.py

    def attention(self, x):
        mask = self.attn_mask
        if mask is not None:
            mask = mask.to(dtype=x.dtype, device=x.device)
        return self.attn(x, x, x, need_weights=False, attn_mask=mask)[0]

    def forward(self, x):
        x = x + self.attention(self.ln_1(x))
        x = x + self.mlp(self.ln_2(x))
        return x


class Transformer(nn.Module):
    def __init__(self, width, layers, heads, attn_mask=None):
        super().__init__()
        self.width = width
        self.layers = layers
        self.resblocks = nn.Sequential(
            *[ResidualAttentionBlock(width, heads, attn_mask) for _ in range(layers)])

    def forward(self, x):
        return self.resblocks(x)


class VisionTransformer(nn.Module):
    def __init__(self, input_resolution, patch_size, width, layers, heads, output_dim):
        super().__init__()
        self.input_resolution = input_resolution
        self.output_dim = output_dim
        self.conv1 = nn.Conv2d(3, width, kernel_size=patch_size, stride=patch_size, bias=False)
        scale = width ** -0.5
        self.class_embedding = nn.Parameter(scale * torch.randn(width))
        self.positional_embedding = nn.Parameter(
            scale * torch.randn((input_resolution // patch_size) ** 2 + 1, width))
        self.ln_pre = nn.LayerNorm(width)
        self.transformer = Transformer(width, layers, heads)
        self.ln_post = nn.LayerNorm(width)
        self.proj = nn.Parameter(scale * torch.randn(width, output_dim))

    def forward(self, x):
        x = self.conv1(x)  # shape = [*, width, grid, grid]
        x = x.reshape(x.shape[0], x.shape[1], -1)  # shape = [*, width, grid ** 2]
        x = x.permute(0, 2, 1)  # shape = [*, grid ** 2, width]
        cls = self.class_embedding.to(x.dtype) + torch.zeros(
            x.shape[0], 1, x.shape[-1], dtype=x.dtype, device=x.device)
        x = torch.cat([cls, x], dim=1)  # shape = [*, grid ** 2 + 1, width]
        x = x + self.positional_embedding.to(x.dtype)
        x = self.ln_pre(x)
        x = x.permute(1, 0, 2)  # NLD -> LND
        x = self.transformer(x)
        x = x.permute(1, 0, 2)  # LND -> NLD
        x = self.ln_post(x[:, 0, :])
        return x @ self.proj


class CLIP(nn.Module):
    def __init__(self):
        super().__init__()
        self.context_length = CONTEXT_LENGTH
        self.visual = VisionTransformer(IMAGE_RESOLUTION, VISION_PATCH, VISION_WIDTH,
                                        VISION_LAYERS, VISION_WIDTH // 16, EMBED_DIM)
        self.transformer = Transformer(TEXT_WIDTH, TEXT_LAYERS, TEXT_HEADS,
                                       attn_mask=self.build_attention_mask())
        self.vocab_size = VOCAB_SIZE
        self.token_embedding = nn.Embedding(VOCAB_SIZE, TEXT_WIDTH)
        self.positional_embedding = nn.Parameter(torch.empty(CONTEXT_LENGTH, TEXT_WIDTH))
        self.ln_final = nn.LayerNorm(TEXT_WIDTH)
        self.text_projection = nn.Parameter(torch.empty(TEXT_WIDTH, EMBED_DIM))
        self.logit_scale = nn.Parameter(torch.ones([]) * math.log(1 / 0.07))
        # The release's TorchScript archives carry these as int64 buffers.
        self.register_buffer("input_resolution", torch.tensor(IMAGE_RESOLUTION))
        self.register_buffer("context_length_buf", torch.tensor(CONTEXT_LENGTH))
        self.register_buffer("vocab_size_buf", torch.tensor(VOCAB_SIZE))

    def build_attention_mask(self):
        mask = torch.empty(CONTEXT_LENGTH, CONTEXT_LENGTH)
        mask.fill_(float("-inf"))
        mask.triu_(1)
        return mask

    def encode_image(self, image):
        return self.visual(image)

    def encode_text(self, text):
        x = self.token_embedding(text)  # [batch, n_ctx, d_model]
        x = x + self.positional_embedding
        x = x.permute(1, 0, 2)  # NLD -> LND
        x = self.transformer(x)
        x = x.permute(1, 0, 2)  # LND -> NLD
        x = self.ln_final(x)
        x = x[torch.arange(x.shape[0]), text.argmax(dim=-1)] @ self.text_projection
        return x

    def forward(self, image, text):
        img = self.encode_image(image)
        txt = self.encode_text(text)
        img = img / img.norm(p=2.0, dim=1, keepdim=True)  # p given: torch.jit.script needs it
        txt = txt / txt.norm(p=2.0, dim=1, keepdim=True)
        return self.logit_scale.exp() * img @ txt.t()


def build_model():
    """A tiny CLIP with every parameter (LayerNorms included) random."""
    torch.manual_seed(20240917)
    model = CLIP()
    # Rename the buffers to the release's names (nn.Module attributes
    # context_length/vocab_size are plain ints in clip/model.py).
    for new, old in (("context_length", "context_length_buf"), ("vocab_size", "vocab_size_buf")):
        buf = model._buffers.pop(old)
        del model.__dict__[new]
        model._buffers[new] = buf
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape) * 0.5)
    return model


def convert_weights(model):
    """clip/model.py convert_weights: fp16 for conv/linear/attention and projections."""

    def _convert(l):
        if isinstance(l, (nn.Conv1d, nn.Conv2d, nn.Linear)):
            l.weight.data = l.weight.data.half()
            if l.bias is not None:
                l.bias.data = l.bias.data.half()
        if isinstance(l, nn.MultiheadAttention):
            for attr in [*[f"{s}_proj_weight" for s in ["in", "q", "k", "v"]],
                         "in_proj_bias", "bias_k", "bias_v"]:
                tensor = getattr(l, attr)
                if tensor is not None:
                    tensor.data = tensor.data.half()
        for name in ["text_projection", "proj"]:
            if hasattr(l, name):
                attr = getattr(l, name)
                if attr is not None:
                    attr.data = attr.data.half()

    model.apply(_convert)


_ST_DTYPES = {
    torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
    torch.float64: "F64", torch.int64: "I64", torch.int32: "I32",
    torch.int16: "I16", torch.int8: "I8", torch.uint8: "U8", torch.bool: "BOOL",
}


def tensor_bytes(t):
    t = t.detach().contiguous().cpu()
    if t.dtype == torch.bfloat16:
        t = t.view(torch.int16)
    b = t.numpy().tobytes()
    assert sys.byteorder == "little"
    return b


def write_safetensors(path, items, metadata=None):
    """Minimal safetensors writer: u64 LE header size, JSON header, data."""
    header = {}
    if metadata:
        header["__metadata__"] = metadata
    blobs = []
    off = 0
    for name, t in items:
        b = tensor_bytes(t)
        header[name] = {"dtype": _ST_DTYPES[t.dtype], "shape": list(t.shape),
                        "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - (8 + len(h)) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


BUFFERS = ("input_resolution", "context_length", "vocab_size")


def hf_items(sd):
    """The OpenAI state dict under Hugging Face CLIPModel names (fp32)."""
    out = []

    def layer(prefix, src, width, i):
        p = f"{src}.transformer.resblocks.{i}." if src else f"transformer.resblocks.{i}."
        q = f"{prefix}.encoder.layers.{i}."
        w = sd[p + "attn.in_proj_weight"].float()
        b = sd[p + "attn.in_proj_bias"].float()
        for j, name in enumerate(["q_proj", "k_proj", "v_proj"]):
            out.append((q + f"self_attn.{name}.weight", w[j * width:(j + 1) * width]))
            out.append((q + f"self_attn.{name}.bias", b[j * width:(j + 1) * width]))
        for hf, oa in [("self_attn.out_proj", "attn.out_proj"), ("layer_norm1", "ln_1"),
                       ("mlp.fc1", "mlp.c_fc"), ("mlp.fc2", "mlp.c_proj"), ("layer_norm2", "ln_2")]:
            for s in ("weight", "bias"):
                out.append((q + f"{hf}.{s}", sd[p + f"{oa}.{s}"].float()))

    out.append(("text_model.embeddings.token_embedding.weight", sd["token_embedding.weight"]))
    out.append(("text_model.embeddings.position_embedding.weight", sd["positional_embedding"]))
    out.append(("text_model.embeddings.position_ids", torch.arange(CONTEXT_LENGTH).unsqueeze(0)))
    for i in range(TEXT_LAYERS):
        layer("text_model", "", TEXT_WIDTH, i)
    for s in ("weight", "bias"):
        out.append((f"text_model.final_layer_norm.{s}", sd[f"ln_final.{s}"]))
    out.append(("vision_model.embeddings.class_embedding", sd["visual.class_embedding"]))
    out.append(("vision_model.embeddings.patch_embedding.weight", sd["visual.conv1.weight"]))
    out.append(("vision_model.embeddings.position_embedding.weight", sd["visual.positional_embedding"]))
    n_pos = (IMAGE_RESOLUTION // VISION_PATCH) ** 2 + 1
    out.append(("vision_model.embeddings.position_ids", torch.arange(n_pos).unsqueeze(0)))
    for s in ("weight", "bias"):
        out.append((f"vision_model.pre_layrnorm.{s}", sd[f"visual.ln_pre.{s}"]))
    for i in range(VISION_LAYERS):
        layer("vision_model", "visual", VISION_WIDTH, i)
    for s in ("weight", "bias"):
        out.append((f"vision_model.post_layernorm.{s}", sd[f"visual.ln_post.{s}"]))
    out.append(("visual_projection.weight", sd["visual.proj"].float().t()))
    out.append(("text_projection.weight", sd["text_projection"].float().t()))
    out.append(("logit_scale", sd["logit_scale"]))
    return [(k, v.float() if v.dtype != torch.int64 else v) for k, v in out]


def dtype_tensors():
    """Small tensors covering every storage type and strided views."""
    g = torch.Generator().manual_seed(7)
    base = torch.arange(24, dtype=torch.float32).reshape(4, 6) * 0.25 - 1.0
    half_special = torch.tensor(
        [0.0, -0.0, 1.0, -2.5, 65504.0, 6.1035156e-05, 5.9604645e-08, 3.0e-06,
         float("inf"), float("-inf"), float("nan")], dtype=torch.float16)
    d = collections.OrderedDict()
    d["f32"] = torch.randn(3, 5, generator=g)
    d["f64"] = torch.randn(2, 3, generator=g, dtype=torch.float64) * 1e3
    d["f16"] = half_special
    d["bf16"] = torch.randn(7, generator=g).to(torch.bfloat16)
    d["i64"] = torch.tensor([0, -1, 2 ** 40 + 1, -(2 ** 62), 123456789], dtype=torch.int64)
    d["i32"] = torch.tensor([[1, -2], [2 ** 31 - 1, -(2 ** 31)]], dtype=torch.int32)
    d["i16"] = torch.tensor([-32768, 5, 32767], dtype=torch.int16)
    d["i8"] = torch.tensor([-128, 0, 127], dtype=torch.int8)
    d["u8"] = torch.tensor([0, 200, 255], dtype=torch.uint8)
    d["bool"] = torch.tensor([True, False, True])
    d["scalar"] = torch.tensor(3.5)
    d["empty"] = torch.zeros(0, 4)
    d["base"] = base
    d["slice"] = base[1:, ::2]        # storage offset 6, strides (6, 2)
    d["transposed"] = base.t()        # strides (1, 6)
    d["row"] = base[2]                # offset 12, shares base's storage
    return d


def set_vit_b_16():
    """Switch the hyper-parameters to the real ViT-B/16 (docs/clip.md §2.1)."""
    global EMBED_DIM, IMAGE_RESOLUTION, VISION_LAYERS, VISION_WIDTH, VISION_PATCH
    global CONTEXT_LENGTH, VOCAB_SIZE, TEXT_WIDTH, TEXT_HEADS, TEXT_LAYERS
    EMBED_DIM, IMAGE_RESOLUTION, VISION_LAYERS, VISION_WIDTH, VISION_PATCH = 512, 224, 12, 768, 16
    CONTEXT_LENGTH, VOCAB_SIZE, TEXT_WIDTH, TEXT_HEADS, TEXT_LAYERS = 77, 49408, 512, 8, 12


def main_vit_b_16(outdir):
    set_vit_b_16()
    os.makedirs(outdir, exist_ok=True)
    out = lambda name: os.path.join(outdir, name)
    model = build_model().eval()
    image = torch.randn(1, 3, IMAGE_RESOLUTION, IMAGE_RESOLUTION)
    text = torch.randint(1, VOCAB_SIZE, (1, CONTEXT_LENGTH))
    with torch.no_grad():
        traced = torch.jit.trace(model, (image, text))
    convert_weights(model)
    sd = model.state_dict()
    jparams = dict(traced.named_parameters())
    for k, v in sd.items():
        if v.dtype == torch.float16:
            jparams[k].data = jparams[k].data.half()
    assert len(sd) == 305, len(sd)
    write_safetensors(out("vitb16_openai.safetensors"), list(sd.items()))
    torch.save(sd, out("vitb16_state_dict.pt"))
    torch.jit.save(traced, out("vitb16_torchscript.pt"))
    for name in sorted(os.listdir(outdir)):
        print(f"{os.path.getsize(out(name)):11d}  {name}")


def write_extra(outdir):
    """tiny_scripted.pt and tiny_hf_f16.bin (see the module docstring)."""
    import zipfile
    out = lambda name: os.path.join(outdir, name)  # noqa: E731
    model = build_model().eval()
    convert_weights(model)
    sd = model.state_dict()
    tmp = out("tiny_scripted.tmp")
    torch.jit.save(torch.jit.script(model), tmp)
    with zipfile.ZipFile(tmp) as zin, zipfile.ZipFile(out("tiny_scripted.pt"), "w") as zout:
        for info in zin.infolist():
            if info.filename.endswith(".debug_pkl"):
                continue
            code = "/code/" in info.filename
            zout.writestr(info, zin.read(info),
                          compress_type=zipfile.ZIP_DEFLATED if code else zipfile.ZIP_STORED)
    os.remove(tmp)
    back = torch.jit.load(out("tiny_scripted.pt"))
    for k, v in back.state_dict().items():
        assert v.dtype == sd[k].dtype and torch.equal(v, sd[k]), k
    assert list(back.state_dict()) == list(sd)
    torch.save(collections.OrderedDict(
        (k, v.half() if v.is_floating_point() else v) for k, v in hf_items(sd)), out("tiny_hf_f16.bin"))


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--extra":
        write_extra(sys.argv[2] if len(sys.argv) > 2 else os.path.join(
            os.path.dirname(os.path.abspath(__file__)), "..", "..", "clip", "ckpt", "testdata"))
        return
    if len(sys.argv) > 1 and sys.argv[1] == "--vit-b-16":
        if len(sys.argv) != 3:
            sys.exit("usage: make_checkpoints.py --vit-b-16 outdir")
        main_vit_b_16(sys.argv[2])
        return
    outdir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "..", "clip", "ckpt", "testdata")
    os.makedirs(outdir, exist_ok=True)
    out = lambda name: os.path.join(outdir, name)

    model = build_model().eval()
    image = torch.randn(1, 3, IMAGE_RESOLUTION, IMAGE_RESOLUTION, generator=torch.Generator().manual_seed(1))
    text = torch.randint(1, VOCAB_SIZE, (1, CONTEXT_LENGTH), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        traced = torch.jit.trace(model, (image, text))
    convert_weights(model)
    sd = model.state_dict()
    # The traced copy's submodules are ScriptModules (not nn.Linear), so
    # convert them by name to the dtypes convert_weights chose.
    jparams = dict(traced.named_parameters())
    for k, v in sd.items():
        if v.dtype == torch.float16:
            jparams[k].data = jparams[k].data.half()

    jsd = traced.state_dict()
    assert list(jsd) == list(sd), "traced state_dict order differs"
    for k in sd:
        assert jsd[k].dtype == sd[k].dtype and torch.equal(jsd[k], sd[k]), k

    expected = [(k, v.float()) for k, v in sd.items() if k not in BUFFERS]
    write_safetensors(out("tiny_expected.safetensors"), expected,
                      {"format": "gocoop-ckpt-expected", "source": "make_checkpoints.py"})
    write_safetensors(out("tiny_openai.safetensors"), list(sd.items()), {"format": "pt"})
    write_safetensors(out("tiny_hf.safetensors"), hf_items(sd), {"format": "pt"})
    torch.save(sd, out("tiny_state_dict.pt"))
    torch.jit.save(traced, out("tiny_torchscript.pt"))

    # Round-trip checks against torch's own readers.
    back = torch.load(out("tiny_state_dict.pt"))
    assert list(back) == list(sd)
    jit = torch.jit.load(out("tiny_torchscript.pt"))
    for k, v in jit.state_dict().items():
        assert v.dtype == sd[k].dtype and torch.equal(v, sd[k]), k

    dt = dtype_tensors()
    torch.save(dt, out("tiny_dtypes.pt"))
    write_safetensors(out("tiny_dtypes.safetensors"), list(dt.items()))
    write_safetensors(out("tiny_dtypes_expected.safetensors"),
                      [(k, v.float()) for k, v in dt.items()])

    write_extra(outdir)

    g = torch.Generator().manual_seed(3)
    inner = collections.OrderedDict(
        (f"module.{k}", torch.randn(s, generator=g))
        for k, s in [("visual.proj", (4, 2)), ("logit_scale", ()), ("ln_final.weight", (4,))])
    torch.save({"epoch": 3, "state_dict": inner, "optimizer": {"lr": 1e-3, "step": 10}},
               out("tiny_wrapped.pt"))

    total = 0
    for name in sorted(os.listdir(outdir)):
        size = os.path.getsize(out(name))
        total += size
        print(f"{size:9d}  {name}")
    print(f"{total:9d}  total")


if __name__ == "__main__":
    main()
