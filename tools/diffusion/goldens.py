#!/usr/bin/python3
"""Golden files for Loom's Go diffusion towers and samplers.

Builds the tiny random-init models of model.py from a fixed seed (norm weights
perturbed so a mis-bound tensor shows), rounds every weight to float16 (so the
committed diffusers-style folders stay small and the Go loader's f16 widening is
exercised), and writes:

  core/towers/testdata/diffusion_tiny/{unet,unet_linear,vae,text_encoder}/ config.json + weights
  core/towers/testdata/diffusion_golden.safetensors   inputs and outputs of one
      text-encoder pass, one step of each UNet (batch 2), one VAE encode + decode
      and a 4-step guided Euler text-to-image run
  core/sched/testdata/sched_golden.json               timesteps, sigmas and a
      short sampling trajectory of every sampler, plus img2img starts

  /usr/bin/python3 tools/diffusion/goldens.py"""
import json
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.path.append(os.path.join(ROOT, "tools", "captioner"))  # safet.py only
import model as M  # noqa: E402
import safet  # noqa: E402
import sched as S  # noqa: E402

TD = os.path.join(ROOT, "core", "towers", "testdata")


def tiny(cls, cfg, seed):
    torch.manual_seed(seed)
    m = cls(cfg)
    with torch.no_grad():
        for name, p in m.named_parameters():
            if "norm" in name:  # GroupNorm/LayerNorm start at 1/0: make them informative
                p.add_(0.2 * torch.randn_like(p))
            p.copy_(p.half().float())
    return m.eval()


def export(m, cfg, folder, fname):
    os.makedirs(folder, exist_ok=True)
    sd = {k: v.detach().half().numpy() for k, v in m.state_dict().items()}
    safet.save(os.path.join(folder, fname), sd, {"format": "pt"})
    json.dump(cfg, open(os.path.join(folder, "config.json"), "w"), indent=1)


def towers():
    base = os.path.join(TD, "diffusion_tiny")
    clip = tiny(M.CLIPTextModel, M.TINY_CLIP, 1)
    unet = tiny(M.UNet2DConditionModel, M.TINY_UNET, 2)
    vae = tiny(M.AutoencoderKL, M.TINY_VAE, 3)
    unet2 = tiny(M.UNet2DConditionModel, M.TINY_UNET_LINEAR, 6)
    export(unet2, M.TINY_UNET_LINEAR, os.path.join(base, "unet_linear"), "diffusion_pytorch_model.safetensors")
    export(clip, M.TINY_CLIP, os.path.join(base, "text_encoder"), "model.safetensors")
    export(unet, M.TINY_UNET, os.path.join(base, "unet"), "diffusion_pytorch_model.safetensors")
    export(vae, M.TINY_VAE, os.path.join(base, "vae"), "diffusion_pytorch_model.safetensors")
    g = torch.Generator().manual_seed(4)
    ids = torch.randint(0, M.TINY_CLIP["vocab_size"], (2, M.TINY_CLIP["max_position_embeddings"]), generator=g)
    sample = torch.randn(2, 4, 16, 16, generator=g)
    t = torch.tensor([981.0, 21.0])
    ctx = torch.randn(2, 16, 64, generator=g)
    lat = torch.randn(1, 4, 32, 32, generator=g)
    img = torch.rand(1, 3, 64, 64, generator=g) * 2 - 1
    with torch.no_grad():
        clip_out = clip(ids)
        unet_out = unet(sample, t, ctx)
        dec = vae.decode(lat)
        mean, logvar = vae.encode(img)
        # A whole tiny text-to-image run: CLIP on prompt and empty prompt,
        # 4 Euler steps with classifier-free guidance 5, VAE decode.
        cond = torch.randint(0, 300, (1, 16), generator=g)
        uncond = torch.full((1, 16), M.TINY_CLIP["eos_token_id"])
        uncond[0, 0] = M.TINY_CLIP["bos_token_id"]
        pctx = torch.cat([clip(uncond), clip(cond)])
        sm = S.Sampler("euler", dict(prediction_type="epsilon"), 4)
        noise = torch.randn(1, 4, 16, 16, generator=g)
        x = (noise.double() * sm.init_sigma).float().numpy()
        for i in range(4):
            inp = torch.from_numpy(sm.scale(x, i).astype(np.float32)).repeat(2, 1, 1, 1)
            eps = unet(inp, torch.tensor([sm.ts[i]] * 2, dtype=torch.float32), pctx).numpy()
            guided = eps[:1] + np.float32(5.0) * (eps[1:] - eps[:1])
            x = sm.step(guided.astype(np.float64), x.astype(np.float64), i, None).astype(np.float32)
        ctx2 = torch.randn(2, 5, 32, generator=g)
        unet2_out = unet2(sample, t, ctx2)
        pipe_img = vae.decode(torch.from_numpy(x) / M.TINY_VAE["scaling_factor"])
    out = dict(unet2_ctx=ctx2.numpy(), unet2_out=unet2_out.numpy(), pipe_cond=cond.int().numpy(), pipe_uncond=uncond.int().numpy(), pipe_noise=noise.numpy(),
               pipe_latents=x, pipe_image=pipe_img.numpy(),
               clip_ids=ids.int().numpy(), clip_out=clip_out.numpy(), unet_sample=sample.numpy(), unet_t=t.numpy(),
               unet_ctx=ctx.numpy(), unet_out=unet_out.numpy(), vae_latents=lat.numpy(), vae_decoded=dec.numpy(),
               vae_image=img.numpy(), vae_mean=mean.numpy(), vae_logvar=logvar.numpy())
    path = os.path.join(TD, "diffusion_golden.safetensors")
    safet.save(path, out, {"maker": "tools/diffusion/goldens.py"})
    print("wrote", path, {k: list(v.shape) for k, v in out.items()})


def schedulers():
    rng = np.random.default_rng(5)
    n = 6  # values per trajectory
    steps = 8
    cases = []
    base = dict(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                steps_offset=1, set_alpha_to_one=False)
    variants = []
    for kind in ("ddim", "euler", "euler_a", "dpmpp_2m"):
        for pred in ("epsilon", "v_prediction"):
            variants.append((kind, dict(base, prediction_type=pred)))
    variants.append(("ddim", dict(base, prediction_type="epsilon", eta=1.0)))
    variants.append(("euler", dict(base, prediction_type="epsilon", timestep_spacing="leading")))
    variants.append(("euler", dict(base, prediction_type="epsilon", timestep_spacing="trailing")))
    variants.append(("dpmpp_2m", dict(base, prediction_type="epsilon", beta_schedule="linear", beta_start=0.0001, beta_end=0.02)))
    for kind, cfg in variants:
        s = S.Sampler(kind, cfg, steps)
        x = rng.standard_normal(n) * s.init_sigma
        model_out = rng.standard_normal((steps, n))
        noise = rng.standard_normal((steps, n))
        x_init = x.tolist()
        xs, scaled = [], []
        for i in range(steps):
            scaled.append(s.scale(x, i).tolist())
            x = s.step(model_out[i], x, i, noise[i])
            xs.append(x.tolist())
        x0 = rng.standard_normal(n)
        start = S.img2img_start(steps, 0.6)
        noisy = s.add_noise(x0, noise[0], start)
        cases.append(dict(kind=kind, config=cfg, steps=steps, timesteps=s.ts.tolist(), sigmas=s.sigmas.tolist(),
                          init_noise_sigma=float(s.init_sigma), x_init=x_init,
                          model_out=model_out.tolist(), noise=noise.tolist(), scaled=scaled, trajectory=xs,
                          img2img=dict(strength=0.6, start=start, x0=x0.tolist(), noisy=noisy.tolist())))
    ac = S.alphas_cumprod(base)
    gold = dict(alphas_cumprod_at={str(i): float(ac[i]) for i in (0, 1, 499, 999)}, cases=cases)
    path = os.path.join(ROOT, "core", "sched", "testdata", "sched_golden.json")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    json.dump(gold, open(path, "w"), indent=0)
    print("wrote", path, len(cases), "cases")


if __name__ == "__main__":
    torch.set_num_threads(1)
    if len(sys.argv) < 2 or sys.argv[1] != "sched":
        towers()
    schedulers()
