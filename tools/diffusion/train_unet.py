#!/usr/bin/python3
"""Train the Shapes latent-diffusion model: a small UNet2DConditionModel and a
CLIP-style text encoder trained together (epsilon prediction, scaled_linear
betas, 10% of prompts dropped to the empty prompt for classifier-free
guidance) on latents of a trained Shapes VAE (train_vae.py). Exports a
diffusers-style pipeline folder that Loom's Go towers load:

  OUT/model_index.json
  OUT/unet/{config.json, diffusion_pytorch_model.safetensors}
  OUT/text_encoder/{config.json, model.safetensors}         (CLIPTextModel names)
  OUT/tokenizer/{vocab.json, merges.txt, special_tokens_map.json, tokenizer_config.json}
  OUT/scheduler/scheduler_config.json
  OUT/vae/…                                                  (copied from --vae)

  OMP_NUM_THREADS=2 /usr/bin/python3 tools/diffusion/train_unet.py --data /tmp/shapes \\
      --vae models/shapes-diffusion/vae --out models/shapes-diffusion --minutes 120

The tokenizer is CLIP's byte-level BPE with "</w>" word ends; its merges are
learnt here from the Shapes grammar's words (plain BPE: most frequent pair
first) until every word is one token. Debian's torch only."""
import argparse
import collections
import copy
import json
import math
import os
import re
import shutil
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.append(os.path.join(os.path.dirname(HERE), "captioner"))  # safet.py
import model as M  # noqa: E402
import safet  # noqa: E402
import sched as S  # noqa: E402
import train_vae as TV  # noqa: E402

MAXLEN = 24  # <|startoftext|> + up to 17 words + <|endoftext|>, padded
UNET = dict(_class_name="UNet2DConditionModel", sample_size=16, in_channels=4, out_channels=4,
            block_out_channels=[64, 128, 128], layers_per_block=1, norm_num_groups=32, norm_eps=1e-5,
            down_block_types=["DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"],
            up_block_types=["CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"],
            mid_block_type="UNetMidBlock2DCrossAttn", cross_attention_dim=128, attention_head_dim=4,
            flip_sin_to_cos=True, freq_shift=0, use_linear_projection=False, act_fn="silu")
# Attention (self + cross) runs at 8×8 and 4×4 latents only: at 16×16 its 256×256 score matrices took three
# quarters of a training step (torch profiler: bmm, softmax, mul). Size presets (block_out_channels): "small" is
# what a 60-minute run on 2 CPU cores can train; "base" measured ~7 s per batch-32 step on one loaded core.
UNET_SIZES = {"small": [32, 64, 64], "base": [64, 128, 128]}
SCHED = dict(_class_name="DDIMScheduler", num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012,
             beta_schedule="scaled_linear", prediction_type="epsilon", steps_offset=1, set_alpha_to_one=False,
             clip_sample=False, timestep_spacing="leading")


def bytes_to_unicode():
    """GPT-2's byte → printable rune table (the same as core/tokenizer's)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


B2U = bytes_to_unicode()
WORDS = sorted(set("a and on the at in left right top bottom center circle square triangle red green blue yellow purple "
                   "orange small large moving up down".split()))


def learn_bpe(words):
    """Plain BPE over the word list: merge the most frequent adjacent pair
    (ties: lexicographically smallest) until every word is one symbol."""
    seqs = {w: [B2U[b] for b in w.encode()] for w in words}
    for w in seqs:
        seqs[w][-1] += "</w>"
    merges = []
    while any(len(s) > 1 for s in seqs.values()):
        cnt = collections.Counter()
        for s in seqs.values():
            for p in zip(s, s[1:]):
                cnt[p] += 1
        best = min(cnt, key=lambda p: (-cnt[p], p))
        merges.append(best)
        for w, s in seqs.items():
            out, i = [], 0
            while i < len(s):
                if i + 1 < len(s) and (s[i], s[i + 1]) == best:
                    out.append(s[i] + s[i + 1])
                    i += 2
                else:
                    out.append(s[i])
                    i += 1
            seqs[w] = out
    vocab = {}
    for b in range(256):
        vocab[B2U[b]] = len(vocab)
    for b in range(256):
        vocab[B2U[b] + "</w>"] = len(vocab)
    for a, b in merges:
        vocab.setdefault(a + b, len(vocab))
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    return vocab, merges


class Tokenizer:
    def __init__(self):
        self.vocab, self.merges = learn_bpe(WORDS)
        self.rank = {m: i for i, m in enumerate(self.merges)}
        self.bos, self.eos = self.vocab["<|startoftext|>"], self.vocab["<|endoftext|>"]

    def word(self, w):
        s = [B2U[b] for b in w.encode()]
        s[-1] += "</w>"
        while len(s) > 1:
            pairs = [(self.rank.get(p, 1 << 30), i) for i, p in enumerate(zip(s, s[1:]))]
            r, i = min(pairs)
            if r == 1 << 30:
                break
            s = s[:i] + [s[i] + s[i + 1]] + s[i + 2:]
        return [self.vocab[x] for x in s]

    def encode(self, text):
        ids = [self.bos]
        for w in " ".join(text.lower().split()).split():
            ids += self.word(w)
        ids = ids[:MAXLEN - 1] + [self.eos]
        return ids + [self.eos] * (MAXLEN - len(ids))

    def save(self, out):
        os.makedirs(out, exist_ok=True)
        json.dump(self.vocab, open(os.path.join(out, "vocab.json"), "w"), ensure_ascii=False)
        with open(os.path.join(out, "merges.txt"), "w") as f:
            f.write("#version: 0.2\n")
            for a, b in self.merges:
                f.write(f"{a} {b}\n")
        sp = dict(bos_token="<|startoftext|>", eos_token="<|endoftext|>", unk_token="<|endoftext|>", pad_token="<|endoftext|>")
        json.dump(sp, open(os.path.join(out, "special_tokens_map.json"), "w"), indent=1)
        json.dump(dict(sp, tokenizer_class="CLIPTokenizer", model_max_length=MAXLEN, do_lower_case=True),
                  open(os.path.join(out, "tokenizer_config.json"), "w"), indent=1)


def clip_config(tok):
    return dict(architectures=["CLIPTextModel"], model_type="clip_text_model", vocab_size=len(tok.vocab), hidden_size=128,
                intermediate_size=512, num_hidden_layers=3, num_attention_heads=4, max_position_embeddings=MAXLEN,
                hidden_act="quick_gelu", layer_norm_eps=1e-5, bos_token_id=tok.bos, eos_token_id=tok.eos,
                pad_token_id=tok.eos, projection_dim=128)


def export(out, unet, text, tok, vae_dir, meta):
    def save(mod, sub, fname, cfg):
        d = os.path.join(out, sub)
        os.makedirs(d, exist_ok=True)
        safet.save(os.path.join(d, fname), {k: v.detach().float().numpy() for k, v in mod.state_dict().items()}, {"format": "pt"})
        json.dump(cfg, open(os.path.join(d, "config.json"), "w"), indent=1)

    save(unet, "unet", "diffusion_pytorch_model.safetensors", unet.c)
    save(text, "text_encoder", "model.safetensors", clip_config(tok))
    tok.save(os.path.join(out, "tokenizer"))
    os.makedirs(os.path.join(out, "scheduler"), exist_ok=True)
    json.dump(SCHED, open(os.path.join(out, "scheduler", "scheduler_config.json"), "w"), indent=1)
    if os.path.abspath(vae_dir) != os.path.abspath(os.path.join(out, "vae")):
        shutil.copytree(vae_dir, os.path.join(out, "vae"), dirs_exist_ok=True)
    json.dump(dict(_class_name="StableDiffusionPipeline", unet=["diffusers", "UNet2DConditionModel"],
                   vae=["diffusers", "AutoencoderKL"], text_encoder=["transformers", "CLIPTextModel"],
                   tokenizer=["transformers", "CLIPTokenizer"], scheduler=["diffusers", "DDIMScheduler"], loom=meta),
              open(os.path.join(out, "model_index.json"), "w"), indent=1)


def load_vae(d):
    cfg = json.load(open(os.path.join(d, "config.json")))
    cfg.pop("loom", None)
    vae = M.AutoencoderKL(cfg)
    sd = safet.load(os.path.join(d, "diffusion_pytorch_model.safetensors"))
    vae.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in sd.items()})
    return vae.eval(), cfg["scaling_factor"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="/tmp/shapes")
    ap.add_argument("--vae", default="models/shapes-diffusion/vae")
    ap.add_argument("--out", default="models/shapes-diffusion")
    ap.add_argument("--minutes", type=float, default=120, help="time budget")
    ap.add_argument("--steps", type=int, default=0, help="stop after this many steps (0: only the time budget)")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=3e-4)
    ap.add_argument("--drop", type=float, default=0.1, help="fraction of prompts replaced by the empty prompt")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--size", default="small", choices=sorted(UNET_SIZES))
    ap.add_argument("--init-from", default="", help="start from this exported pipeline folder's unet and text encoder (a second budget)")
    ap.add_argument("--latents", type=int, default=10000,
                    help="encode this many training images once, up front, and train on them (0: encode every batch)")
    ap.add_argument("--zero-snr", action="store_true",
                    help="zero-terminal-SNR schedule (rescale_betas_zero_snr), v-prediction and trailing timesteps "
                         "(Lin et al. 2024): the last training step is pure noise, so the model learns the image's "
                         "mean colour from noise as sampling starts it")
    ap.add_argument("--ema", type=float, default=0,
                    help="export an exponential moving average of the weights with this decay (0: the last step's weights). "
                         "Its one run (78 min, read back 19.0%% exact) trained on misaligned latents "
                         "(models/shapes-diffusion/README.md), so it is untested")
    a = ap.parse_args()
    torch.manual_seed(a.seed)
    np.random.seed(a.seed)
    torch.set_num_threads(a.threads)
    tok = Tokenizer()
    assert all(len(tok.word(w)) == 1 for w in WORDS), "every grammar word must be one token"
    imgs, caps = TV.load(os.path.join(a.data, "train"))
    ids = torch.tensor([tok.encode(c) for c in caps])
    empty = torch.tensor(tok.encode(""))
    vae, scale = load_vae(a.vae)
    unet = M.UNet2DConditionModel(dict(UNET, block_out_channels=UNET_SIZES[a.size]))
    text = M.CLIPTextModel(clip_config(tok))
    if a.init_from:
        for mod, sub, fname in ((unet, "unet", "diffusion_pytorch_model.safetensors"), (text, "text_encoder", "model.safetensors")):
            sd = safet.load(os.path.join(a.init_from, sub, fname))
            mod.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in sd.items()})
        prev = json.load(open(os.path.join(a.init_from, "model_index.json"))).get("loom", {})
        print(f"initialised from {a.init_from} ({prev})", flush=True)
    params = list(unet.parameters()) + list(text.parameters())
    nparams = sum(p.numel() for p in params)
    print(f"params {nparams} train {len(imgs)} vocab {len(tok.vocab)} latent scale {scale}", flush=True)
    if a.zero_snr:
        SCHED.update(prediction_type="v_prediction", rescale_betas_zero_snr=True, timestep_spacing="trailing", steps_offset=0)
    vpred = SCHED["prediction_type"] == "v_prediction"
    ac = torch.from_numpy(S.alphas_cumprod(SCHED)).float()
    opt = torch.optim.AdamW(params, lr=a.lr, weight_decay=0.01)
    # An exponential moving average of the weights is what gets exported: the
    # last step's weights carry the noise of the last few batches.
    ema_unet, ema_text = (copy.deepcopy(unet), copy.deepcopy(text)) if a.ema else (unet, text)
    ema_pairs = [(e, p) for e, p in zip(list(ema_unet.parameters()) + list(ema_text.parameters()), params)] if a.ema else []
    t0, step, budget = time.time(), 0, a.minutes * 60
    # The VAE is frozen: encoding a fixed set of images once (posterior mean
    # and std; the latent is still sampled every step) saves the encoder
    # forward on every batch.
    n = min(a.latents, len(imgs)) if a.latents else len(imgs)
    if a.latents:
        # Cached beside the data, keyed by the VAE file, for the next run.
        st = os.stat(os.path.join(a.vae, "diffusion_pytorch_model.safetensors"))
        cache = os.path.join(a.data, f"latents_{n}_{st.st_size}_{int(st.st_mtime)}.pt")
        if os.path.exists(cache):
            lat_mean, lat_std = torch.load(cache)
        else:
            # Start from the largest smaller cache of the same VAE, if any: its
            # images are the first ones of the same data.
            ms, ss, have = [], [], 0
            key = f"_{st.st_size}_{int(st.st_mtime)}.pt"
            for f in os.listdir(a.data):
                m = re.fullmatch(r"latents_(\d+)" + re.escape(key), f)
                if m and have < int(m.group(1)) < n:
                    have = int(m.group(1))
            if have:
                m, s = torch.load(os.path.join(a.data, f"latents_{have}{key}"))
                # Caches written before the encoder loop stopped at n hold a
                # few rows past it (10,048 for 10,000): keep exactly the first
                # `have`, or every later latent sits beside another image's caption.
                ms, ss = [m[:have]], [s[:have]]
                print(f"reusing {have} cached latents", flush=True)
            with torch.no_grad():
                for i in range(have, n, 64):
                    m, lv = vae.encode(TV.to_pixels(imgs[i:min(i + 64, n)]))
                    ms.append(m)
                    ss.append(torch.exp(0.5 * lv))
            lat_mean, lat_std = torch.cat(ms), torch.cat(ss)
            torch.save((lat_mean, lat_std), cache)
        lat_mean, lat_std = lat_mean[:n], lat_std[:n]
        assert len(lat_mean) == n == len(lat_std), f"{len(lat_mean)} latents for {n} images"
        print(f"encoded {n} images in {(time.time() - t0) / 60:.1f} min", flush=True)
    while True:
        el = time.time() - t0
        if el > budget or (a.steps and step >= a.steps):
            break
        frac = max(el / budget, step / a.steps if a.steps else 0)
        for g in opt.param_groups:
            g["lr"] = a.lr * min(1.0, (step + 1) / 300) * (0.5 * (1 + math.cos(math.pi * min(frac, 1))) * 0.9 + 0.1)
        idx = np.random.randint(0, n, a.batch)
        if a.latents:
            x0 = (lat_mean[idx] + lat_std[idx] * torch.randn_like(lat_mean[idx])) * scale
        else:
            with torch.no_grad():
                mean, logvar = vae.encode(TV.to_pixels(imgs[idx]))
                x0 = (mean + torch.exp(0.5 * logvar) * torch.randn_like(mean)) * scale
        prompt = ids[idx].clone()
        prompt[torch.rand(a.batch) < a.drop] = empty
        t = torch.randint(0, 1000, (a.batch,))
        eps = torch.randn_like(x0)
        at = ac[t][:, None, None, None]
        xt = at.sqrt() * x0 + (1 - at).sqrt() * eps
        target = at.sqrt() * eps - (1 - at).sqrt() * x0 if vpred else eps
        loss = F.mse_loss(unet(xt, t.float(), text(prompt)), target)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        step += 1
        if ema_pairs:
            d = min(a.ema, (1 + step) / (10 + step))  # warm-up: early averages forget the random start
            with torch.no_grad():
                for e, p in ema_pairs:
                    e.mul_(d).add_(p, alpha=1 - d)
        if step % 100 == 0:
            print(f"step {step} {el / 60:.1f}min loss {loss.item():.4f}", flush=True)
    meta = dict(step=step, params=nparams, images=n, init_from=prev if a.init_from else None, minutes=round((time.time() - t0) / 60, 1),
                loss=round(loss.item(), 4) if step else None, ema=a.ema or None, lr=a.lr, zero_snr=a.zero_snr or None)
    export(a.out, ema_unet, ema_text, tok, a.vae, meta)
    print("exported", a.out, meta, flush=True)


if __name__ == "__main__":
    main()
