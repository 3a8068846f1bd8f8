#!/usr/bin/python3
"""PyTorch peer for `loom bench video`: the same pipeline folder's motion UNet
(motion.py, the reference core/towers' motion UNet is tested against), text
encoder and VAE, timed as the video plugin runs them under torch.no_grad: one
guided step is one forward of the motion UNet on the unconditional and the
conditional copy of one video's frames together (2·frames latents), the VAE
decodes the frames in one batch, the text encoder runs the prompt and the
empty prompt. A folder whose model_index.json "loom" defaults ask for
candidates > 1 samples that many videos in one batch (each guided step on
2·candidates·frames latents) and scores them with one conditional pass
(candidates·frames latents) before decoding the one it keeps, as the plugin
does. ms_per_video is steps guided steps, the scoring pass, one decode and
one text encoding (the sampler's own arithmetic is negligible beside them).
Prints one JSON line.

  OPENBLAS_NUM_THREADS=1 /usr/bin/python3 tools/video/bench_torch.py --model models/shapes-video --threads 1"""
import argparse
import importlib.util
import json
import os
import sys
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import motion as V  # noqa: E402

M = V.M
# load(), timed() and the CPU figures timed() records are the image peer's (tools/diffusion/bench_torch.py).
_spec = importlib.util.spec_from_file_location("diffusion_bench", os.path.join(os.path.dirname(HERE), "diffusion", "bench_torch.py"))
DB = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(DB)
load, timed = DB.load, DB.timed


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="models/shapes-video")
    ap.add_argument("--steps", type=int, default=20, help="denoising steps per video (ms_per_video)")
    ap.add_argument("--frames", type=int, default=16)
    ap.add_argument("--repeats", type=int, default=5, help="guided steps and decodes timed")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--candidates", type=int, default=0, help="videos sampled per request (0: the folder's loom defaults, else 1)")
    a = ap.parse_args()
    if a.candidates == 0:
        with open(os.path.join(a.model, "model_index.json")) as f:
            a.candidates = max(json.load(f).get("loom", {}).get("defaults", {}).get("candidates", 1), 1)
    N = a.candidates
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    unet, ucfg = load(V.UNetMotionModel, os.path.join(a.model, "unet"), "diffusion_pytorch_model.safetensors")
    text, tcfg = load(M.CLIPTextModel, os.path.join(a.model, "text_encoder"), "model.safetensors")
    vae, vcfg = load(M.AutoencoderKL, os.path.join(a.model, "vae"), "diffusion_pytorch_model.safetensors")
    side, F, L = ucfg["sample_size"], a.frames, tcfg["max_position_embeddings"]
    C = ucfg["in_channels"] - ucfg.get("first_frame_channels", 0)  # latent channels (the rest: the first frame's)
    with torch.no_grad():
        ids = torch.randint(0, tcfg["vocab_size"], (2, L))
        ctx = text(ids).repeat_interleave(N * F, 0)  # (2·N·F, L, D): each half's prompt for its candidates' frames
        x = torch.randn(2 * N * F, C, side, side)
        t = torch.tensor(500.0)
        z = torch.randn(F, vcfg["latent_channels"], side, side)
        step = timed(lambda: unet(x, t, ctx, F), a.repeats, "cpu_ms_per_unet_step")
        score = 0.0
        if N > 1:
            score = timed(lambda: unet(x[:N * F], torch.tensor(700.0), ctx[N * F:], F), a.repeats, "cpu_ms_rerank")
        dec = timed(lambda: vae.decode(z), a.repeats, "cpu_ms_vae_decode")
        txt = timed(lambda: text(ids), a.repeats, "cpu_ms_text_encoder")
    print(json.dumps({"op": "video", "impl": "pytorch", "torch": torch.__version__, "threads": a.threads, "steps": a.steps, "frames": F,
                      "candidates": N, "ms_per_video": round(a.steps * step + score + dec + txt, 3), "ms_per_unet_step": round(step, 3),
                      "ms_rerank": round(score, 3),
                      "ms_vae_decode": round(dec, 3), "ms_text_encoder": round(txt, 3),
                      "latent": [C, side, side], "guided_batch": 2 * N * F, **DB.CPU}))


if __name__ == "__main__":
    main()
