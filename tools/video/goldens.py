#!/usr/bin/python3
"""Golden files for Loom's Go motion UNet (core/towers/motion.go).

Builds a tiny random-init UNetMotionModel (motion.py) from a fixed seed, norm
weights perturbed so a mis-bound tensor shows and motion modules' proj_out
non-zero (AnimateDiff starts them at zero, which would hide them), rounds
every weight to float16, and writes it in both of diffusers' layouts:

  core/towers/testdata/motion_tiny/unet/                 UNetMotionModel: spatial + motion weights in one file
  core/towers/testdata/motion_tiny/split/unet/           UNet2DConditionModel (the spatial weights)
  core/towers/testdata/motion_tiny/split/motion_adapter/ MotionAdapter (the motion modules)
  core/towers/testdata/motion_golden.safetensors         inputs and outputs of one step on two
      videos of five frames (text-to-video), and of the same step with frame 0 held
      clean at timestep 0 (image-to-video)
  core/towers/testdata/motion_tiny_text/{unet, split/…}  the same shape with motion modules whose
      attn2 reads the text (motion_cross_attention_dim, as models/shapes-video), and
  core/towers/testdata/motion_text_golden.safetensors    its step on the same two videos
  core/towers/testdata/motion_tiny_text_first/{unet, split/…} the text model with first-frame
      input channels (first_frame_channels: conv_in reads 4 + 4 channels), and
  core/towers/testdata/motion_first_golden.safetensors   its step: text-to-video (those channels
      zero) and image-to-video (frame 0 held, the picture's latent in those channels of every frame)
  core/towers/testdata/motion_tiny_text_global/{unet, split/…} the text model with global motion
      modules after the motion modules of down_blocks.0, mid_block and up_blocks.1
      (motion_global_blocks: attention across all frames and pixels at once), and
  core/towers/testdata/motion_global_golden.safetensors  its step
  core/towers/testdata/motion_tiny_text_global_pool/{unet, split/…} config.json files alone: the same
      weights as motion_tiny_text_global (the test copies them in) with the global modules' keys and
      values pooled (motion_global_kv_pool: 3×3 cells at 8×8, 2×2 at 4×4), and
  core/towers/testdata/motion_global_pool_golden.safetensors its step
  Each golden also holds the image-to-video step with the spatial cross-attention reading other
  states (spatial_ctx) than the motion modules (ctx): out_first_motion_text.

  /usr/bin/python3 tools/video/goldens.py"""
import json
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.path.append(os.path.join(ROOT, "tools", "captioner"))  # safet.py only
import motion as V  # noqa: E402
import safet  # noqa: E402

TD = os.path.join(ROOT, "core", "towers", "testdata")
SPATIAL = dict(_class_name="UNet2DConditionModel", sample_size=8, in_channels=4, out_channels=4,
               block_out_channels=[16, 32], layers_per_block=1, norm_num_groups=8, norm_eps=1e-5,
               down_block_types=["CrossAttnDownBlock2D", "DownBlock2D"], up_block_types=["UpBlock2D", "CrossAttnUpBlock2D"],
               cross_attention_dim=24, attention_head_dim=2, flip_sin_to_cos=True, freq_shift=0,
               use_linear_projection=False, act_fn="silu")
CFG = V.motion_config(SPATIAL, heads=2, max_len=8)


def save(sd, cfg, folder, weights=True):
    os.makedirs(folder, exist_ok=True)
    if weights:
        safet.save(os.path.join(folder, "diffusion_pytorch_model.safetensors"), {k: v.detach().half().numpy() for k, v in sd.items()}, {"format": "pt"})
    json.dump(cfg, open(os.path.join(folder, "config.json"), "w"), indent=1)


def build(cfg, seed):
    torch.manual_seed(seed)
    m = V.UNetMotionModel(cfg)
    with torch.no_grad():
        for name, p in m.named_parameters():
            if "norm" in name:
                p.add_(0.2 * torch.randn_like(p))
        for p in m.state_dict().values():  # parameters and the frame-position buffers, as stored
            p.copy_(p.half().float())
    return m.eval()


def step(m, path):
    g = torch.Generator().manual_seed(12)
    b, f = 2, 5
    sample = torch.randn(b * f, 4, 8, 8, generator=g)
    t = torch.tensor([917.0, 33.0])
    ctx = torch.randn(b, 7, 24, generator=g)
    first = torch.randn(b, 4, 8, 8, generator=g)  # a clean first-frame latent per video
    spatial_ctx = torch.randn(b, 7, 24, generator=g)  # other states for the spatial layers (image_to_video_text "motion")
    with torch.no_grad():
        out = m(sample, t.repeat_interleave(f), ctx.repeat_interleave(f, 0), f)
        # Image-to-video: frame 0 is the clean latent at timestep 0, the rest as before.
        s2 = sample.clone().reshape(b, f, 4, 8, 8)
        s2[:, 0] = first
        t2 = t[:, None].repeat(1, f)
        t2[:, 0] = 0
        out_first = m(s2.reshape(b * f, 4, 8, 8), t2.reshape(-1), ctx.repeat_interleave(f, 0), f, first=first)
        # The same with the spatial cross-attention reading other states than the motion modules.
        out_first_motion_text = m(s2.reshape(b * f, 4, 8, 8), t2.reshape(-1), spatial_ctx.repeat_interleave(f, 0), f, first=first,
                                  motion_ctx=ctx.repeat_interleave(f, 0))
    gold = dict(sample=sample.numpy(), t=t.numpy(), ctx=ctx.numpy(), out=out.numpy(), first=first.numpy(), out_first=out_first.numpy(),
                spatial_ctx=spatial_ctx.numpy(), out_first_motion_text=out_first_motion_text.numpy(),
                pe=V.sinusoid_table(16, 8)[0].numpy())
    safet.save(path, gold, {"maker": "tools/video/goldens.py", "frames": str(f)})
    print("wrote", path, {k: list(v.shape) for k, v in gold.items()})


def main():
    torch.set_num_threads(1)
    write(build(CFG, 11), CFG, "motion_tiny", "motion_golden.safetensors")
    text_cfg = V.motion_config(SPATIAL, heads=2, max_len=8, cross=True)
    write(build(text_cfg, 13), text_cfg, "motion_tiny_text", "motion_text_golden.safetensors")
    first_cfg = V.motion_config(SPATIAL, heads=2, max_len=8, cross=True, first_frame=True)
    write(build(first_cfg, 17), first_cfg, "motion_tiny_text_first", "motion_first_golden.safetensors")
    global_cfg = V.motion_config(SPATIAL, heads=2, max_len=8, cross=True, global_blocks=("down_blocks.0", "mid_block", "up_blocks.1"))
    write(build(global_cfg, 19), global_cfg, "motion_tiny_text_global", "motion_global_golden.safetensors")
    # The same weights, the global modules reading pooled keys and values: 3×3 cells of the 8×8 level
    # (edge cells of 2 pixels), 2×2 of the mid block's 4×4.
    pool_cfg = V.motion_config(SPATIAL, heads=2, max_len=8, cross=True, global_blocks=("down_blocks.0", "mid_block", "up_blocks.1"),
                               global_kv_pool={"down_blocks.0": 3, "mid_block": 2, "up_blocks.1": 2})
    pooled = build(pool_cfg, 19)
    same = build(global_cfg, 19).state_dict()
    assert all(torch.equal(v, same[k]) for k, v in pooled.state_dict().items()), "pooled modules' weights differ from the plain ones"
    write(pooled, pool_cfg, "motion_tiny_text_global_pool", "motion_global_pool_golden.safetensors", weights=False)


def write(m, cfg, folder, golden, weights=True):
    """Both layouts of m under testdata/folder and its golden step; without
    weights the folder holds the config.json files alone (the test puts
    another folder's weights, the same tensors, beside them)."""
    sd = m.state_dict()
    base = os.path.join(TD, folder)
    save(sd, cfg, os.path.join(base, "unet"), weights)
    save({k: v for k, v in sd.items() if "motion_modules" not in k}, V.spatial_config(cfg), os.path.join(base, "split", "unet"), weights)
    save({k: v for k, v in sd.items() if "motion_modules" in k}, V.adapter_config(cfg), os.path.join(base, "split", "motion_adapter"), weights)
    step(m, os.path.join(TD, golden))


if __name__ == "__main__":
    main()
