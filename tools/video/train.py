#!/usr/bin/python3
"""Train the Shapes video model: AnimateDiff's recipe on the shipped image
model. The motion UNet (motion.py) starts from models/shapes-diffusion's UNet
for its spatial layers, with motion modules whose proj_out starts at zero (so
step 0 is the image model on every frame); the VAE and text encoder are the
image model's, frozen. Trained: the motion modules, and the spatial
cross-attention (attn2) at a lower rate — the image model never saw the words
"moving", "up" and "down", and it reads "left"/"right" as where to draw the
object, which is where a clip moving that way ends, not where it starts.

--motion-text 1 (the default) gives the motion modules the prompt: their
attn2 attends to the text states (motion_cross_attention_dim, a Loom
extension of diffusers' config) instead of across the frames a second time.
In AnimateDiff only the spatial cross-attention sees the text, so the
direction had to reach the motion through features that are the same in
every frame; a run so (tools/video, 564 steps) moved its objects but read
the direction 0 % of the time. --init-from starts from another run's
checkpoint or an exported unet's safetensors (tensors of the same shape),
--t-high draws that share of timesteps from [--t-high-from, 1000), where the
layout of the motion is decided, and every checkpoint prints a probe: the
v-loss of 8 clips at --probe-t with their own prompt and with the opposite
direction's, whose gap is what the text's direction is worth to the model
(at t = 700 the noisy frames already show the way the object goes, so the
gap says little there; at t ≥ 900 only the text can say). --fg-weight puts
extra loss weight on the object's latent pixels (a few of the 256 per
frame; the background is the image model's and already right).

--global-blocks mid_block,up_blocks.0,… gives each motion module of those
blocks a global companion (motion.GlobalMotionModule, motion_global_blocks in
the export's config): attention across every frame and pixel of a video at
once, so the coarse levels can see where the object stands in all frames —
a per-pixel motion module cannot, and small objects came out on two tracks.
Their proj_out starts at zero (an --init-from checkpoint without them starts
unchanged); --global-lr is their learning rate, in a group of their own.
--global-kv-pool up_blocks.2=4 has those blocks' global modules read keys
and values averaged over 4×4 pixels of each frame (motion_global_kv_pool):
the finest level's global attention at 1/16 of its cost.

v-prediction on the image model's zero-terminal-SNR schedule, 10% of prompts
dropped for classifier-free guidance. A fraction --i2v of clips train
image-to-video as Loom runs it (core/towers/motion.go): frame 0 is the clip's
clean latent at timestep 0 and is left out of the loss; a share --i2v-other
of those carry the prompt of another object moving the same way, so the
picture, not the text, decides what moves. --first-frame 1 also gives every
frame the picture at conv_in (first_frame_channels: the clean first-frame
latent concatenated to each frame's input, zero in text-to-video clips, as
Stable Video Diffusion concatenates its image latent): conv_in.weight gains
zero columns for those channels (motion.widen_conv_in), so a text-to-video
checkpoint (--init-from) starts unchanged, and only those columns train (at
--lr, no weight decay). Each checkpoint then also probes image-to-video: the
v-loss of 8 clips prompted with another object, given their own first frame
against another clip's; the gap is what the picture is worth.
--i2v-spatial-text 0 trains image-to-video with the prompt read by the motion
modules alone, the spatial cross-attention reading the empty prompt: the
picture then says what is drawn and the prompt only how it moves, where with
the prompt everywhere the prompt's object (drawn by the spatial layers, which
the image model trained on it) beat the picture in every clip. The export's
unet config says so ("image_to_video_text": "motion") and Loom serves it so.

Data: clips of the motion world (go run ./tools/shapesgen -video), their
frames encoded once by the image model's VAE with Loom's own encoder
(tools/video/encodeclips: the posterior's mean and std; a latent is still
sampled every step). Checkpoints every
--ckpt-minutes to --state (and exports the folder); --resume continues one.
Exports a diffusers-style AnimateDiff folder:

  OUT/model_index.json      (loom: training metadata and sampling defaults)
  OUT/unet/                 UNetMotionModel, f16 weights
  OUT/scheduler/            the image model's scheduler config
  OUT/vae, text_encoder, tokenizer -> ../shapes-diffusion/… (symlinks: the shipped parts, unchanged)

  go run ./tools/shapesgen -video -n 4000 -seed 11 -out /tmp/video/train
  go run ./tools/video/encodeclips -data /tmp/video/train -vae models/shapes-diffusion/vae -n 4000
  OMP_NUM_THREADS=1 /usr/bin/python3 tools/video/train.py --data /tmp/video --clips 4000 \\
      --base models/shapes-diffusion --out models/shapes-video --minutes 120 --threads 1

Debian's torch only."""
import argparse
import json
import math
import os
import random
import shutil
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
TOOLS = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.append(os.path.join(TOOLS, "diffusion"))
sys.path.append(os.path.join(TOOLS, "captioner"))
import motion as V  # noqa: E402
import safet  # noqa: E402
import sched as S  # noqa: E402
import train_unet as TU  # noqa: E402

FRAMES = 16
M = V.M  # tools/diffusion/model.py


def frame_noise(B, share, gen=None):
    """Unit Gaussian noise (B, FRAMES, 4, 16, 16) whose frames share the
    fraction share of their variance: sqrt(share)·common + sqrt(1-share)·own
    (each frame's marginal stays N(0, 1)). share 0 draws exactly what
    independent noise always drew; otherwise the common part is drawn after
    the frames' own, in the order Loom's sampler draws them."""
    own = torch.randn(B, FRAMES, 4, 16, 16, generator=gen)
    if share <= 0:
        return own
    common = torch.randn(B, 1, 4, 16, 16, generator=gen)
    return math.sqrt(1 - share) * own + math.sqrt(share) * common


def load_module(mod, path):
    sd = safet.load(path)
    mod.load_state_dict({k: torch.from_numpy(np.array(v, dtype=np.float32)) for k, v in sd.items()})
    return mod


def load_latents(prefix, n):
    """The frames' latent Gaussians, as tools/video/encodeclips writes them:
    float16 means then stds, each (N, 16, 4, 16, 16)."""
    path = f"{prefix}.{n}.latents.f16"
    if not os.path.exists(path):
        sys.exit(f"{path} is missing: go run ./tools/video/encodeclips -data {prefix} -n {n}")
    a = np.fromfile(path, dtype=np.float16).reshape(2, n, FRAMES, 4, 16, 16)
    return torch.from_numpy(a[0]), torch.from_numpy(a[1])


def foreground(lat):
    """A soft map of where the object is in each frame's latents (..., 4, h, w)
    → (..., h, w) in [0, 1]: the distance from the frame's background (its
    per-channel median), over its largest value, squared. The object covers a few of
    the 16×16 latent pixels; the background, which the image model already
    draws, the rest."""
    bg = lat.flatten(-2).median(-1).values[..., None, None]
    d = (lat - bg).abs().sum(-3)
    return (d / d.flatten(-2).amax(-1).clamp_min(1e-6)[..., None, None]) ** 2


def draw_probabilities(prompts, small_weight):
    """Each clip's chance of being drawn for a step, when small-object clips
    ("a small …" prompts) are drawn small_weight times as often as the others;
    None for uniform draws (small_weight 1). A small object (10–16 px, 3–4
    latent pixels) is where the sampled clips fail (a second object, the wrong
    direction); a large one is right in 29 of 31 evaluation clips."""
    if small_weight == 1:
        return None
    w = np.array([small_weight if p.split(" ", 2)[1:2] == ["small"] else 1.0 for p in prompts])
    return w / w.sum()


def trainable(unet, spatial_attn):
    """Motion modules, and (when spatial_attn) the spatial blocks' cross-attention."""
    motion, spatial = [], []
    for n, p in unet.named_parameters():
        if "motion_modules" in n:
            motion.append(p)
        elif spatial_attn and ".attn2." in n:
            spatial.append(p)
        else:
            p.requires_grad_(False)
    return motion, spatial


def ema_decay(decay, k):
    """The moving average's decay after k updates: warmed up as (1+k)/(10+k)
    so that the first updates are not held at the starting weights."""
    return min(decay, (1 + k) / (10 + k))


def ema_update(ema, unet, decay, k):
    """One update of the moving average of unet's trainable tensors (k: updates so far)."""
    d = ema_decay(decay, k)
    with torch.no_grad():
        for n, p in unet.named_parameters():
            if n in ema:
                ema[n].mul_(d).add_(p.detach(), alpha=1 - d)


def with_ema(unet, ema):
    """unet's state dict with its averaged tensors in place of the trained ones."""
    sd = dict(unet.state_dict())
    sd.update(ema or {})
    return sd


def export(out, unet, base, meta, defaults, ema=None):
    os.makedirs(os.path.join(out, "unet"), exist_ok=True)
    sd = {k: v.detach().half().numpy() for k, v in with_ema(unet, ema).items()}
    safet.save(os.path.join(out, "unet", "diffusion_pytorch_model.safetensors"), sd, {"format": "pt"})
    json.dump(unet.c, open(os.path.join(out, "unet", "config.json"), "w"), indent=1)
    os.makedirs(os.path.join(out, "scheduler"), exist_ok=True)
    shutil.copy(os.path.join(base, "scheduler", "scheduler_config.json"), os.path.join(out, "scheduler", "scheduler_config.json"))
    rel = os.path.relpath(os.path.abspath(base), os.path.abspath(out))
    for part in ("vae", "text_encoder", "tokenizer"):
        link = os.path.join(out, part)
        if os.path.islink(link):
            os.remove(link)
        if not os.path.exists(link):
            os.symlink(os.path.join(rel, part), link)
    json.dump(dict(_class_name="AnimateDiffPipeline", unet=["diffusers", "UNetMotionModel"], vae=["diffusers", "AutoencoderKL"],
                   text_encoder=["transformers", "CLIPTextModel"], tokenizer=["transformers", "CLIPTokenizer"],
                   scheduler=["diffusers", "DDIMScheduler"], motion_adapter=[None, None],
                   loom=dict(meta, defaults=defaults)),
              open(os.path.join(out, "model_index.json"), "w"), indent=1)


def parse_kv_pool(spec, global_blocks):
    """--global-kv-pool "up_blocks.2=4,mid_block=2" → {block: P}; each block
    one of global_blocks, P 2…16 (1 is no pooling and is left out)."""
    pools = {}
    for part in (p for p in spec.split(",") if p):
        name, _, v = part.partition("=")
        try:
            p = int(v)
        except ValueError:
            sys.exit(f"--global-kv-pool {part!r}: BLOCK=P with P a whole number")
        if name not in global_blocks or not 1 <= p <= 16 or name in pools:
            sys.exit(f"--global-kv-pool {part!r}: a block of --global-blocks ({','.join(global_blocks) or 'none'}), once, P 1…16")
        if p > 1:
            pools[name] = p
    return pools


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="/tmp/video", help="prefix folder of train.u8/train.txt from shapesgen -video")
    ap.add_argument("--clips", type=int, default=4000, help="train on the first this many clips")
    ap.add_argument("--base", default="models/shapes-diffusion")
    ap.add_argument("--out", default="models/shapes-video")
    ap.add_argument("--minutes", type=float, default=120, help="training budget (encoding excluded), across resumes")
    ap.add_argument("--batch", type=int, default=2, help="clips per step")
    ap.add_argument("--lr", type=float, default=1e-3, help="motion modules")
    ap.add_argument("--spatial-lr", type=float, default=1e-4, help="spatial cross-attention (0: frozen)")
    ap.add_argument("--heads", type=int, default=4, help="motion_num_attention_heads")
    ap.add_argument("--motion-text", type=int, default=1, help="1: the motion modules' attn2 reads the prompt (motion_cross_attention_dim)")
    ap.add_argument("--i2v", type=float, default=0.3, help="fraction of clips trained image-to-video")
    ap.add_argument("--i2v-other", type=float, default=0.5, help="fraction of image-to-video clips prompted with another object moving the same way")
    ap.add_argument("--drop", type=float, default=0.1, help="fraction of prompts dropped to the empty prompt")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--ckpt-minutes", type=float, default=10)
    ap.add_argument("--state", default="", help="checkpoint file (default OUT/train_state.pt; keep it out of the repo)")
    ap.add_argument("--resume", action="store_true", help="continue the checkpoint")
    ap.add_argument("--init-from", default="", help="start from this checkpoint's weights (fresh optimizer, step 0)")
    ap.add_argument("--subset", default="", help="train on these clip indexes only (comma-separated; a diagnostic)")
    ap.add_argument("--t-high", type=float, default=0, help="fraction of clips whose timestep is drawn from [500, 1000), where the motion is laid out")
    ap.add_argument("--fg-weight", type=float, default=0, help="extra loss weight on the object's latent pixels (1 + w·foreground)")
    ap.add_argument("--warmup", type=int, default=200, help="learning-rate warm-up steps")
    ap.add_argument("--lr-schedule", default="cosine", choices=["cosine", "rest"],
                    help="cosine: warm-up from step 0, cosine (1 → 0.1) over the whole budget, so a resume with a larger budget restarts it higher; "
                         "rest: --lr/--spatial-lr (not the checkpoint's), warm-up from this run's first step, cosine (1 → 0.1) over the budget left "
                         "(the checkpoint keeps where that was, so resuming a rest run again continues its curve)")
    ap.add_argument("--rest-origin", default="checkpoint", choices=["checkpoint", "here"],
                    help="with --lr-schedule rest and --resume: checkpoint continues the resumed rest run's curve; "
                         "here starts a new warm-up and cosine at this run's first step (a new run from a finished one's state)")
    ap.add_argument("--small-weight", type=float, default=1, help="draw small-object clips this many times as often as large ones")
    ap.add_argument("--t-high-from", type=int, default=500, help="the noisy range --t-high draws from: [this, 1000)")
    ap.add_argument("--probe-t", default="900,980", help="timesteps of the direction probe (where the layout, and so the direction, is decided)")
    ap.add_argument("--time-steps", type=int, default=0, help="time this many steps, print the rate, exit")
    ap.add_argument("--i2v-spatial-text", type=int, default=1, help="0: image-to-video clips give the spatial layers the empty prompt and only the motion modules the prompt (the picture says what is drawn, the text how it moves)")
    ap.add_argument("--global-blocks", default="", help="comma-separated blocks (mid_block, up_blocks.0, …) whose motion modules get a global companion: attention across all frames and pixels at once (motion_global_blocks)")
    ap.add_argument("--global-kv-pool", default="", help="BLOCK=P,…: those --global-blocks' global modules take keys and values "
                    "averaged over P×P pixels of each frame (motion_global_kv_pool), e.g. up_blocks.2=4")
    ap.add_argument("--global-lr", type=float, default=0, help="learning rate of the global motion modules (0: --lr)")
    ap.add_argument("--frame-noise", type=float, default=0, help="share of the noise's variance common to all frames (a mixed noise prior, as PYoCo's: "
                    "eps_f = sqrt(s)·shared + sqrt(1-s)·own_f; 0: independent frames). Exported as the unet config's "
                    "frame_noise_share, which Loom's sampler then draws its starting noise with")
    ap.add_argument("--ema", type=float, default=0, help="export a moving average of the trained weights with this decay (e.g. 0.999; 0: the weights as trained); "
                    "kept in the checkpoint, so a resume goes on averaging")
    ap.add_argument("--first-frame", type=int, default=0, help="1: conv_in reads the first frame's latent on every frame (first_frame_channels)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    random.seed(a.seed)
    np.random.seed(a.seed)

    tok = TU.Tokenizer()
    shipped = json.load(open(os.path.join(a.base, "tokenizer", "vocab.json")))
    assert shipped == tok.vocab, "the base model's tokenizer differs from train_unet.Tokenizer"
    scale = json.load(open(os.path.join(a.base, "vae", "config.json")))["scaling_factor"]
    ccfg = json.load(open(os.path.join(a.base, "text_encoder", "config.json")))
    text = load_module(M.CLIPTextModel(ccfg), os.path.join(a.base, "text_encoder", "model.safetensors")).eval()
    ucfg = json.load(open(os.path.join(a.base, "unet", "config.json")))
    ucfg.pop("loom", None)
    global_blocks = [b for b in a.global_blocks.split(",") if b]
    kv_pool = parse_kv_pool(a.global_kv_pool, global_blocks)
    unet = V.UNetMotionModel(V.motion_config(ucfg, heads=a.heads, max_len=32, cross=bool(a.motion_text), first_frame=bool(a.first_frame),
                                             global_blocks=global_blocks, global_kv_pool=kv_pool))
    if not a.i2v_spatial_text:
        assert a.motion_text, "--i2v-spatial-text 0 needs motion modules that read the prompt (--motion-text 1)"
        unet.c["image_to_video_text"] = "motion"  # the serving side gives image-to-video's spatial layers the empty prompt
    if a.frame_noise > 0:
        assert a.frame_noise < 1, "--frame-noise is a share of the variance: [0, 1)"
        unet.c["frame_noise_share"] = a.frame_noise  # Loom's sampler draws the starting noise the way training drew it
    in_ch, lat_ch = unet.c["in_channels"], ucfg["in_channels"]
    base_sd = safet.load(os.path.join(a.base, "unet", "diffusion_pytorch_model.safetensors"))
    base_sd = V.widen_conv_in({k: torch.from_numpy(np.array(v)) for k, v in base_sd.items()}, in_ch)
    missing, unexpected = unet.load_state_dict(base_sd, strict=False)
    assert not unexpected and all("motion_modules" in k for k in missing), (unexpected, [k for k in missing if "motion_modules" not in k])
    with torch.no_grad():
        for n, p in unet.named_parameters():
            if "motion_modules" in n and "proj_out" in n:
                p.zero_()
    motion_p, spatial_p = trainable(unet, a.spatial_lr > 0)
    global_names = {id(p) for n, p in unet.named_parameters() if "global_motion_modules" in n}
    global_p = [p for p in motion_p if id(p) in global_names]
    motion_p = [p for p in motion_p if id(p) not in global_names]
    global_lr = a.global_lr or a.lr
    groups = [dict(params=motion_p, lr=a.lr, base=a.lr)]
    if global_p:
        groups.append(dict(params=global_p, lr=global_lr, base=global_lr))
    if spatial_p:
        groups.append(dict(params=spatial_p, lr=a.spatial_lr, base=a.spatial_lr))
    first_p = []
    if a.first_frame:
        # conv_in's first-frame columns: the latent columns keep the image model's values (their gradient is zeroed,
        # and without weight decay AdamW leaves them exactly so).
        w = unet.conv_in.weight
        w.requires_grad_(True)
        w.register_hook(lambda g: torch.cat([torch.zeros_like(g[:, :lat_ch]), g[:, lat_ch:]], 1))
        first_p = [w]
        groups.append(dict(params=first_p, lr=a.lr, base=a.lr, weight_decay=0.0))
    opt = torch.optim.AdamW(groups, weight_decay=0.01)
    nmotion, nspatial, nglobal = sum(p.numel() for p in motion_p), sum(p.numel() for p in spatial_p), sum(p.numel() for p in global_p)

    scfg = json.load(open(os.path.join(a.base, "scheduler", "scheduler_config.json")))
    assert scfg["prediction_type"] == "v_prediction", "the base model is v-prediction"
    ac = torch.from_numpy(S.alphas_cumprod(scfg)).float()

    prompts = open(os.path.join(a.data, "train.txt")).read().splitlines()[: a.clips]
    n = len(prompts)
    lat_mean, lat_std = load_latents(os.path.join(a.data, "train"), n)
    if a.subset:
        keep = [int(i) for i in a.subset.split(",")]
        prompts, lat_mean, lat_std = [prompts[i] for i in keep], lat_mean[keep], lat_std[keep]
        n = len(keep)
    with torch.no_grad():
        distinct = sorted(set(prompts) | {""})
        ctx = {p: text(torch.tensor([tok.encode(p)]))[0] for p in distinct}
    by_direction = {}
    for p in distinct:
        if p:
            by_direction.setdefault(p.rsplit(" ", 1)[1], []).append(p)
    print(f"motion params {nmotion}, global motion {nglobal}, spatial cross-attention {nspatial}, clips {n}, prompts {len(distinct) - 1}", flush=True)
    draw_p = draw_probabilities(prompts, a.small_weight)
    if draw_p is not None:
        print(f"small-object clips drawn {a.small_weight:g}x as often: {draw_p[[p.startswith('a small ') for p in prompts]].sum():.1%} of draws", flush=True)

    state = a.state or os.path.join(a.out, "train_state.pt")
    step, spent = 0, 0.0
    if a.init_from:
        own = unet.state_dict()
        if a.init_from.endswith(".safetensors"):  # an exported model's unet (f16)
            src = {k: torch.from_numpy(np.array(v, dtype=np.float32)) for k, v in safet.load(a.init_from).items()}
        else:
            src = torch.load(a.init_from)["unet"]
        src = V.widen_conv_in(src, in_ch)
        fit = {k: v for k, v in src.items() if k in own and own[k].shape == v.shape}
        unet.load_state_dict(fit, strict=False)
        print(f"weights from {a.init_from}: {len(fit)} of {len(src)} tensors fit", flush=True)
    if a.resume:
        ck = torch.load(state)
        unet.load_state_dict(ck["unet"], strict=False)
        opt.load_state_dict(ck["opt"])
        step, spent = ck["step"], ck["spent"]
        torch.set_rng_state(ck["torch_rng"])
        np.random.set_state(ck["np_rng"])
        random.setstate(ck["py_rng"])
        print(f"resumed at step {step} after {spent / 60:.1f} min", flush=True)
    ema, ema_k = None, 0
    if a.ema:
        ema = {n: p.detach().clone() for n, p in unet.named_parameters() if p.requires_grad}
        if a.resume and ck.get("ema") is not None:
            ema.update(ck["ema"])
            ema_k = ck.get("ema_k", 0)
        print(f"moving average of {len(ema)} tensors, decay {a.ema:g}, from update {ema_k}", flush=True)
    if a.lr_schedule == "rest":  # the bases are the command line's, not the checkpoint's
        for g in opt.param_groups:
            g["base"] = a.spatial_lr if spatial_p and g["params"][0] is spatial_p[0] else global_lr if global_p and g["params"][0] is global_p[0] else a.lr
    step0, spent0 = step, spent
    if a.resume and a.lr_schedule == "rest" and a.rest_origin == "checkpoint" and "rest_from" in ck:  # a resumed "rest" run keeps its curve
        step0, spent0 = ck["rest_from"]

    def save_state():
        os.makedirs(os.path.dirname(os.path.abspath(state)), exist_ok=True)
        keep = {k: v for k, v in unet.state_dict().items() if "motion_modules" in k or ".attn2." in k or (a.first_frame and k == "conv_in.weight")}
        torch.save(dict(unet=keep, opt=opt.state_dict(), step=step, spent=spent, torch_rng=torch.get_rng_state(),
                        np_rng=np.random.get_state(), py_rng=random.getstate(), args=vars(a), ema=ema, ema_k=ema_k,
                        **(dict(rest_from=(step0, spent0)) if a.lr_schedule == "rest" else {})), state + ".tmp")
        os.replace(state + ".tmp", state)

    opposite = dict(left="right", right="left", up="down", down="up")
    probe_idx = np.linspace(0, n - 1, 8).astype(int)
    probe_gen = torch.Generator().manual_seed(7)
    probe_eps = frame_noise(len(probe_idx), a.frame_noise, probe_gen)

    def probe():
        """Does the model read the direction? v-loss at each --probe-t of 8
        clips with their own prompt against the opposite direction's (fixed
        noise), over all latent pixels and over the object's: the gap is what
        the text's direction buys the motion. At t = 700 the noisy frames
        already show where the object goes (the gap stays near zero whatever
        the model knows); at t ≥ 900 only the text can say."""
        unet.eval()
        for t in (int(v) for v in a.probe_t.split(",")):
            probe_at(t)
            if a.first_frame:
                probe_picture(t)
        unet.train()

    def probe_at(t):
        at = ac[t]
        x0 = lat_mean[probe_idx].float() * scale
        xt = at.sqrt() * x0 + (1 - at).sqrt() * probe_eps
        target = at.sqrt() * probe_eps - (1 - at).sqrt() * x0
        res, fg = [], []
        fgmap = foreground(lat_mean[probe_idx].float())
        with torch.no_grad():
            for flip in (False, True):
                ps = []
                for i in probe_idx:
                    p = prompts[i]
                    if flip:
                        head, d = p.rsplit(" ", 1)
                        p = f"{head} {opposite[d]}"
                    ps.append(ctx.get(p) if p in ctx else text(torch.tensor([tok.encode(p)]))[0])
                c = torch.stack(ps).repeat_interleave(FRAMES, 0)
                B = len(probe_idx)
                out = unet(xt.reshape(B * FRAMES, 4, 16, 16), torch.full((B * FRAMES,), float(t)), c, FRAMES)
                se = ((out.reshape(B, FRAMES, 4, 16, 16) - target) ** 2).mean(2)
                res.append(float(se.mean()))
                fg.append(float((se * fgmap).sum() / fgmap.sum()))
        print(f"probe step {step}: v-loss at t={t} own direction {res[0]:.4f}, opposite {res[1]:.4f}, gap {res[1] - res[0]:.4f}; on the object {fg[0]:.4f} vs {fg[1]:.4f}, gap {fg[1] - fg[0]:.4f}", flush=True)

    other_object = [random.Random(int(i)).choice([q for q in by_direction[prompts[i].rsplit(" ", 1)[1]] if q != prompts[i]])
                    for i in probe_idx]

    def probe_picture(t):
        """Does the model keep the picture? Image-to-video v-loss of the 8
        probe clips at t, each prompted with another object moving its way,
        given its own first frame against the next probe clip's: the gap is
        what the picture is worth (frame 0 is held and not scored)."""
        at = ac[t]
        x0 = lat_mean[probe_idx].float() * scale
        xt = at.sqrt() * x0 + (1 - at).sqrt() * probe_eps
        target = at.sqrt() * probe_eps - (1 - at).sqrt() * x0
        B = len(probe_idx)
        c = torch.stack([ctx[p] for p in other_object]).repeat_interleave(FRAMES, 0)
        mc = None
        if not a.i2v_spatial_text:
            c, mc = ctx[""].expand_as(c), c
        tf = torch.full((B, FRAMES), float(t))
        tf[:, 0] = 0
        res = []
        with torch.no_grad():
            for first in (x0[:, 0], x0[:, 0].roll(1, 0)):
                x = xt.clone()
                x[:, 0] = first
                out = unet(x.reshape(B * FRAMES, 4, 16, 16), tf.reshape(-1), c, FRAMES, first=first, motion_ctx=mc).reshape(B, FRAMES, 4, 16, 16)
                res.append(float(((out - target)[:, 1:] ** 2).mean()))
        print(f"picture probe step {step}: v-loss at t={t} with the other object's prompt, own picture {res[0]:.4f}, another clip's {res[1]:.4f}, gap {res[1] - res[0]:.4f}", flush=True)

    def finish():
        """Export the folder as it stands (every checkpoint, so a run cut short still leaves a model)."""
        meta = dict(step=step, minutes=round(spent / 60, 1), clips=n, batch=a.batch, lr=a.lr, spatial_lr=a.spatial_lr,
                    i2v=a.i2v, i2v_other=a.i2v_other, i2v_spatial_text=a.i2v_spatial_text, first_frame=a.first_frame, fg_weight=a.fg_weight, frame_noise=a.frame_noise or None, small_weight=a.small_weight, global_blocks=global_blocks or None, global_kv_pool=kv_pool or None, global_lr=global_lr if global_p else None, t_high=a.t_high, t_high_from=a.t_high_from, init_from=os.path.basename(a.init_from) or None, motion_params=nmotion, global_motion_params=nglobal or None, spatial_attn_params=nspatial,
                    loss=round(float(np.mean(losses[-200:])), 4) if losses else None, base=os.path.basename(os.path.normpath(a.base)),
                    ema=a.ema or None, ema_updates=ema_k if a.ema else None)
        export(a.out, unet, a.base, meta, dict(steps=20, guidance_scale=5, scheduler="ddim", frames=FRAMES, fps=8), ema)
        print("exported", a.out, meta, flush=True)

    budget, t_last, ckpt_at = a.minutes * 60, time.time(), spent + a.ckpt_minutes * 60
    unet.train()
    losses = []
    probe()
    while spent < budget or (a.time_steps and step < a.time_steps):
        frac, warm = min(spent / budget, 1), min(1.0, (step + 1) / a.warmup)
        if a.lr_schedule == "rest":
            frac, warm = min((spent - spent0) / max(budget - spent0, 1e-9), 1), min(1.0, (step - step0 + 1) / a.warmup)
        for g in opt.param_groups:
            g["lr"] = g["base"] * warm * (0.5 * (1 + math.cos(math.pi * frac)) * 0.9 + 0.1)
        B = a.batch
        idx = np.random.randint(0, n, B) if draw_p is None else np.random.choice(n, B, p=draw_p)
        x0 = (lat_mean[idx].float() + lat_std[idx].float() * torch.randn(B, FRAMES, 4, 16, 16)) * scale  # (B, F, 4, 16, 16)
        t = torch.randint(0, 1000, (B,))
        high = torch.rand(B) < a.t_high
        t[high] = torch.randint(a.t_high_from, 1000, (int(high.sum()),))
        eps = frame_noise(B, a.frame_noise)
        at = ac[t][:, None, None, None, None]
        xt = at.sqrt() * x0 + (1 - at).sqrt() * eps
        target = at.sqrt() * eps - (1 - at).sqrt() * x0
        tf = t[:, None].repeat(1, FRAMES).float()  # per-frame timesteps
        weight = torch.ones(B, FRAMES)
        first = torch.zeros(B, 4, 16, 16) if a.first_frame else None  # zero: text-to-video
        ps, sps = [], []
        for b in range(B):
            p = prompts[idx[b]]
            i2v = random.random() < a.i2v
            if i2v:
                xt[b, 0], tf[b, 0], weight[b, 0] = x0[b, 0], 0, 0  # the picture: clean, at t = 0, not scored
                if first is not None:
                    first[b] = x0[b, 0]
                if random.random() < a.i2v_other:
                    p = random.choice(by_direction[p.rsplit(" ", 1)[1]])
            if random.random() < a.drop:
                p = ""
            ps.append(ctx[p])
            sps.append(ctx[""] if i2v and not a.i2v_spatial_text else ctx[p])
        mc = torch.stack(ps).repeat_interleave(FRAMES, 0)
        c = torch.stack(sps).repeat_interleave(FRAMES, 0)
        out = unet(xt.reshape(B * FRAMES, 4, 16, 16), tf.reshape(-1), c, FRAMES, first=first, motion_ctx=mc).reshape(B, FRAMES, 4, 16, 16)
        if a.fg_weight:
            wmap = 1 + a.fg_weight * foreground(lat_mean[idx].float())  # (B, F, 16, 16)
            err = (((out - target) ** 2).mean(2) * wmap).mean(dim=(2, 3)) / wmap.mean(dim=(2, 3))
        else:
            err = ((out - target) ** 2).mean(dim=(2, 3, 4))
        loss = (err * weight).sum() / weight.sum()
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(motion_p + global_p + spatial_p + first_p, 1.0)
        opt.step()
        if ema is not None:
            ema_update(ema, unet, a.ema, ema_k)
            ema_k += 1
        step += 1
        now = time.time()
        spent += now - t_last
        t_last = now
        losses.append(loss.item())
        if a.time_steps and step == a.time_steps:
            print(f"{step} steps in {spent:.1f} s: {spent / step:.2f} s/step", flush=True)
            return
        if step % 50 == 0:
            print(f"step {step} {spent / 60:.1f}min loss {np.mean(losses[-50:]):.4f} lr {opt.param_groups[0]['lr']:.2e}", flush=True)
        if spent >= ckpt_at:
            save_state()
            finish()
            probe()
            ckpt_at = spent + a.ckpt_minutes * 60
            print(f"checkpoint at step {step}", flush=True)
    save_state()
    finish()


if __name__ == "__main__":
    main()
