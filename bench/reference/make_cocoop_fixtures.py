#!/usr/bin/env python3
"""Write the CoCoOp parity fixture used by cocoop/parity_test.go.

    /usr/bin/python3 bench/reference/make_cocoop_fixtures.py [outdir]

outdir defaults to cocoop/testdata. The CLIP is make_parity.py's TINY config
with hash weights (vision 128 wide, res 32; text 64 wide, 1 head, 2 layers;
embed 32, so the meta-net is Linear(32→2) → ReLU → Linear(2→64)).

Start point, identical on both sides without storing weights:
  ctx      word init "a photo of a" = token-embedding rows of [320, 1125, 539, 320]
  meta_net hash tensors (clip_ref.hash_tensor) named in metadata "init"
           with PyTorch-like scales 1/√fan_in

Files (safetensors, F32, metadata "format_version" = FORMAT_VERSION):

  cocoop_tiny.safetensors
    init.ctx                    [4, 64]   the word-init context
    image.features              [2, 32]   x̂ of the 2 hashed images
    pi                          [2, 64]   π(x̂)
    logits                      [2, n]    exp(logit_scale)·x̂·t̂ᵀ
    loss                        [1]       cross-entropy, labels in metadata
    grad.<param>                          d loss/d ctx and every meta-net weight/bias
    train.losses                [10]      per-step losses of 10 SGD steps
    train.lrs                   [10]      lr of each step
    train.<param>                         parameters after the 10 steps

Training: batch 1, images "cocoop.train.images" [10, 3, 32, 32] in order with
labels "train_labels"; SGD(momentum 0.9, weight decay 5e-4) with the CoCoOp
schedule over 5 epochs of 2 steps (max_epoch 5: 1e-5, then cosine from 0.002).

Metadata: format_version, generator, config (JSON), class_names (the Go
names; "_" becomes a space in prompts), token_rows (JSON, each row up to its
EOT), labels, train_labels, epochs, steps_per_epoch, init (JSON param ->
[hash name, shape, scale, offset]), inputs (JSON name -> [shape, scale]).
"""

import json
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import clip_ref as R  # noqa: E402
import cocoop_ref as C  # noqa: E402
from make_parity import TINY, write_safetensors  # noqa: E402

FORMAT_VERSION = "1"

# Class names as the Go side gets them; each prompt-name (underscores
# replaced) is in tokenizer_golden.json. Token lengths 3, 8, 2, 3, 1.
CLASS_NAMES = ["Abyssinian", "Boeing 737-200", "Yorkshire_Terrier", "baby_back_ribs", "X"]
INIT_IDS = [320, 1125, 539, 320]  # "a photo of a" (docs/cocoop.md §1.1)
LABELS = [1, 3]
TRAIN_LABELS = [0, 1, 2, 3, 4, 4, 3, 2, 1, 0]
EPOCHS, STEPS_PER_EPOCH = 5, 2
LR, MOMENTUM, WD = 0.002, 0.9, 5e-4


def token_rows(golden_path):
    ids = {}
    with open(golden_path) as f:
        for e in json.load(f):
            ids[e["text"]] = e["ids"]
    rows = []
    for n in CLASS_NAMES:
        r = [C.SOT] + INIT_IDS + ids[n.replace("_", " ")] + [C.DOT, C.EOT]
        rows.append(r + [0] * (77 - len(r)))
    return rows


def init_spec(vis, hidden, width):
    def sc(fan_in):
        return float(np.float32(1.0 / np.sqrt(fan_in)))
    return {
        "meta_net.linear1.weight": ["cocoop.fixture.meta_net.linear1.weight", [hidden, vis], sc(vis), 0.0],
        # offset 0.1: the hashed images' features are alike, and without it
        # the second hidden unit is dead for all of them (no linear1 gradient)
        "meta_net.linear1.bias": ["cocoop.fixture.meta_net.linear1.bias", [hidden], sc(vis), 0.1],
        "meta_net.linear2.weight": ["cocoop.fixture.meta_net.linear2.weight", [width, hidden], sc(hidden), 0.0],
        "meta_net.linear2.bias": ["cocoop.fixture.meta_net.linear2.bias", [width], sc(hidden), 0.0],
    }


def build(model, ids, ctx0, init):
    net = C.CustomCLIP(model, ids, ctx0)
    with torch.no_grad():
        sd = {k: torch.from_numpy(R.hash_tensor(h, tuple(s), np.float32(scale), np.float32(off)))
              for k, (h, s, scale, off) in init.items()}
        for k, p in net.prompt_learner.named_parameters():
            if k in sd:
                p.copy_(sd[k])
    return net


def params(net):
    return dict(net.prompt_learner.named_parameters())  # ctx, meta_net.linear1.weight, ...


def main():
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    root = os.path.dirname(os.path.dirname(HERE))
    outdir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "cocoop", "testdata")
    os.makedirs(outdir, exist_ok=True)

    model = R.build_hash_model(**TINY)
    rows = token_rows(os.path.join(root, "clip", "testdata", "tokenizer_golden.json"))
    ids = torch.tensor(rows, dtype=torch.long)
    ctx0 = C.word_init_ctx(model, INIT_IDS)
    vis, width = TINY["embed_dim"], TINY["transformer_width"]
    init = init_spec(vis, vis // 16, width)
    r = TINY["image_resolution"]
    inputs = {"cocoop.images": [[2, 3, r, r], 1.0], "cocoop.train.images": [[10, 3, r, r], 1.0]}
    inp = {k: torch.from_numpy(R.hash_tensor(k, tuple(s), np.float32(sc), np.float32(0))) for k, (s, sc) in inputs.items()}

    out = {"init.ctx": ctx0}
    # Loss and gradients for a batch of two images.
    net = build(model, ids, ctx0, init)
    o = {}
    loss = net(inp["cocoop.images"], torch.tensor(LABELS), out=o)
    loss.backward()
    hidden = torch.relu(net.prompt_learner.meta_net.linear1(o["image_features"]))
    print("meta-net hidden activations (both units should be active somewhere):", hidden.detach().numpy().tolist())
    out.update({"image.features": o["image_features"], "pi": o["pi"], "logits": o["logits"], "loss": loss.reshape(1)})
    for k, p in params(net).items():
        out["grad." + k] = p.grad

    # Ten SGD steps, batch 1.
    net = build(model, ids, ctx0, init)
    opt = torch.optim.SGD(net.prompt_learner.parameters(), lr=LR, momentum=MOMENTUM, weight_decay=WD)
    losses, lrs = [], []
    imgs = inp["cocoop.train.images"]
    for e in range(EPOCHS):
        lr = C.cocoop_schedule(e, EPOCHS, LR)
        for g in opt.param_groups:
            g["lr"] = lr
        for s in range(STEPS_PER_EPOCH):
            i = e * STEPS_PER_EPOCH + s
            opt.zero_grad()
            loss = net(imgs[i:i + 1], torch.tensor([TRAIN_LABELS[i]]))
            loss.backward()
            opt.step()
            losses.append(loss.item())
            lrs.append(lr)
    out["train.losses"] = np.array(losses, dtype=np.float32)
    out["train.lrs"] = np.array(lrs, dtype=np.float32)
    for k, p in params(net).items():
        out["train." + k] = p
    md = {
        "format_version": FORMAT_VERSION,
        "generator": "bench/reference/make_cocoop_fixtures.py (torch %s, float32, CPU)" % torch.__version__,
        "config": json.dumps(TINY, sort_keys=True),
        "class_names": json.dumps(CLASS_NAMES),
        "token_rows": json.dumps([row[:row.index(C.EOT) + 1] for row in rows]),
        "labels": json.dumps(LABELS),
        "train_labels": json.dumps(TRAIN_LABELS),
        "epochs": str(EPOCHS),
        "steps_per_epoch": str(STEPS_PER_EPOCH),
        "init": json.dumps(init, sort_keys=True),
        "inputs": json.dumps(inputs, sort_keys=True),
    }
    path = os.path.join(outdir, "cocoop_tiny.safetensors")
    write_safetensors(path, out, md)
    print("wrote", path, "loss %.6f" % out["loss"].item(), "train losses", ["%.5f" % v for v in losses])


if __name__ == "__main__":
    main()
