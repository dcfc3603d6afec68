#!/usr/bin/env python3
"""Write prompt-learner checkpoints in the layout of the official CoOp /
CoCoOp code (KaiyangZhou/CoOp on Dassl.pytorch), used by cocoop/dassl_test.go.

    /usr/bin/python3 bench/reference/make_dassl_fixtures.py [outdir]

outdir defaults to cocoop/testdata/dassl. Dassl's trainer saves one folder
per registered model ("prompt_learner") under the output directory, holding
torch.save zips named model.pth.tar-<epoch> (and model-best.pth.tar when the
best validation model is kept) plus a text file "checkpoint" naming the last
file saved. Each zip is the dict

    {"state_dict": OrderedDict(prompt_learner.state_dict()),
     "epoch": <completed epochs>, "optimizer": SGD state dict,
     "scheduler": warm-up scheduler state dict (its "successor" is a pickled
                  CosineAnnealingLR object holding the SGD object),
     "val_result": None or a float}

The prompt learners have the official attribute names at the size of the
tiny hash CLIP of the cocoop tests (text width 64, embed dim 32, 77 tokens):

  CoCoOp  ctx [4, 64], meta_net.linear1 (32 -> 2), meta_net.linear2 (2 -> 64),
          token_prefix [n_cls, 1, 64], token_suffix [n_cls, 72, 64]
  CoOp    ctx [4, 64] (generic) or [n_cls, 4, 64] (class-specific, CSC),
          token_prefix, token_suffix

Every tensor is the hash formula of clip_ref.hash_tensor (scale 0.5, offset
0) under the name "dassl/<fixture>/<epoch>/<key>", so the Go test rebuilds
the expected values without reading the file; the fp16 fixture holds them
rounded to half precision (Dassl's default PREC "fp16" gives half-precision
prompt learners). The momentum buffers come from one SGD step on hashed
gradients, after which the parameters are set back to the hash values.

Fixtures (folder / files):
  cocoop/prompt_learner    model.pth.tar-1, model.pth.tar-2, checkpoint  (F32, 2 classes)
  coop/prompt_learner      model.pth.tar-5, checkpoint                   (F16, 2 classes)
  coop_csc/prompt_learner  model.pth.tar-3, model-best.pth.tar (epoch 2,
                           val_result 87.5), checkpoint                  (F32, CSC, 3 classes)
"""

import os
import sys
from collections import OrderedDict

import numpy as np
import torch
import torch.nn as nn
from torch.optim.lr_scheduler import CosineAnnealingLR, _LRScheduler

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clip_ref import hash_tensor  # noqa: E402

WIDTH = 64        # text transformer width (ctx_dim)
EMBED = 32        # CLIP embed dim (vis_dim); meta-net hidden = EMBED // 16
N_CTX = 4
LENGTH = 77       # context length
MAX_EPOCH = 5


class CoCoOpPromptLearner(nn.Module):
    """trainers/cocoop.py PromptLearner's parameters and buffers."""

    def __init__(self, n_cls):
        super().__init__()
        self.ctx = nn.Parameter(torch.zeros(N_CTX, WIDTH))
        self.meta_net = nn.Sequential(OrderedDict([
            ("linear1", nn.Linear(EMBED, EMBED // 16)),
            ("relu", nn.ReLU(inplace=True)),
            ("linear2", nn.Linear(EMBED // 16, WIDTH)),
        ]))
        self.register_buffer("token_prefix", torch.zeros(n_cls, 1, WIDTH))
        self.register_buffer("token_suffix", torch.zeros(n_cls, LENGTH - 1 - N_CTX, WIDTH))


class CoOpPromptLearner(nn.Module):
    """trainers/coop.py PromptLearner's parameter and buffers."""

    def __init__(self, n_cls, csc):
        super().__init__()
        shape = (n_cls, N_CTX, WIDTH) if csc else (N_CTX, WIDTH)
        self.ctx = nn.Parameter(torch.zeros(*shape))
        self.register_buffer("token_prefix", torch.zeros(n_cls, 1, WIDTH))
        self.register_buffer("token_suffix", torch.zeros(n_cls, LENGTH - 1 - N_CTX, WIDTH))


class ConstantWarmup(_LRScheduler):
    """Dassl's ConstantWarmupScheduler: a constant lr for the warm-up
    epochs, then its successor (only its state dict is saved)."""

    def __init__(self, optimizer, successor, warmup_epoch, cons_lr):
        self.successor = successor
        self.warmup_epoch = warmup_epoch
        self.cons_lr = cons_lr
        super().__init__(optimizer)

    def get_lr(self):
        if self.last_epoch >= self.warmup_epoch:
            return self.successor.get_last_lr()
        return [self.cons_lr for _ in self.base_lrs]

    def step(self, epoch=None):
        if self.last_epoch >= self.warmup_epoch:
            self.successor.step(epoch)
            self._last_lr = self.successor.get_last_lr()
        else:
            super().step(epoch)


def hashed(name, shape):
    return torch.from_numpy(hash_tensor(name, list(shape), scale=np.float32(0.5), offset=np.float32(0)).copy())


def fill(module, tag):
    """Sets every parameter and buffer of module to its hash tensor."""
    with torch.no_grad():
        for k, v in list(module.named_parameters()) + list(module.named_buffers()):
            v.copy_(hashed(f"{tag}/{k}", v.shape).to(v.dtype))


def save(folder, model, tag, epoch, half, val_result=None, name=None):
    """Writes model as Dassl's save_model does after `epoch` epochs."""
    if half:
        model.half()
    fill(model, tag)
    opt = torch.optim.SGD(model.parameters(), lr=0.002, momentum=0.9, weight_decay=5e-4)
    sched = ConstantWarmup(opt, CosineAnnealingLR(opt, MAX_EPOCH), 1, 1e-5)
    for k, p in model.named_parameters():
        p.grad = hashed(f"{tag}/grad/{k}", p.shape).to(p.dtype)
    opt.step()
    for _ in range(epoch):
        sched.step()
    fill(model, tag)  # the parameters again, the momentum buffers kept
    state_dict = OrderedDict((k, v) for k, v in model.state_dict().items())
    state = {
        "state_dict": state_dict,
        "epoch": epoch,
        "optimizer": opt.state_dict(),
        "scheduler": sched.state_dict(),
        "val_result": val_result,
    }
    os.makedirs(folder, exist_ok=True)
    fname = name or f"model.pth.tar-{epoch}"
    torch.save(state, os.path.join(folder, fname))
    with open(os.path.join(folder, "checkpoint"), "w") as f:
        f.write(fname + "\n")


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join("cocoop", "testdata", "dassl")
    torch.manual_seed(0)

    d = os.path.join(out, "cocoop", "prompt_learner")
    for epoch in (1, 2):
        save(d, CoCoOpPromptLearner(2), f"dassl/cocoop/{epoch}", epoch, half=False)

    d = os.path.join(out, "coop", "prompt_learner")
    save(d, CoOpPromptLearner(2, csc=False), "dassl/coop/5", 5, half=True)

    d = os.path.join(out, "coop_csc", "prompt_learner")
    save(d, CoOpPromptLearner(3, csc=True), "dassl/coop_csc/best", 2, half=False,
         val_result=87.5, name="model-best.pth.tar")
    save(d, CoOpPromptLearner(3, csc=True), "dassl/coop_csc/3", 3, half=False)

    for root, _, files in sorted(os.walk(out)):
        for f in sorted(files):
            p = os.path.join(root, f)
            print(f"{p}: {os.path.getsize(p)} bytes")


if __name__ == "__main__":
    main()
