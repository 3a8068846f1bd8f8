#!/usr/bin/python3
"""Train Loom's Shapes captioner (ViT encoder + GPT-2 decoder with cross-attention)
on data from the Go renderer, and export it as a Hugging Face-style folder:
model.safetensors, config.json, preprocessor_config.json, tokenizer.json.

  go run ./tools/shapesgen -n 240000 -seed 1 -out /tmp/shapes/train
  go run ./tools/shapesgen -n 2000 -seed 2 -out /tmp/shapes/val
  OMP_NUM_THREADS=2 /usr/bin/python3 tools/captioner/train.py --data /tmp/shapes --out models/shapes-captioner --minutes 60

Debian's python3-torch (1.13, CPU) only; Loom itself never runs Python."""
import argparse
import io
import json
import math
import os
import random
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

sys.path.insert(0, os.path.dirname(__file__))
import model as M  # noqa: E402
import safet  # noqa: E402

SPECIAL = ["<pad>", "<s>", "</s>", "<unk>"]
WORDS = sorted(set("a and on the at in left right top bottom center circle square triangle red green blue yellow purple orange small large".split()))
VOCAB = SPECIAL + WORDS
PAD, BOS, EOS = 0, 1, 2
MAXLEN = 24

ENC = dict(model_type="vit", hidden_size=128, num_hidden_layers=4, num_attention_heads=4, intermediate_size=512,
           hidden_act="gelu", layer_norm_eps=1e-12, image_size=64, patch_size=8, num_channels=3, qkv_bias=True)
DEC = dict(model_type="gpt2", vocab_size=len(VOCAB), n_positions=MAXLEN, n_embd=128, n_layer=3, n_head=4, n_inner=512,
           activation_function="gelu_new", layer_norm_epsilon=1e-5, add_cross_attention=True, is_decoder=True,
           bos_token_id=BOS, eos_token_id=EOS, pad_token_id=PAD, tie_word_embeddings=True)


def encode(caption):
    ids = [BOS] + [VOCAB.index(w) for w in caption.split()] + [EOS]
    return ids + [PAD] * (MAXLEN - len(ids))


def load(prefix):
    caps = open(prefix + ".txt").read().splitlines()
    imgs = np.fromfile(prefix + ".u8", dtype=np.uint8).reshape(len(caps), 64, 64, 3)
    return imgs, torch.tensor([encode(c) for c in caps])


def augment(img, rng):
    """What uploads do to a scene: JPEG compression, or an upscale the Go
    preprocessor then brings back down to 64×64."""
    r = rng.random()
    if r < 0.6:
        return img
    im = Image.fromarray(img)
    if r < 0.8:
        buf = io.BytesIO()
        im.save(buf, "JPEG", quality=rng.randint(50, 95))
        im = Image.open(buf).convert("RGB")
    else:
        s = rng.choice([96, 128, 192, 256])
        im = im.resize((s, s), rng.choice([Image.BILINEAR, Image.BICUBIC, Image.LANCZOS, Image.NEAREST]))
        if rng.random() < 0.5:
            buf = io.BytesIO()
            im.save(buf, "JPEG", quality=rng.randint(60, 95))
            im = Image.open(buf).convert("RGB")
        im = im.resize((64, 64), rng.choice([Image.BILINEAR, Image.BICUBIC, Image.LANCZOS, Image.BOX]))
    return np.asarray(im)


def to_pixels(imgs):
    """uint8 (B,64,64,3) → float (B,3,64,64) normalised with mean 0.5, std 0.5 (preprocessor_config.json)."""
    x = torch.from_numpy(np.ascontiguousarray(imgs)).permute(0, 3, 1, 2).float() / 255.0
    return (x - 0.5) / 0.5


@torch.no_grad()
def greedy(net, px):
    enc = net.encoder(px)
    ids = torch.full((px.shape[0], 1), BOS, dtype=torch.long)
    done = torch.zeros(px.shape[0], dtype=torch.bool)
    for _ in range(MAXLEN - 1):
        nxt = net.decoder(ids, enc)[:, -1].argmax(-1)
        nxt[done] = PAD
        ids = torch.cat([ids, nxt[:, None]], 1)
        done |= nxt == EOS
        if done.all():
            break
    out = []
    for row in ids.tolist():
        words = []
        for t in row[1:]:
            if t in (EOS, PAD):
                break
            words.append(VOCAB[t])
        out.append(" ".join(words))
    return out


def evaluate(net, imgs, caps_ids, n=1000):
    net.eval()
    right = 0
    for i in range(0, min(n, len(imgs)), 250):
        pred = greedy(net, to_pixels(imgs[i:i + 250]))
        for j, p in enumerate(pred):
            want = " ".join(VOCAB[t] for t in caps_ids[i + j].tolist() if t > EOS)
            right += p == want
    net.train()
    return right / min(n, len(imgs))


def export(net, out, meta):
    os.makedirs(out, exist_ok=True)
    sd = {k: v.detach().float().numpy() for k, v in net.state_dict().items()}
    safet.save(os.path.join(out, "model.safetensors"), sd, {"format": "pt"})
    cfg = dict(model_type="vision-encoder-decoder", architectures=["VisionEncoderDecoderModel"], encoder=ENC, decoder=DEC,
               decoder_start_token_id=BOS, eos_token_id=EOS, pad_token_id=PAD, tie_word_embeddings=True,
               max_length=MAXLEN, loom=meta)
    json.dump(cfg, open(os.path.join(out, "config.json"), "w"), indent=1)
    json.dump(dict(image_processor_type="ViTImageProcessor", do_resize=True, size=dict(height=64, width=64),
                   resample=2, do_rescale=True, rescale_factor=1 / 255, do_normalize=True,
                   image_mean=[0.5, 0.5, 0.5], image_std=[0.5, 0.5, 0.5]),
              open(os.path.join(out, "preprocessor_config.json"), "w"), indent=1)
    tok = {"version": "1.0", "truncation": None, "padding": None,
           "added_tokens": [dict(id=i, content=t, single_word=False, lstrip=False, rstrip=False, normalized=False, special=True) for i, t in enumerate(SPECIAL)],
           "normalizer": None, "pre_tokenizer": {"type": "WhitespaceSplit"}, "post_processor": None, "decoder": None,
           "model": {"type": "WordLevel", "vocab": {t: i for i, t in enumerate(VOCAB)}, "unk_token": "<unk>"}}
    json.dump(tok, open(os.path.join(out, "tokenizer.json"), "w"), indent=1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="/tmp/shapes")
    ap.add_argument("--out", default="models/shapes-captioner")
    ap.add_argument("--minutes", type=float, default=60)
    ap.add_argument("--batch", type=int, default=96)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=0, help="stop after this many steps (0: only the time budget)")
    ap.add_argument("--resume", default="", help="start from an exported model folder")
    a = ap.parse_args()
    torch.manual_seed(a.seed)
    torch.set_num_threads(a.threads)
    rng = random.Random(a.seed)
    tr_imgs, tr_ids = load(os.path.join(a.data, "train"))
    va_imgs, va_ids = load(os.path.join(a.data, "val"))
    net = M.Captioner(ENC, DEC)
    if a.resume:
        sd = safet.load(os.path.join(a.resume, "model.safetensors"))
        net.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in sd.items()})
        print("resumed from", a.resume, flush=True)
    nparams = sum(p.numel() for p in net.parameters())
    print(f"params {nparams} train {len(tr_imgs)} val {len(va_imgs)}", flush=True)
    opt = torch.optim.AdamW(net.parameters(), lr=a.lr, weight_decay=0.01)
    t0, step, budget = time.time(), 0, a.minutes * 60
    log = []
    best = -1.0
    while True:
        el = time.time() - t0
        if el > budget or (a.steps and step >= a.steps):
            break
        frac = max(el / budget, step / a.steps if a.steps else 0)
        lr = a.lr * (1.0 if a.resume else min(1.0, (step + 1) / 300)) * (0.5 * (1 + math.cos(math.pi * frac)) * 0.95 + 0.05)
        for g in opt.param_groups:
            g["lr"] = lr
        idx = np.random.randint(0, len(tr_imgs), a.batch)
        px = to_pixels(np.stack([augment(tr_imgs[i], rng) for i in idx]))
        ids = tr_ids[idx]
        logits = net(px, ids[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1), ignore_index=PAD)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        step += 1
        if step % 200 == 0:
            msg = f"step {step} {el/60:.1f}min loss {loss.item():.4f} lr {lr:.2e}"
            if step % 1000 == 0:
                acc = evaluate(net, va_imgs, va_ids, 500)
                msg += f" val_exact {acc:.3f}"
                log.append(dict(step=step, minutes=round(el / 60, 1), loss=round(loss.item(), 4), val_exact=acc))
                if acc >= best:
                    best = acc
                    export(net, a.out, dict(step=step, val_exact=acc, params=nparams, minutes=round(el / 60, 1)))
            print(msg, flush=True)
    acc = evaluate(net, va_imgs, va_ids, 2000)
    print(f"final step {step} val_exact {acc:.4f} minutes {(time.time()-t0)/60:.1f}", flush=True)
    if acc >= best:
        export(net, a.out, dict(step=step, val_exact=acc, params=nparams, minutes=round((time.time() - t0) / 60, 1)))
    json.dump(log, open(os.path.join(a.out, "train_log.json"), "w"), indent=1)


if __name__ == "__main__":
    main()
