#!/usr/bin/python3
"""Train the Shapes KL autoencoder (AutoencoderKL layout, model.py) on data from
the Go renderer and export a diffusers-style folder: config.json +
diffusion_pytorch_model.safetensors. 64×64 RGB → 4×16×16 latents (f = 4).

  go run ./tools/shapesgen -n 100000 -seed 1 -out /tmp/shapes/train
  go run ./tools/shapesgen -n 2000 -seed 2 -out /tmp/shapes/val
  OMP_NUM_THREADS=2 /usr/bin/python3 tools/diffusion/train_vae.py --data /tmp/shapes \\
      --out models/shapes-diffusion/vae --minutes 60

Loss: L1 + MSE reconstruction plus a small KL term (the latent stays close to a
Gaussian that the UNet can model). scaling_factor is set at export to 1/std of
the validation latents, as latent diffusion does. Debian's torch only."""
import argparse
import json
import math
import os
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

VAE = dict(_class_name="AutoencoderKL", in_channels=3, out_channels=3, latent_channels=4,
           block_out_channels=[32, 64, 64], layers_per_block=1, norm_num_groups=32, sample_size=64,
           down_block_types=["DownEncoderBlock2D"] * 3, up_block_types=["UpDecoderBlock2D"] * 3,
           act_fn="silu", scaling_factor=1.0)


def load(prefix):
    caps = open(prefix + ".txt").read().splitlines()
    imgs = np.fromfile(prefix + ".u8", dtype=np.uint8).reshape(len(caps), 64, 64, 3)
    return imgs, caps


def to_pixels(imgs):
    """uint8 (B,64,64,3) → float (B,3,64,64) in [-1, 1]."""
    return torch.from_numpy(np.ascontiguousarray(imgs)).permute(0, 3, 1, 2).float() / 127.5 - 1


def export(vae, cfg, out, meta):
    os.makedirs(out, exist_ok=True)
    sd = {k: v.detach().float().numpy() for k, v in vae.state_dict().items()}
    safet.save(os.path.join(out, "diffusion_pytorch_model.safetensors"), sd, {"format": "pt"})
    json.dump(dict(cfg, loom=meta), open(os.path.join(out, "config.json"), "w"), indent=1)


@torch.no_grad()
def evaluate(vae, imgs, n=500):
    vae.eval()
    px = to_pixels(imgs[:n])
    mean, _ = vae.encode(px)
    rec = vae.decode(mean)
    vae.train()
    psnr = (10 * torch.log10(4 / F.mse_loss(rec.clamp(-1, 1), px))).item()  # range 2 → peak² = 4
    return psnr, mean.std().item()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="/tmp/shapes")
    ap.add_argument("--out", default="models/shapes-diffusion/vae")
    ap.add_argument("--minutes", type=float, default=60, help="time budget")
    ap.add_argument("--steps", type=int, default=0, help="stop after this many steps (0: only the time budget)")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=4e-4)
    ap.add_argument("--kl", type=float, default=1e-6)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--init-from", default="", help="start from this exported VAE folder (a second budget)")
    ap.add_argument("--latent-noise", type=float, default=0,
                    help="decoder-only: add Gaussian noise of a per-image std drawn from U(0, this), in the UNet's scaled "
                         "latent units, so the decoder learns to draw the clean scene from the imperfect latents a "
                         "sampler ends on")
    ap.add_argument("--decoder-only", action="store_true",
                    help="with --init-from: freeze the encoder and train only the decoder, so the latent space "
                         "(and a UNet trained on it) stays valid, as Stable Diffusion's fine-tuned VAE decoders do")
    a = ap.parse_args()
    if a.decoder_only and not a.init_from:
        sys.exit("--decoder-only needs --init-from")
    if a.latent_noise and not a.decoder_only:
        sys.exit("--latent-noise needs --decoder-only (the encoder must keep its latent space)")
    torch.manual_seed(a.seed)
    np.random.seed(a.seed)
    torch.set_num_threads(a.threads)
    tr, _ = load(os.path.join(a.data, "train"))
    va, _ = load(os.path.join(a.data, "val"))
    vae = M.AutoencoderKL(VAE)
    prev, cfg0 = None, None
    if a.init_from:
        sd = safet.load(os.path.join(a.init_from, "diffusion_pytorch_model.safetensors"))
        vae.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in sd.items()})
        cfg0 = json.load(open(os.path.join(a.init_from, "config.json")))
        prev = cfg0.get("loom")
        print(f"initialised from {a.init_from} ({prev}); before: PSNR/latent std {evaluate(vae, va)}", flush=True)
    nparams = sum(p.numel() for p in vae.parameters())
    trained = list(vae.decoder.parameters()) + list(vae.post_quant_conv.parameters()) if a.decoder_only else list(vae.parameters())
    print(f"params {nparams} (training {sum(p.numel() for p in trained)}) train {len(tr)} val {len(va)}", flush=True)
    opt = torch.optim.AdamW(trained, lr=a.lr, weight_decay=0.0)
    t0, step, budget = time.time(), 0, a.minutes * 60
    while True:
        el = time.time() - t0
        if el > budget or (a.steps and step >= a.steps):
            break
        frac = max(el / budget, step / a.steps if a.steps else 0)
        for g in opt.param_groups:
            g["lr"] = a.lr * min(1.0, (step + 1) / 200) * (0.5 * (1 + math.cos(math.pi * min(frac, 1))) * 0.9 + 0.1)
        px = to_pixels(tr[np.random.randint(0, len(tr), a.batch)])
        with torch.set_grad_enabled(not a.decoder_only):
            mean, logvar = vae.encode(px)
        z = mean + torch.exp(0.5 * logvar) * torch.randn_like(mean)
        if a.latent_noise:
            sd = torch.rand(z.shape[0], 1, 1, 1) * a.latent_noise / cfg0["scaling_factor"]
            z = z + sd * torch.randn_like(z)
        rec = vae.decode(z)
        kl = 0.5 * (mean ** 2 + logvar.exp() - 1 - logvar).sum((1, 2, 3)).mean()
        loss = F.l1_loss(rec, px) + F.mse_loss(rec, px) + a.kl * kl
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trained, 1.0)
        opt.step()
        step += 1
        if step % 100 == 0:
            print(f"step {step} {el / 60:.1f}min loss {loss.item():.4f} kl {kl.item():.1f}", flush=True)
    psnr, std = evaluate(vae, va)
    # A decoder-only run keeps the latent space, so it keeps the scaling factor the UNet was trained with.
    cfg = dict(VAE, scaling_factor=cfg0["scaling_factor"] if a.decoder_only else round(1 / max(std, 1e-3), 5))
    meta = dict(step=step, val_psnr_db=round(psnr, 2), latent_std=round(std, 4), params=nparams,
                minutes=round((time.time() - t0) / 60, 1), init_from=prev, decoder_only=a.decoder_only or None,
                latent_noise=a.latent_noise or None)
    export(vae, cfg, a.out, meta)
    print("exported", a.out, meta, flush=True)


if __name__ == "__main__":
    main()
