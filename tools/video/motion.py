"""Plain-PyTorch reference of an AnimateDiff-style motion UNet ("AnimateDiff:
Animate Your Personalized Text-to-Image Diffusion Models without Specific
Tuning", Guo et al. 2024), written to the configuration keys and state_dict
names of diffusers' UNetMotionModel and MotionAdapter so a checkpoint of that
family loads with load_state_dict unchanged (only sizes differ):

  the image UNet's names (tools/diffusion/model.py, UNet2DConditionModel), plus
  down_blocks.i.motion_modules.j, mid_block.motion_modules.0, up_blocks.i.motion_modules.j,
  each a TransformerTemporalModel: norm (GroupNorm over channels × frames × pixels),
  proj_in, transformer_blocks.k.{norm1, attn1, norm2, attn2, norm3, ff, pos_embed.pe}, proj_out.

A motion module runs after each resnet (and its spatial attention) of every
block and after the mid block's attention: attention across the frames of a
video at each pixel, with diffusers' sinusoidal frame positions added after
each LayerNorm, two self-attentions (double_self_attention) and a GEGLU
feed-forward. Activations are (videos·frames, C, H, W), frame-major per video,
as diffusers reshapes them; the time embedding may differ per frame (Loom's
image-to-video holds frame 0 clean at t = 0).

A second Loom extension, first_frame_channels in the config (0 or absent:
none): the last first_frame_channels of in_channels carry the first frame's
clean latent on every frame of the video (Stable Video Diffusion's
image-latent concatenation; zero in text-to-video), so every frame sees the
picture at conv_in, not only through the motion modules' attention to frame
0. A text-to-video model gains them as zero columns of conv_in.weight
(widen_conv_in): at first it computes exactly what it did.

A third Loom extension, motion_global_blocks in the config (a list of block
names: "mid_block", "down_blocks.I", "up_blocks.I"; absent: none): each
motion module of those blocks gets a companion, BLOCK.global_motion_modules.J
(GlobalMotionModule), run right after it, whose attention runs across every
frame AND every pixel of the video at once (frames·h·w tokens), with the
frame's sinusoid and the pixel's row and column sinusoids added once after
proj_in. A per-pixel motion module cannot tell that the object it is drawing
at one pixel already stands elsewhere in other frames: a small object that
leaves a pixel within a few frames gets drawn on two tracks. Its proj_out
starts at zero, so a model gains it unchanged. motion_global_kv_pool ({block:
p}) has those blocks' global modules take their self-attentions' keys and
values from the tokens averaged over p×p pixels of each frame (pool_tokens),
so the finest level's attention costs 1/p² of the full one; the weights are
a plain global module's.

No diffusers here: the math follows the paper and that library's documented
behaviour. Debian's python3-torch (1.13, CPU) only."""
import math
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "diffusion"))
import model as M  # noqa: E402  (tools/diffusion/model.py)


def sinusoid_table(dim, max_len):
    """diffusers' SinusoidalPositionalEmbedding.pe (1, max_len, dim): sin on
    even channels, cos on odd, of p·10000^(-2i/dim), in float32."""
    position = torch.arange(max_len).unsqueeze(1)
    div = torch.exp(torch.arange(0, dim, 2) * (-math.log(10000.0) / dim))
    pe = torch.zeros(1, max_len, dim)
    pe[0, :, 0::2] = torch.sin(position * div)
    pe[0, :, 1::2] = torch.cos(position * div)
    return pe


class SinusoidalPositionalEmbedding(nn.Module):
    def __init__(self, dim, max_len):
        super().__init__()
        self.register_buffer("pe", sinusoid_table(dim, max_len))

    def forward(self, x):
        return x + self.pe[:, : x.shape[1]]


def frame_attention(q, k, v, heads):
    """attention() for many short sequences: q, k, v (N, T, heads·d) with T the
    frames. Scores by broadcast multiply-sum instead of bmm, whose per-matrix
    overhead dominates at thousands of 16×16 products on the CPU; the same math."""
    n, t, inner = q.shape
    d = inner // heads
    q, k, v = (z.view(n, t, heads, d) for z in (q, k, v))
    s = (q[:, :, None] * k[:, None]).sum(-1) * d ** -0.5  # (n, tq, tk, heads)
    return (s.softmax(2)[..., None] * v[:, None]).sum(2).reshape(n, t, inner)


class FrameAttention(M.Attention):
    def forward(self, x, ctx=None):
        return self.to_out[0](frame_attention(self.to_q(x), self.to_k(x), self.to_v(x), self.heads))


class TemporalBlock(nn.Module):
    """BasicTransformerBlock(positional_embeddings="sinusoidal"): AnimateDiff's
    double_self_attention (attn2 a second attention across the frames), or
    with ctx_dim attn2 attends to the text: each pixel's frame token, carrying
    its frame position, reads the prompt (Loom's motion_cross_attention_dim)."""

    def __init__(self, dim, heads, max_len, ctx_dim=None):
        super().__init__()
        hd = dim // heads
        self.norm1 = nn.LayerNorm(dim)
        self.attn1 = FrameAttention(dim, None, heads, hd)
        self.norm2 = nn.LayerNorm(dim)
        self.attn2 = M.Attention(dim, ctx_dim, heads, hd) if ctx_dim else FrameAttention(dim, None, heads, hd)
        self.cross = bool(ctx_dim)
        self.norm3 = nn.LayerNorm(dim)
        self.ff = M.FeedForward(dim)
        self.pos_embed = SinusoidalPositionalEmbedding(dim, max_len)

    def forward(self, x, ctx=None):
        """x (b·h·w, f, c); ctx (b, L, D) when attn2 reads the text."""
        x = self.attn1(self.pos_embed(self.norm1(x))) + x
        h = self.pos_embed(self.norm2(x))
        if self.cross:
            b = ctx.shape[0]
            n, f, c = h.shape
            x = self.attn2(h.reshape(b, (n // b) * f, c), ctx).reshape(n, f, c) + x
        else:
            x = self.attn2(h) + x
        return self.ff(self.norm3(x)) + x


class TransformerTemporalModel(nn.Module):
    """A motion module: x (b·f, c, h, w) → x + attention over the f frames at each pixel."""

    def __init__(self, ch, heads, layers, groups, max_len, ctx_dim=None):
        super().__init__()
        self.norm = nn.GroupNorm(groups, ch, eps=1e-6)
        self.proj_in = nn.Linear(ch, ch)
        self.transformer_blocks = nn.ModuleList(TemporalBlock(ch, heads, max_len, ctx_dim) for _ in range(layers))
        self.proj_out = nn.Linear(ch, ch)

    def forward(self, x, frames, ctx=None):
        """ctx (b, L, D): each video's text states, for motion modules that read it."""
        bf, c, h, w = x.shape
        b = bf // frames
        res = x
        x = x.reshape(b, frames, c, h, w).permute(0, 2, 1, 3, 4)  # (b, c, f, h, w): the norm sees every frame
        x = self.norm(x)
        x = x.permute(0, 3, 4, 2, 1).reshape(b * h * w, frames, c)
        x = self.proj_in(x)
        for blk in self.transformer_blocks:
            x = blk(x, ctx)
        x = self.proj_out(x)
        x = x.reshape(b, h, w, frames, c).permute(0, 3, 4, 1, 2).reshape(bf, c, h, w)
        return x + res


def global_positions(frames, h, w, dim):
    """A global motion module's position table (frames·h·w, dim), token
    f·h·w + y·w + x: frame f's sinusoid (sinusoid_table over dim) plus the
    row's sinusoid on the first dim/2 channels and the column's on the rest."""
    half = dim // 2
    fr = sinusoid_table(dim, frames)[0]  # (F, dim)
    sp = torch.cat([sinusoid_table(half, h)[0][:, None, :].expand(h, w, half),
                    sinusoid_table(dim - half, w)[0][None, :, :].expand(h, w, dim - half)], -1).reshape(h * w, dim)
    return (fr[:, None, :] + sp[None]).reshape(frames * h * w, dim)


def pool_tokens(x, frames, h, w, p):
    """x (b, frames·h·w, c) → (b, frames·⌈h/p⌉·⌈w/p⌉, c): the mean of each
    frame's p×p cells of tokens, frame-major and row-major; a cell at the
    right or bottom edge averages the pixels it covers."""
    b, _, c = x.shape
    g = x.reshape(b * frames, h, w, c).permute(0, 3, 1, 2)
    ph, pw = -(-h // p), -(-w // p)
    pad = (0, pw * p - w, 0, ph * p - h)
    sums = F.avg_pool2d(F.pad(g, pad), p, divisor_override=1)
    counts = F.avg_pool2d(F.pad(torch.ones_like(g[:1, :1]), pad), p, divisor_override=1)
    return (sums / counts).permute(0, 2, 3, 1).reshape(b, frames * ph * pw, c)


class GlobalBlock(nn.Module):
    """A BasicTransformerBlock over one sequence of frames·pixels tokens:
    self-attention, attn2 to the text (ctx_dim) or a second self-attention,
    GEGLU feed-forward; no positions of its own (the module adds them).
    kv_pool > 1 (motion_global_kv_pool): each self-attention's keys and
    values come from the normed tokens averaged over kv_pool×kv_pool pixels
    of each frame (pool_tokens); the queries stay every token's."""

    def __init__(self, dim, heads, ctx_dim=None, kv_pool=1):
        super().__init__()
        self.kv_pool = kv_pool
        hd = dim // heads
        self.norm1 = nn.LayerNorm(dim)
        self.attn1 = M.Attention(dim, None, heads, hd)
        self.norm2 = nn.LayerNorm(dim)
        self.attn2 = M.Attention(dim, ctx_dim, heads, hd)
        self.cross = bool(ctx_dim)
        self.norm3 = nn.LayerNorm(dim)
        self.ff = M.FeedForward(dim)

    def forward(self, x, ctx=None, grid=None):
        """x (b, f·h·w, c); ctx (b, L, D) when attn2 reads the text; grid
        (frames, h, w), needed when kv_pool > 1."""
        def kv(h):
            return None if self.kv_pool <= 1 else pool_tokens(h, *grid, self.kv_pool)
        h = self.norm1(x)
        x = self.attn1(h, kv(h)) + x
        h = self.norm2(x)
        x = (self.attn2(h, ctx) if self.cross else self.attn2(h, kv(h))) + x
        return self.ff(self.norm3(x)) + x


class GlobalMotionModule(nn.Module):
    """x (b·f, c, h, w) → x + attention across all frames and pixels of each
    video (motion_global_blocks, a Loom extension): GroupNorm over the
    video's channels × frames × pixels, proj_in, positions, one GlobalBlock,
    proj_out (zero at the start); kv_pool: GlobalBlock's."""

    def __init__(self, ch, heads, groups, ctx_dim=None, kv_pool=1):
        super().__init__()
        self.norm = nn.GroupNorm(groups, ch, eps=1e-6)
        self.proj_in = nn.Linear(ch, ch)
        self.transformer_blocks = nn.ModuleList([GlobalBlock(ch, heads, ctx_dim, kv_pool)])
        self.proj_out = nn.Linear(ch, ch)

    def forward(self, x, frames, ctx=None):
        bf, c, h, w = x.shape
        b = bf // frames
        res = x
        x = x.reshape(b, frames, c, h, w).permute(0, 2, 1, 3, 4)
        x = self.norm(x)
        x = x.permute(0, 2, 3, 4, 1).reshape(b, frames * h * w, c)
        x = self.proj_in(x) + global_positions(frames, h, w, c).to(x.dtype)
        for blk in self.transformer_blocks:
            x = blk(x, ctx, (frames, h, w))
        x = self.proj_out(x)
        x = x.reshape(b, frames, h, w, c).permute(0, 1, 4, 2, 3).reshape(bf, c, h, w)
        return x + res


def motion_config(unet_cfg, heads=8, max_len=32, mid=True, layers=1, cross=False, first_frame=False, global_blocks=(), global_kv_pool=None):
    """A UNetMotionModel config.json from a UNet2DConditionModel's. cross: the
    motion modules' attn2 attends to the text (motion_cross_attention_dim =
    the UNet's cross_attention_dim), a Loom extension of diffusers' config:
    diffusers' UNetMotionModel runs its motion modules without the text.
    first_frame: in_channels doubles, the second half the first frame's
    latent (first_frame_channels, Loom's). global_kv_pool {block: p}: those
    global modules read pooled keys and values (motion_global_kv_pool)."""
    c = {k: v for k, v in unet_cfg.items() if k not in ("loom", "mid_block_type")}
    c["_class_name"] = "UNetMotionModel"
    c["down_block_types"] = ["CrossAttnDownBlockMotion" if t.startswith("CrossAttn") else "DownBlockMotion" for t in unet_cfg["down_block_types"]]
    c["up_block_types"] = ["CrossAttnUpBlockMotion" if t.startswith("CrossAttn") else "UpBlockMotion" for t in unet_cfg["up_block_types"]]
    if "num_attention_heads" not in c or c["num_attention_heads"] is None:
        c["num_attention_heads"] = c.get("attention_head_dim", 8)
    c.update(motion_num_attention_heads=heads, motion_max_seq_length=max_len, use_motion_mid_block=mid,
             temporal_transformer_layers_per_block=layers)
    if cross:
        c["motion_cross_attention_dim"] = unet_cfg["cross_attention_dim"]
    if first_frame:
        c["first_frame_channels"] = unet_cfg["in_channels"]
        c["in_channels"] = 2 * unet_cfg["in_channels"]
    if global_blocks:
        c["motion_global_blocks"] = list(global_blocks)
    pools = {k: int(v) for k, v in (global_kv_pool or {}).items() if int(v) > 1}
    if pools:
        if not set(pools) <= set(global_blocks):
            raise ValueError(f"global_kv_pool {pools}: only blocks of global_blocks {list(global_blocks)}")
        c["motion_global_kv_pool"] = pools
    return c


def widen_conv_in(sd, in_channels):
    """A state_dict whose conv_in.weight (out, c, 3, 3) has fewer input
    channels than in_channels gets zero columns for the rest: the first-frame
    channels of a model trained without them, which leave its output as it was."""
    w = sd.get("conv_in.weight")
    if w is not None and w.shape[1] < in_channels:
        sd = dict(sd)
        sd["conv_in.weight"] = torch.cat([w, w.new_zeros(w.shape[0], in_channels - w.shape[1], *w.shape[2:])], 1)
    return sd


def with_first_frame(x, first, frames, channels):
    """x (b·f, C, H, W) with the first-frame channels appended: first (b, C, H,
    W) on each of a video's frames, or zeros when first is None (text-to-video)."""
    if not channels:
        return x
    if first is None:
        return torch.cat([x, x.new_zeros(x.shape[0], channels, *x.shape[2:])], 1)
    return torch.cat([x, first.repeat_interleave(frames, 0)], 1)


def spatial_config(motion_cfg):
    """The UNet2DConditionModel config of a UNetMotionModel's spatial layers."""
    c = {k: v for k, v in motion_cfg.items() if not k.startswith("motion_") and k not in ("use_motion_mid_block", "temporal_transformer_layers_per_block", "loom")}
    c["_class_name"] = "UNet2DConditionModel"
    c["down_block_types"] = ["CrossAttnDownBlock2D" if t.startswith("CrossAttn") else "DownBlock2D" for t in motion_cfg["down_block_types"]]
    c["up_block_types"] = ["CrossAttnUpBlock2D" if t.startswith("CrossAttn") else "UpBlock2D" for t in motion_cfg["up_block_types"]]
    return c


class UNetMotionModel(M.UNet2DConditionModel):
    """The image UNet's spatial layers with a motion module after each stage."""

    def __init__(self, c):
        super().__init__(spatial_config(c))
        self.c = c
        boc = c["block_out_channels"]
        groups = c.get("norm_num_groups", 32)
        heads, max_len = c.get("motion_num_attention_heads", 8), c.get("motion_max_seq_length", 32)
        layers = c.get("temporal_transformer_layers_per_block", 1)
        ctx_dim = c.get("motion_cross_attention_dim")

        def mm(ch):
            return TransformerTemporalModel(ch, heads, layers, groups, max_len, ctx_dim)

        for i, blk in enumerate(self.down_blocks):
            blk.motion_modules = nn.ModuleList(mm(boc[i]) for _ in blk.resnets)
        for i, blk in enumerate(self.up_blocks):
            blk.motion_modules = nn.ModuleList(mm(boc[::-1][i]) for _ in blk.resnets)
        self.use_mid = c.get("use_motion_mid_block", True)
        if self.use_mid:
            self.mid_block.motion_modules = nn.ModuleList([mm(boc[-1])])
        for name in c.get("motion_global_blocks", []):
            blk = self.get_submodule(name)
            ch = blk.motion_modules[0].proj_in.in_features
            pool = c.get("motion_global_kv_pool", {}).get(name, 1)
            blk.global_motion_modules = nn.ModuleList(GlobalMotionModule(ch, heads, groups, ctx_dim, pool) for _ in blk.motion_modules)

    def motion_parameters(self):
        return [p for n, p in self.named_parameters() if "motion_modules" in n]

    def forward(self, x, t, ctx, frames, first=None, motion_ctx=None):
        """x (b·f, C, H, W) the latents; t (b·f,) or a scalar; ctx (b·f, L, D);
        first (b, C, H, W): each video's clean first-frame latent, for a
        model with first_frame_channels (None: zeros, text-to-video);
        motion_ctx (b·f, L, D), when given, is what the motion modules read
        instead of ctx (image-to-video gives the spatial layers the empty
        prompt and the motion modules the prompt)."""
        x = with_first_frame(x, first, frames, self.c.get("first_frame_channels", 0))
        mctx = ctx if motion_ctx is None else motion_ctx

        def motion(part, where, h):
            blk, j = where
            if part == "mid" and not self.use_mid:
                return h
            h = blk.motion_modules[j](h, frames, mctx[::frames])
            g = getattr(blk, "global_motion_modules", None)
            return h if g is None else g[j](h, frames, mctx[::frames])

        return super().forward(x, t, ctx, stage=motion)


def adapter_config(motion_cfg):
    """A MotionAdapter config.json for a UNetMotionModel's motion modules."""
    return dict(_class_name="MotionAdapter", block_out_channels=motion_cfg["block_out_channels"],
                motion_layers_per_block=motion_cfg.get("layers_per_block", 2), motion_mid_block_layers_per_block=1,
                motion_num_attention_heads=motion_cfg["motion_num_attention_heads"],
                motion_norm_num_groups=motion_cfg.get("norm_num_groups", 32),
                motion_max_seq_length=motion_cfg["motion_max_seq_length"],
                use_motion_mid_block=motion_cfg.get("use_motion_mid_block", True), conv_in_channels=None,
                **({"motion_global_blocks": motion_cfg["motion_global_blocks"]} if motion_cfg.get("motion_global_blocks") else {}),
                **({"motion_global_kv_pool": motion_cfg["motion_global_kv_pool"]} if motion_cfg.get("motion_global_kv_pool") else {}),
                **({"motion_cross_attention_dim": motion_cfg["motion_cross_attention_dim"]} if motion_cfg.get("motion_cross_attention_dim") else {}))


TINY_MOTION = motion_config(M.TINY_UNET, heads=4, max_len=24)
