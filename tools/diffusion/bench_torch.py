#!/usr/bin/python3
"""PyTorch peer for `loom bench image`: the same pipeline folder's UNet, text
encoder and VAE (model.py, the reference the Go towers are tested against),
timed as the Go plugin runs them: one guided UNet step is one forward on a
batch of 2 latents (unconditional + conditional context), one VAE decode of one
latent, under torch.no_grad. Prints one JSON line.

  OPENBLAS_NUM_THREADS=1 /usr/bin/python3 tools/diffusion/bench_torch.py --model models/shapes-diffusion --threads 2"""
import argparse
import json
import os
import sys
import time

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.append(os.path.join(os.path.dirname(HERE), "captioner"))  # safet.py
import model as M  # noqa: E402
import safet  # noqa: E402


def load(cls, d, fname):
    cfg = json.load(open(os.path.join(d, "config.json")))
    cfg.pop("loom", None)
    net = cls(cfg)
    net.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in safet.load(os.path.join(d, fname)).items()})
    return net.eval(), cfg


CPU = {}


def timed(fn, n, name):
    """Wall ms per call; CPU[name] gets process CPU ms per call (all threads)."""
    fn()  # warm-up
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(n):
        fn()
    CPU[name] = round(1000 * (time.process_time() - c0) / n, 3)
    return 1000 * (time.perf_counter() - t0) / n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="models/shapes-diffusion")
    ap.add_argument("--steps", type=int, default=60, help="UNet steps to time")
    ap.add_argument("--decodes", type=int, default=20)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    unet, ucfg = load(M.UNet2DConditionModel, os.path.join(a.model, "unet"), "diffusion_pytorch_model.safetensors")
    text, tcfg = load(M.CLIPTextModel, os.path.join(a.model, "text_encoder"), "model.safetensors")
    vae, vcfg = load(M.AutoencoderKL, os.path.join(a.model, "vae"), "diffusion_pytorch_model.safetensors")
    side = ucfg["sample_size"]
    L = tcfg["max_position_embeddings"]
    with torch.no_grad():
        ids = torch.randint(0, tcfg["vocab_size"], (2, L))
        ctx = text(ids)
        if isinstance(ctx, (tuple, list)):
            ctx = ctx[0]
        x = torch.randn(2, ucfg["in_channels"], side, side)
        t = torch.tensor(500.0)
        z = torch.randn(1, vcfg["latent_channels"], side, side)
        step = timed(lambda: unet(x, t, ctx), a.steps, "cpu_ms_per_unet_step")
        dec = timed(lambda: vae.decode(z), a.decodes, "cpu_ms_vae_decode")
        txt = timed(lambda: text(ids), a.decodes, "cpu_ms_text_encoder")
    print(json.dumps({"op": "image", "impl": "pytorch", "torch": torch.__version__, "threads": a.threads,
                      "ms_per_unet_step": round(step, 3), "ms_vae_decode": round(dec, 3), "ms_text_encoder": round(txt, 3),
                      "latent": [ucfg["in_channels"], side, side], "guided_batch": 2, **CPU}))


if __name__ == "__main__":
    main()
