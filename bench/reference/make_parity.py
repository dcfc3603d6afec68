#!/usr/bin/env python3
"""Write the CLIP parity fixtures used by clip/parity_test.go.

    /usr/bin/python3 bench/reference/make_parity.py [outdir]

outdir defaults to clip/testdata/parity. Both models get hash weights
(clip_ref.hash_tensor, the formula of clip/hashweights.go), so only inputs'
names and the reference outputs are stored: Go regenerates the weights and
inputs bit-exactly (checked through the checksums in the metadata).

Files (safetensors, F32, metadata "format_version" = FORMAT_VERSION):

  tiny.safetensors    TINY config (vision 128 wide, 2 layers, patch 8, res 32;
                      text 64 wide, 2 layers, context 77, vocab 49408; embed 32):
                      features, every block's output in both towers, attention
                      probabilities of every layer, logits, and the gradients of
                      fake losses w.r.t. the prompt embeddings, the text block-0
                      output and the images.
  vitb16.safetensors  ViT-B/16 shapes: image features of 2 images, text features
                      of 3 prompts, logits, gradient of a fake loss w.r.t. the
                      prompt embeddings of prompt 0 [1, 77, 512].

Metadata (all strings): format_version, generator, config (JSON), prompts
(JSON), inputs (JSON name -> [shape, scale]) and checksums (JSON name -> uint64
sum of float32 bit patterns) of every hashed tensor.
"""

import json
import os
import struct
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import clip_ref as R  # noqa: E402

FORMAT_VERSION = "1"

TINY = dict(embed_dim=32, image_resolution=32, vision_layers=2, vision_width=128, vision_patch_size=8,
            context_length=77, vocab_size=49408, transformer_width=64, transformer_heads=1,
            transformer_layers=2)
VITB16 = dict(embed_dim=512, image_resolution=224, vision_layers=12, vision_width=768, vision_patch_size=16,
              context_length=77, vocab_size=49408, transformer_width=512, transformer_heads=8,
              transformer_layers=12)

# Prompts whose token rows come from clip/testdata/tokenizer_golden.json; the
# last one contains a literal <|endoftext|>, so its EOT row is the first one.
PROMPTS = ["a photo of a Abyssinian.", "a photo of a Boeing 737-200, a type of aircraft.",
           "a photo of a <|endoftext|>"]


def write_safetensors(path, tensors, metadata):
    header, blobs, off = {}, [], 0
    for name, t in tensors.items():
        a = np.ascontiguousarray(t.detach().numpy() if torch.is_tensor(t) else t, dtype=np.float32)
        b = a.tobytes()
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    header["__metadata__"] = metadata
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def token_rows(golden_path):
    rows = {}
    with open(golden_path) as f:
        for e in json.load(f):
            rows[e["text"]] = e["tokens77"]
    return torch.tensor([rows[p] for p in PROMPTS], dtype=torch.long)


def check_attention(model):
    """Our spelled-out attention against torch's multi_head_attention_forward."""
    blk = model.transformer.resblocks[0]
    x = torch.from_numpy(R.hash_tensor("parity.check.x", (2, 77, blk.attn.in_proj_weight.shape[1]), 1, 0))
    ours, _ = blk.attn(x, causal=True)
    mask = torch.full((77, 77), float("-inf")).triu(1)
    ref, _ = torch.nn.functional.multi_head_attention_forward(
        x.transpose(0, 1), x.transpose(0, 1), x.transpose(0, 1), x.shape[-1], blk.attn.heads,
        blk.attn.in_proj_weight, blk.attn.in_proj_bias, None, None, False, 0.0,
        blk.attn.out_proj.weight, blk.attn.out_proj.bias, training=False, need_weights=False, attn_mask=mask)
    err = (ours - ref.transpose(0, 1)).abs().max().item()
    assert err < 1e-5, f"attention mismatch {err}"
    return err


def metadata(model, cfg, inputs, extra=None):
    sums = {k: str(R.hash_checksum(v.numpy())) for k, v in model.state_dict().items()}
    for name, (shape, scale) in inputs.items():
        sums[name] = str(R.hash_checksum(R.hash_tensor(name, shape, scale, 0)))
    md = {
        "format_version": FORMAT_VERSION,
        "generator": "bench/reference/make_parity.py (torch %s, float32, CPU)" % torch.__version__,
        "config": json.dumps(cfg, sort_keys=True),
        "prompts": json.dumps(PROMPTS),
        "inputs": json.dumps({k: [list(s), float(sc)] for k, (s, sc) in inputs.items()}),
        "checksums": json.dumps(sums, sort_keys=True),
    }
    md.update(extra or {})
    return md


def make_tiny(outdir, ids):
    t0 = time.time()
    model = R.build_hash_model(**TINY)
    attn_err = check_attention(model)
    r = TINY["image_resolution"]
    inputs = {"parity.tiny.images": ((2, 3, r, r), 1.0),
              "parity.tiny.loss_w.text": ((3, TINY["embed_dim"]), 1.0),
              "parity.tiny.loss_w.image": ((2, TINY["embed_dim"]), 1.0)}
    inp = {k: torch.from_numpy(R.hash_tensor(k, s, sc, 0)) for k, (s, sc) in inputs.items()}

    out = {}
    images = inp["parity.tiny.images"].clone().requires_grad_(True)
    itr = R.new_trace()
    img = model.encode_image(images, itr)
    (img * inp["parity.tiny.loss_w.image"]).sum().backward()
    out["image.features"] = img
    out["grad.images"] = images.grad
    for i, (b, a) in enumerate(zip(itr["blocks"], itr["attn"])):
        out[f"image.blocks.{i}"] = b
        out[f"image.attn.{i}"] = a

    prompts = model.token_embeddings(ids).detach().clone().requires_grad_(True)
    ttr = R.new_trace()
    txt = model.encode_text_embeddings(prompts, ids, ttr)
    ttr["blocks"][0].retain_grad()
    (txt * inp["parity.tiny.loss_w.text"]).sum().backward()
    out["text.ids"] = ids.float()
    out["text.features"] = txt
    out["grad.prompts"] = prompts.grad
    out["grad.text.blocks.0"] = ttr["blocks"][0].grad
    for i, (b, a) in enumerate(zip(ttr["blocks"], ttr["attn"])):
        out[f"text.blocks.{i}"] = b
        out[f"text.attn.{i}"] = a
    with torch.no_grad():
        out["text.features.plain"] = model.encode_text(ids)  # EncodeText path, no grad
        out["logits"] = model.logits_per_image(img, txt)
    write_safetensors(os.path.join(outdir, "tiny.safetensors"), out,
                      metadata(model, TINY, inputs, {"attention_check_max_abs": repr(attn_err)}))
    print("tiny: %.1fs, attention check %.2e" % (time.time() - t0, attn_err))


def make_vitb16(outdir, ids):
    t0 = time.time()
    model = R.build_hash_model(**VITB16)
    t1 = time.time()
    inputs = {"parity.full.images": ((2, 3, 224, 224), 1.0),
              "parity.full.loss_w.text": ((1, 512), 1.0)}
    inp = {k: torch.from_numpy(R.hash_tensor(k, s, sc, 0)) for k, (s, sc) in inputs.items()}
    out = {}
    with torch.no_grad():
        img = model.encode_image(inp["parity.full.images"])
        txt = model.encode_text(ids)
        out["image.features"] = img
        out["text.features"] = txt
        out["logits"] = model.logits_per_image(img, txt)
    t2 = time.time()
    prompts = model.token_embeddings(ids[:1]).detach().clone().requires_grad_(True)
    feat = model.encode_text_embeddings(prompts, ids[:1])
    (feat * inp["parity.full.loss_w.text"]).sum().backward()
    out["text.ids"] = ids.float()
    out["grad.prompts"] = prompts.grad
    write_safetensors(os.path.join(outdir, "vitb16.safetensors"), out, metadata(model, VITB16, inputs))
    print("vitb16: weights %.1fs, forward %.1fs, prompt gradient %.1fs" % (t1 - t0, t2 - t1, time.time() - t2))


def main():
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    outdir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "clip", "testdata", "parity")
    os.makedirs(outdir, exist_ok=True)
    ids = token_rows(os.path.join(root, "clip", "testdata", "tokenizer_golden.json"))
    make_tiny(outdir, ids)
    make_vitb16(outdir, ids)


if __name__ == "__main__":
    main()
