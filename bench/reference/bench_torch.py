#!/usr/bin/env python3
"""PyTorch side of GoCoOp's side-by-side benchmark (bench/clipbench).

The Go command starts this script once per workload and round, in a fresh
process, so that the process's peak RSS (read by the Go parent from
getrusage of the reaped child, as for its own workers) belongs to that
workload alone:

    /usr/bin/python3 bench/reference/bench_torch.py --task TASK [--batch B]
        [--warmup W] [--reps N] [--threads T] [--tokens tokens.json] [--hash]
    /usr/bin/python3 bench/reference/bench_torch.py --version

Tasks (the repository's reference models: clip_ref.CLIP, cocoop_ref.CustomCLIP):

    sgemm   torch.mm at the 7 CLIP shapes (OpenBLAS through torch), best of a
            time budget per shape (--sgemm-time)
    image   encode_image on B random 224×224 images, no_grad
    text    encode_text on the class prompts × 77 tokens (--cut: cut after
            the longest EOT), no_grad
    baseline  import torch, set the threads, nothing else (the interpreter's
            RSS baseline)
    train   CoCoOp training step at batch B: zero_grad, CustomCLIP forward
            (official: every prompt at 77 tokens; --cut: cut after the
            longest EOT), cross-entropy, backward,
            SGD(lr 0.002, momentum 0.9, weight decay 5e-4) step. For B > 1
            the images are encoded together, then each image's loss/B is
            backpropagated right after its forward (the same FLOPs as
            CustomCLIP's single graph, which would hold B graphs of 50×77
            rows, ~2.5 GB each); --full-graph runs CustomCLIP as is.
    eval    CustomCLIP forward at batch B under no_grad (the test step)

The class prompts come from the Go side (--tokens: JSON {"ids": [[77 ids]
per class], ...}, tokenized by GoCoOp's CLIP tokenizer), as no tokenizer
lives here.

--cut runs every prompt cut after the longest EOT of the class list,
L = max(EOT) + 1 tokens instead of 77: the token rows are sliced to L, so
CoCoOp's token_suffix buffer is too, and clip_ref's text tower slices the
positional embedding to the sequence length and builds its causal mask at
L × L. Exact: under the causal mask no position up to an EOT attends to a
later one, so every EOT row (the only one read) is unchanged.

Weights are random (torch's normal init, scaled per layer: timing does not
depend on the values) unless --hash asks for GoCoOp's hash weights
(clip_ref.hash_tensor, written into the model's parameters in place, one
chunk at a time, so that no second copy of the weights inflates the peak
RSS; ~6 s of NumPy), the hash images "bench.images" (clip.HashTensor on the
Go side) and the hash meta-net of meta_net_spec, as the Go workers use: then
both sides compute the same step and the reported loss (the first step's
cross-entropy; for eval the cross-entropy of the logits) must agree to
float32 rounding, which the Go side checks.

Warm-up: --warmup calls first (the same call as the timed ones), then
--reps timed calls. The last stdout line is "RESULT {json}" with the times.
Threads: torch.set_num_threads(--threads); the parent also sets
OPENBLAS_NUM_THREADS / OMP_NUM_THREADS.
"""

import argparse
import json
import math
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

VITB16 = dict(embed_dim=512, image_resolution=224, vision_layers=12, vision_width=768,
              vision_patch_size=16, context_length=77, vocab_size=49408,
              transformer_width=512, transformer_heads=8, transformer_layers=12)

SGEMM_SHAPES = [(197, 768, 2304), (197, 768, 768), (197, 768, 3072), (197, 3072, 768),
                (1024, 512, 1536), (1024, 1024, 1024), (2048, 2048, 2048)]


def blas_info():
    """The BLAS library torch loaded, from /proc/self/maps."""
    try:
        with open("/proc/self/maps") as maps:
            libs = sorted({l.split()[-1] for l in maps if "/" in l and any(
                k in l.lower() for k in ("openblas", "libblas", "mkl", "blis"))})
        return ", ".join(os.path.basename(l) for l in libs) or "unknown"
    except OSError:
        return "unknown"


def random_model(torch, R):
    """clip_ref.CLIP of ViT-B/16 shape with random weights."""
    with torch.no_grad():
        model = R.CLIP(**VITB16)
        for name, p in model.named_parameters():
            if ".ln_" in name or name.startswith("ln_"):
                p.fill_(1.0 if name.endswith("weight") else 0.0)
            elif p.dim() >= 2:
                p.normal_(0.0, 1.0 / math.sqrt(p[0].numel()))
            else:
                p.normal_(0.0, 0.02)
        model.logit_scale.fill_(math.log(100.0))
    model.float().eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def hash_fill_(p, name, scale, offset, chunk=1 << 18):
    """Fills tensor p in place with clip_ref.hash_tensor(name, ...), chunk by
    chunk (no full-size temporary)."""
    flat = p.detach().view(-1).numpy()
    for lo in range(0, flat.size, chunk):
        hi = min(flat.size, lo + chunk)
        flat[lo:hi] = R.hash_uniform(name, lo, hi) * np.float32(scale) + np.float32(offset)


def half_weight(name, shape):
    """Mirrors Go's clip.HalfWeight: the weight matrices that
    clip.ConvertWeights stores in float16."""
    return name in ("visual.proj", "text_projection") or (len(shape) >= 2 and name.endswith("weight"))


def hash_model(torch, half_weights=False):
    """clip_ref.CLIP of ViT-B/16 shape with GoCoOp's hash weights, filled in
    place (clip_ref.build_hash_model builds a second, full state dict). With
    half_weights the weight matrices' values are rounded to float16 (ties to
    even, as Go's asm.Float32ToHalf) and kept in float32 storage."""
    with torch.no_grad():
        model = R.CLIP(**VITB16)
        for name, v in model.state_dict().items():
            scale, offset = R.hash_init(name, tuple(v.shape))
            hash_fill_(v, name, scale, offset)
            if half_weights and half_weight(name, tuple(v.shape)):
                v.copy_(v.half().float())
    model.float().eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def meta_net_spec(vis, width):
    """Hash init of CoCoOp's meta-net (name, scale, offset), the same in
    bench/clipbench/worker.go: 1/sqrt(fan_in) uniform, the first bias
    offset by 0.1 so that the hidden units are not dead on the hash images."""
    hidden = vis // 16
    return {
        "meta_net.linear1.weight": ("bench.meta_net.linear1.weight", 1 / math.sqrt(vis), 0.0),
        "meta_net.linear1.bias": ("bench.meta_net.linear1.bias", 1 / math.sqrt(vis), 0.1),
        "meta_net.linear2.weight": ("bench.meta_net.linear2.weight", 1 / math.sqrt(hidden), 0.0),
        "meta_net.linear2.bias": ("bench.meta_net.linear2.bias", 1 / math.sqrt(hidden), 0.0),
    }


def best_time(fn, budget):
    fn()
    best = float("inf")
    deadline = time.perf_counter() + budget
    while True:
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
        if time.perf_counter() > deadline:
            return best


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--version", action="store_true")
    ap.add_argument("--task", choices=["baseline", "sgemm", "image", "text", "train", "eval"])
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--tokens", help="JSON with the class prompts' token rows")
    ap.add_argument("--sgemm-time", type=float, default=0.3)
    ap.add_argument("--hash", action="store_true", help="GoCoOp's hash weights instead of random ones")
    ap.add_argument("--half-weights", action="store_true", help="with --hash: the weight matrices' values rounded to float16 (GoCoOp's -weights float16)")
    ap.add_argument("--full-graph", action="store_true", help="train at B > 1 as one CustomCLIP graph")
    ap.add_argument("--cut", action="store_true", help="cut every prompt after the longest EOT of the class list")
    args = ap.parse_args()

    t0 = time.perf_counter()
    import torch
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    if args.version:
        torch.mm(torch.ones(64, 64), torch.ones(64, 64))
        print(f"PyTorch {torch.__version__} ({blas_info()}, {torch.get_num_threads()} threads, "
              f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', 'auto')})")
        return
    if args.task is None:
        ap.error("--task is required")
    res = {"times": [], "info": f"PyTorch {torch.__version__}, {torch.get_num_threads()} threads, "
           f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', '?')}"}
    if args.task == "baseline":
        res["setup_s"] = time.perf_counter() - t0
        print("RESULT " + json.dumps(res), flush=True)
        return

    global R, np
    import numpy as np
    import clip_ref as R
    import cocoop_ref as C

    if args.task == "sgemm":
        shapes = {}
        for m, k, n in SGEMM_SHAPES:
            a, b = torch.randn(m, k), torch.randn(k, n)
            c = torch.empty(m, n)
            shapes[f"{m}×{k}×{n}"] = best_time(lambda: torch.mm(a, b, out=c), args.sgemm_time)
        res["shapes"] = shapes
        res["setup_s"] = time.perf_counter() - t0
        print("RESULT " + json.dumps(res), flush=True)
        return

    if args.hash:
        model = hash_model(torch, args.half_weights)
        images = torch.from_numpy(R.hash_tensor("bench.images", (args.batch, 3, 224, 224), np.float32(1), np.float32(0)))
    else:
        model = random_model(torch, R)
        images = torch.randn(args.batch, 3, 224, 224)
    tok = {}
    if args.tokens:
        with open(args.tokens) as f:
            tok = json.load(f)
    if args.task != "image" and "ids" not in tok:
        ap.error(f"--task {args.task} needs --tokens (the class prompts' token rows)")
    ids = torch.tensor(tok.get("ids", [[0]]), dtype=torch.long)  # [n_cls, 77]
    if args.cut:
        cut = int(ids.argmax(dim=-1).max()) + 1  # the longest EOT (the largest id), inclusive
        ids = ids[:, :cut].contiguous()  # [n_cls, cut]
        res["tokens"] = cut
    labels = torch.tensor([(7 * i) % ids.shape[0] for i in range(args.batch)], dtype=torch.long)

    if args.task == "image":
        def run():
            with torch.no_grad():
                model.encode_image(images)
    elif args.task == "text":
        def run():
            with torch.no_grad():
                model.encode_text(ids)
    else:
        n_ctx = tok.get("n_ctx", 4)
        init_ids = ids[0, 1:1 + n_ctx].tolist()  # "a photo of a" (rows share the context words)
        cc = C.CustomCLIP(model, ids, C.word_init_ctx(model, init_ids))
        pl = cc.prompt_learner
        if args.hash:
            spec = meta_net_spec(VITB16["embed_dim"], VITB16["transformer_width"])
            with torch.no_grad():
                for k, p in pl.named_parameters():
                    if k in spec:
                        hash_fill_(p, *spec[k])
        opt = torch.optim.SGD(pl.parameters(), lr=0.002, momentum=0.9, weight_decay=5e-4)

        def step(imgs, lbls):
            opt.zero_grad()
            b = imgs.shape[0]
            if b == 1 or args.full_graph:
                loss = cc(imgs, lbls)
                loss.backward()
            else:
                # CustomCLIP.forward, one image's graph at a time.
                with torch.no_grad():
                    imf = model.encode_image(imgs)
                imf = imf / imf.norm(dim=-1, keepdim=True)
                scale = model.logit_scale.exp()
                loss = 0.0
                for i in range(b):
                    prompts, _ = pl(imf[i:i + 1])
                    t = model.encode_text_embeddings(prompts[0], ids)
                    t = t / t.norm(dim=-1, keepdim=True)
                    li = torch.nn.functional.cross_entropy(scale * imf[i:i + 1] @ t.t(), lbls[i:i + 1]) / b
                    li.backward()
                    loss += li.item()
            opt.step()
            res.setdefault("losses", []).append(float(loss))

        if args.task == "train":
            cc.train()

            def run():
                step(images, labels)
        else:
            cc.eval()

            def run():
                with torch.no_grad():
                    res["logits"] = cc(images)
    res["setup_s"] = time.perf_counter() - t0
    for _ in range(args.warmup):
        run()
    for _ in range(args.reps):
        t = time.perf_counter()
        run()
        res["times"].append(time.perf_counter() - t)
    if "losses" in res:
        res["loss"] = res["losses"][0]  # the first step's, before any update
    if "logits" in res:
        # eval: the cross-entropy of the logits against the labels
        res["loss"] = float(torch.nn.functional.cross_entropy(res.pop("logits").double(), labels))
    print("RESULT " + json.dumps(res), flush=True)


if __name__ == "__main__":
    main()
