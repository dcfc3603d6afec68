"""Writes adamw_torch.json: torch.optim.AdamW and clip_grad_norm_ on fixed
gradients, the reference of adamw_test.go.

Run with a Python that has torch (Debian's python3-torch 1.13):
    /usr/bin/python3 nn/optim/testdata/adamw_torch.py > nn/optim/testdata/adamw_torch.json
"""
import json
import math

import torch

torch.set_default_dtype(torch.float32)
w = torch.nn.Parameter(torch.tensor([[0.5, -1.0, 2.0], [0.25, 3.0, -0.75]]))
b = torch.nn.Parameter(torch.tensor([0.1, -0.2]))
skip = torch.nn.Parameter(torch.tensor([1.0]))  # never has a grad: untouched
opt = torch.optim.AdamW([
    {"params": [w], "weight_decay": 0.1},
    {"params": [b, skip], "weight_decay": 0.0},
], lr=1e-3, betas=(0.9, 0.98), eps=1e-6)

grads = [
    ([[0.3, -0.2, 0.1], [1.5, -2.0, 0.05]], [0.4, -0.6]),
    ([[-0.1, 0.2, 0.3], [0.5, 1.0, -0.25]], [0.0, 2.0]),
    ([[2.0, 0.0, -1.0], [0.01, -0.02, 4.0]], [-1.0, 0.5]),
    ([[0.7, 0.7, 0.7], [-0.7, -0.7, -0.7]], [3.0, -3.0]),
]
lrs = [1e-3, 5e-3, 2e-3, 1e-2]
max_norm = 2.5
steps = []
for (gw, gb), lr in zip(grads, lrs):
    for g in opt.param_groups:
        g["lr"] = lr
    opt.zero_grad()
    w.grad = torch.tensor(gw)
    b.grad = torch.tensor(gb)
    norm = torch.nn.utils.clip_grad_norm_([w, b, skip], max_norm)
    opt.step()
    steps.append({
        "lr": lr,
        "grad_w": gw, "grad_b": gb,
        "norm": float(norm),
        "w": w.detach().flatten().tolist(),
        "b": b.detach().tolist(),
        "exp_avg_w": opt.state[w]["exp_avg"].flatten().tolist(),
        "exp_avg_sq_b": opt.state[b]["exp_avg_sq"].tolist(),
    })
print(json.dumps({"torch": torch.__version__, "max_norm": max_norm, "betas": [0.9, 0.98], "eps": 1e-6,
                  "wd": 0.1, "steps": steps}, indent=1))
