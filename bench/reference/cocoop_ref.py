#!/usr/bin/env python3
"""PyTorch reference of CoCoOp (and the parts of CoOp it shares) for GoCoOp.

Written from docs/cocoop.md §1 (the structure of KaiyangZhou/CoOp's
trainers/cocoop.py: PromptLearner with a meta_net, CustomCLIP.forward with one
text-encoder pass per image), on top of clip_ref.py's CLIP. Everything is
float32 on the CPU (docs/cocoop.md §1.6: the Go port is fp32 end to end, PREC "fp32").

There is no tokenizer here: prompts come in as token rows (LongTensor
[n_cls, 77]) computed elsewhere (make_cocoop_fixtures.py builds them from
clip/testdata/tokenizer_golden.json), and the Go tests check that Go's
tokenizer gives the same rows.

Use Debian's python, which has torch 1.13:  /usr/bin/python3
"""

from collections import OrderedDict

import torch
import torch.nn as nn
import torch.nn.functional as F

SOT, EOT = 49406, 49407
DOT = 269  # "."


def word_init_ctx(clip_model, init_ids):
    """ctx init from a word prompt (docs/cocoop.md §1.2): the token embeddings of
    init_ids (the init text's BPE ids, without SOS/EOS), i.e. rows 1..n_ctx of
    the embedded tokenization. Embeddings do not depend on position, so the
    rows are those of the ids themselves."""
    with torch.no_grad():
        return clip_model.token_embeddings(torch.tensor([init_ids], dtype=torch.long))[0].clone()


class PromptLearner(nn.Module):
    """CoCoOp's trainables: ctx [n_ctx, W] and meta_net (linear1, relu,
    linear2), plus the class buffers token_prefix / token_suffix."""

    def __init__(self, clip_model, tokenized_prompts, ctx_vectors):
        super().__init__()
        n_ctx, ctx_dim = ctx_vectors.shape
        vis_dim = clip_model.text_projection.shape[1]  # visual output dim = embed dim
        self.n_ctx = n_ctx
        self.n_cls = tokenized_prompts.shape[0]
        self.ctx = nn.Parameter(ctx_vectors.clone())
        self.meta_net = nn.Sequential(OrderedDict([
            ("linear1", nn.Linear(vis_dim, vis_dim // 16)),
            ("relu", nn.ReLU(inplace=True)),
            ("linear2", nn.Linear(vis_dim // 16, ctx_dim)),
        ]))
        with torch.no_grad():
            embedding = clip_model.token_embeddings(tokenized_prompts)  # [n_cls, 77, W]
        self.register_buffer("token_prefix", embedding[:, :1, :].clone())  # SOS
        self.register_buffer("token_suffix", embedding[:, 1 + n_ctx:, :].clone())  # name, ".", EOS, pad
        self.tokenized_prompts = tokenized_prompts

    def construct_prompts(self, ctx, prefix, suffix):
        return torch.cat([prefix, ctx, suffix], dim=1)  # [n_cls, 77, W]

    def forward(self, im_features):  # im_features: [B, E], normalized
        prefix, suffix = self.token_prefix, self.token_suffix
        ctx = self.ctx.unsqueeze(0)  # [1, n_ctx, W]
        bias = self.meta_net(im_features).unsqueeze(1)  # [B, 1, W]
        ctx_shifted = ctx + bias  # [B, n_ctx, W]
        prompts = []
        for ctx_shifted_i in ctx_shifted:
            ctx_i = ctx_shifted_i.unsqueeze(0).expand(self.n_cls, -1, -1)
            prompts.append(self.construct_prompts(ctx_i, prefix, suffix))
        return torch.stack(prompts), bias.squeeze(1)  # [B, n_cls, 77, W], π [B, W]


class CustomCLIP(nn.Module):
    """CoCoOp on a frozen CLIP: per image, the text encoder over all class
    prompts shifted by π(x̂); logits = exp(logit_scale)·x̂·t̂ᵀ."""

    def __init__(self, clip_model, tokenized_prompts, ctx_vectors):
        super().__init__()
        self.clip = clip_model
        self.prompt_learner = PromptLearner(clip_model, tokenized_prompts, ctx_vectors)
        self.tokenized_prompts = tokenized_prompts

    def forward(self, image, label=None, out=None):
        logit_scale = self.clip.logit_scale.exp()
        with torch.no_grad():
            image_features = self.clip.encode_image(image)
        image_features = image_features / image_features.norm(dim=-1, keepdim=True)
        prompts, pi = self.prompt_learner(image_features)
        logits = []
        for pts_i, imf_i in zip(prompts, image_features):
            text_features = self.clip.encode_text_embeddings(pts_i, self.tokenized_prompts)
            text_features = text_features / text_features.norm(dim=-1, keepdim=True)
            logits.append(logit_scale * imf_i @ text_features.t())
        logits = torch.stack(logits)  # [B, n_cls]
        if out is not None:
            out.update(image_features=image_features, pi=pi, logits=logits)
        if label is not None:
            return F.cross_entropy(logits, label)
        return logits


def cocoop_schedule(epoch, max_epoch, base_lr, warmup_lr=1e-5):
    """Dassl's ConstantWarmupScheduler(1 epoch) around CosineAnnealingLR
    (docs/cocoop.md §2.3)."""
    import math
    if epoch == 0:
        return warmup_lr
    return 0.5 * base_lr * (1 + math.cos(math.pi * (epoch - 1) / max_epoch))
