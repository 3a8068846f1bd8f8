"""Plain-PyTorch reference modules for Loom's diffusion towers, written to the
configuration keys and state_dict names of diffusers' UNet2DConditionModel and
AutoencoderKL and transformers' CLIPTextModel, so a checkpoint of that family
loads with load_state_dict unchanged (only sizes differ). No diffusers or
transformers here: the math follows the papers and those libraries' documented
behaviour (Rombach et al. 2022, "High-Resolution Image Synthesis with Latent
Diffusion Models"; Radford et al. 2021, CLIP).

Debian's python3-torch (1.13, CPU) only."""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F


# ---------------------------------------------------------------- CLIP text

def quick_gelu(x):
    return x * torch.sigmoid(1.702 * x)


class CLIPAttention(nn.Module):
    def __init__(self, h, heads):
        super().__init__()
        self.heads = heads
        self.q_proj, self.k_proj, self.v_proj, self.out_proj = (nn.Linear(h, h) for _ in range(4))

    def forward(self, x, mask):
        b, t, h = x.shape
        d = h // self.heads
        q, k, v = (p(x).view(b, t, self.heads, d).transpose(1, 2) for p in (self.q_proj, self.k_proj, self.v_proj))
        s = q @ k.transpose(-1, -2) * d ** -0.5 + mask
        o = (s.softmax(-1) @ v).transpose(1, 2).reshape(b, t, h)
        return self.out_proj(o)


class CLIPMLP(nn.Module):
    def __init__(self, h, inner, act):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(h, inner), nn.Linear(inner, h)
        self.act = quick_gelu if act == "quick_gelu" else F.gelu

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class CLIPEncoderLayer(nn.Module):
    def __init__(self, c):
        super().__init__()
        h, eps = c["hidden_size"], c.get("layer_norm_eps", 1e-5)
        self.self_attn = CLIPAttention(h, c["num_attention_heads"])
        self.layer_norm1 = nn.LayerNorm(h, eps=eps)
        self.mlp = CLIPMLP(h, c["intermediate_size"], c.get("hidden_act", "quick_gelu"))
        self.layer_norm2 = nn.LayerNorm(h, eps=eps)

    def forward(self, x, mask):
        x = x + self.self_attn(self.layer_norm1(x), mask)
        return x + self.mlp(self.layer_norm2(x))


class CLIPEmbeddings(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.token_embedding = nn.Embedding(c["vocab_size"], c["hidden_size"])
        self.position_embedding = nn.Embedding(c["max_position_embeddings"], c["hidden_size"])


class CLIPEncoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.layers = nn.ModuleList(CLIPEncoderLayer(c) for _ in range(c["num_hidden_layers"]))


class CLIPTextTransformer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.embeddings = CLIPEmbeddings(c)
        self.encoder = CLIPEncoder(c)
        self.final_layer_norm = nn.LayerNorm(c["hidden_size"], eps=c.get("layer_norm_eps", 1e-5))

    def forward(self, ids):
        b, t = ids.shape
        x = self.embeddings.token_embedding(ids) + self.embeddings.position_embedding(torch.arange(t))[None]
        mask = torch.full((t, t), float("-inf")).triu(1)
        for l in self.encoder.layers:
            x = l(x, mask)
        return self.final_layer_norm(x)


class CLIPTextModel(nn.Module):
    """state_dict: text_model.embeddings.token_embedding.weight, … as transformers'."""

    def __init__(self, c):
        super().__init__()
        self.text_model = CLIPTextTransformer(c)

    def forward(self, ids):
        return self.text_model(ids)


# ---------------------------------------------------------------- shared blocks

class ResnetBlock2D(nn.Module):
    def __init__(self, cin, cout, temb, groups, eps):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, cin, eps=eps)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        if temb:
            self.time_emb_proj = nn.Linear(temb, cout)
        self.norm2 = nn.GroupNorm(groups, cout, eps=eps)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        if cin != cout:
            self.conv_shortcut = nn.Conv2d(cin, cout, 1)

    def forward(self, x, temb=None):
        h = self.conv1(F.silu(self.norm1(x)))
        if temb is not None:
            h = h + self.time_emb_proj(F.silu(temb))[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        if hasattr(self, "conv_shortcut"):
            x = self.conv_shortcut(x)
        return x + h


class Downsample2D(nn.Module):
    def __init__(self, c, padding):
        super().__init__()
        self.padding = padding
        self.conv = nn.Conv2d(c, c, 3, stride=2, padding=padding)

    def forward(self, x):
        if self.padding == 0:  # the VAE's asymmetric pad: one row/column at the bottom/right
            x = F.pad(x, (0, 1, 0, 1))
        return self.conv(x)


class Upsample2D(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, padding=1)

    def forward(self, x):
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


def attention(q, k, v, heads):
    """q (B, Tq, heads·d), k/v (B, Tk, heads·d) → (B, Tq, heads·d)."""
    b, tq, inner = q.shape
    d = inner // heads
    q, k, v = (z.view(b, -1, heads, d).transpose(1, 2) for z in (q, k, v))
    s = (q @ k.transpose(-1, -2)) * d ** -0.5
    return (s.softmax(-1) @ v).transpose(1, 2).reshape(b, tq, inner)


class Attention(nn.Module):
    """diffusers' Attention as the UNet's transformer blocks use it: to_q/k/v
    without bias, to_out.0 with bias."""

    def __init__(self, dim, ctx_dim, heads, head_dim, bias=False):
        super().__init__()
        inner = heads * head_dim
        self.heads = heads
        self.to_q = nn.Linear(dim, inner, bias=bias)
        self.to_k = nn.Linear(ctx_dim or dim, inner, bias=bias)
        self.to_v = nn.Linear(ctx_dim or dim, inner, bias=bias)
        self.to_out = nn.ModuleList([nn.Linear(inner, dim), nn.Dropout(0.0)])

    def forward(self, x, ctx=None):
        ctx = x if ctx is None else ctx
        return self.to_out[0](attention(self.to_q(x), self.to_k(ctx), self.to_v(ctx), self.heads))


class GEGLU(nn.Module):
    def __init__(self, dim, inner):
        super().__init__()
        self.proj = nn.Linear(dim, inner * 2)

    def forward(self, x):
        h, gate = self.proj(x).chunk(2, dim=-1)
        return h * F.gelu(gate)


class FeedForward(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.net = nn.ModuleList([GEGLU(dim, 4 * dim), nn.Dropout(0.0), nn.Linear(4 * dim, dim)])

    def forward(self, x):
        return self.net[2](self.net[0](x))


class BasicTransformerBlock(nn.Module):
    def __init__(self, dim, heads, head_dim, ctx_dim):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn1 = Attention(dim, None, heads, head_dim)
        self.norm2 = nn.LayerNorm(dim)
        self.attn2 = Attention(dim, ctx_dim, heads, head_dim)
        self.norm3 = nn.LayerNorm(dim)
        self.ff = FeedForward(dim)

    def forward(self, x, ctx):
        x = self.attn1(self.norm1(x)) + x
        x = self.attn2(self.norm2(x), ctx) + x
        return self.ff(self.norm3(x)) + x


class Transformer2DModel(nn.Module):
    def __init__(self, heads, head_dim, cin, layers, ctx_dim, groups, linear):
        super().__init__()
        inner = heads * head_dim
        self.linear = linear
        self.norm = nn.GroupNorm(groups, cin, eps=1e-6)
        self.proj_in = nn.Linear(cin, inner) if linear else nn.Conv2d(cin, inner, 1)
        self.transformer_blocks = nn.ModuleList(BasicTransformerBlock(inner, heads, head_dim, ctx_dim) for _ in range(layers))
        self.proj_out = nn.Linear(inner, cin) if linear else nn.Conv2d(inner, cin, 1)

    def forward(self, x, ctx):
        b, c, hh, ww = x.shape
        res = x
        h = self.norm(x)
        if not self.linear:
            h = self.proj_in(h)
        h = h.permute(0, 2, 3, 1).reshape(b, hh * ww, -1)
        if self.linear:
            h = self.proj_in(h)
        for blk in self.transformer_blocks:
            h = blk(h, ctx)
        if self.linear:
            h = self.proj_out(h)
        h = h.reshape(b, hh, ww, -1).permute(0, 3, 1, 2)
        if not self.linear:
            h = self.proj_out(h)
        return h + res


# ---------------------------------------------------------------- UNet

def timestep_embedding(t, dim, flip_sin_to_cos=True, shift=0.0, max_period=10000):
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32) / (half - shift))
    a = t.float()[:, None] * freqs[None]
    emb = torch.cat([torch.sin(a), torch.cos(a)], -1)
    if flip_sin_to_cos:
        emb = torch.cat([emb[:, half:], emb[:, :half]], -1)
    return emb


class TimestepEmbedding(nn.Module):
    def __init__(self, cin, dim):
        super().__init__()
        self.linear_1, self.linear_2 = nn.Linear(cin, dim), nn.Linear(dim, dim)

    def forward(self, x):
        return self.linear_2(F.silu(self.linear_1(x)))


def _per_block(v, n):
    return list(v) if isinstance(v, (list, tuple)) else [v] * n


class UNetBlock(nn.Module):
    """CrossAttnDownBlock2D / DownBlock2D / CrossAttnUpBlock2D / UpBlock2D:
    resnets, optional attentions, optional down/upsamplers."""

    def __init__(self, kind, resnets, attn, sampler):
        super().__init__()
        self.kind = kind
        self.resnets = nn.ModuleList(resnets)
        if attn:
            self.attentions = nn.ModuleList(attn)
        if sampler is not None:
            setattr(self, "downsamplers" if kind == "down" else "upsamplers", nn.ModuleList([sampler]))


class UNet2DConditionModel(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        boc = c["block_out_channels"]
        n = len(boc)
        lpb = c.get("layers_per_block", 2)
        groups, eps = c.get("norm_num_groups", 32), c.get("norm_eps", 1e-5)
        heads = _per_block(c.get("num_attention_heads") or c.get("attention_head_dim", 8), n)
        ctx = c["cross_attention_dim"]
        tl = _per_block(c.get("transformer_layers_per_block", 1), n)
        lin = c.get("use_linear_projection", False)
        temb = boc[0] * 4
        self.conv_in = nn.Conv2d(c["in_channels"], boc[0], 3, padding=1)
        self.time_embedding = TimestepEmbedding(boc[0], temb)

        def tr(ch, i):
            return Transformer2DModel(heads[i], ch // heads[i], ch, tl[i], ctx, groups, lin)

        self.down_blocks = nn.ModuleList()
        cout = boc[0]
        for i, kind in enumerate(c["down_block_types"]):
            cin, cout = cout, boc[i]
            final = i == n - 1
            rs = [ResnetBlock2D(cin if j == 0 else cout, cout, temb, groups, eps) for j in range(lpb)]
            at = [tr(cout, i) for _ in range(lpb)] if kind.startswith("CrossAttn") else None
            self.down_blocks.append(UNetBlock("down", rs, at, None if final else Downsample2D(cout, 1)))
        mid = boc[-1]
        self.mid_block = UNetBlock("mid", [ResnetBlock2D(mid, mid, temb, groups, eps) for _ in range(2)], [tr(mid, n - 1)], None)
        self.up_blocks = nn.ModuleList()
        rb, rh = boc[::-1], heads[::-1]
        tlr = tl[::-1]
        cout = rb[0]
        for i, kind in enumerate(c["up_block_types"]):
            prev, cout = cout, rb[i]
            cin = rb[min(i + 1, n - 1)]
            final = i == n - 1
            rs = []
            for j in range(lpb + 1):
                skip = cin if j == lpb else cout
                rs.append(ResnetBlock2D((prev if j == 0 else cout) + skip, cout, temb, groups, eps))
            at = None
            if kind.startswith("CrossAttn"):
                at = [Transformer2DModel(rh[i], cout // rh[i], cout, tlr[i], ctx, groups, lin) for _ in range(lpb + 1)]
            self.up_blocks.append(UNetBlock("up", rs, at, None if final else Upsample2D(cout)))
        self.conv_norm_out = nn.GroupNorm(groups, boc[0], eps=eps)
        self.conv_out = nn.Conv2d(boc[0], c["out_channels"], 3, padding=1)

    def forward(self, x, t, ctx, stage=None):
        """stage(part, block, h) → h, when given, runs after each resnet (and
        its attention) of the down and up blocks and after the mid block's
        attention ("down", "mid", "up"): the motion UNet's motion modules."""
        c = self.c
        if t.dim() == 0:
            t = t[None].expand(x.shape[0])
        emb = timestep_embedding(t, c["block_out_channels"][0], c.get("flip_sin_to_cos", True), c.get("freq_shift", 0))
        temb = self.time_embedding(emb)
        stage = stage or (lambda part, blk, h: h)
        h = self.conv_in(x)
        skips = [h]
        for blk in self.down_blocks:
            for j, r in enumerate(blk.resnets):
                h = r(h, temb)
                if hasattr(blk, "attentions"):
                    h = blk.attentions[j](h, ctx)
                h = stage("down", (blk, j), h)
                skips.append(h)
            if hasattr(blk, "downsamplers"):
                h = blk.downsamplers[0](h)
                skips.append(h)
        m = self.mid_block
        h = stage("mid", (m, 0), m.attentions[0](m.resnets[0](h, temb), ctx))
        h = m.resnets[1](h, temb)
        for blk in self.up_blocks:
            for j, r in enumerate(blk.resnets):
                h = r(torch.cat([h, skips.pop()], 1), temb)
                if hasattr(blk, "attentions"):
                    h = blk.attentions[j](h, ctx)
                h = stage("up", (blk, j), h)
            if hasattr(blk, "upsamplers"):
                h = blk.upsamplers[0](h)
        return self.conv_out(F.silu(self.conv_norm_out(h)))


# ---------------------------------------------------------------- VAE

class VAEAttention(nn.Module):
    """The VAE mid-block's single-head spatial self-attention (with biases)."""

    def __init__(self, c, groups):
        super().__init__()
        self.group_norm = nn.GroupNorm(groups, c, eps=1e-6)
        self.to_q, self.to_k, self.to_v = nn.Linear(c, c), nn.Linear(c, c), nn.Linear(c, c)
        self.to_out = nn.ModuleList([nn.Linear(c, c), nn.Dropout(0.0)])

    def forward(self, x):
        b, c, hh, ww = x.shape
        h = self.group_norm(x).reshape(b, c, hh * ww).transpose(1, 2)
        o = self.to_out[0](attention(self.to_q(h), self.to_k(h), self.to_v(h), 1))
        return o.transpose(1, 2).reshape(b, c, hh, ww) + x


class VAEMid(nn.Module):
    def __init__(self, c, groups):
        super().__init__()
        self.attentions = nn.ModuleList([VAEAttention(c, groups)])
        self.resnets = nn.ModuleList([ResnetBlock2D(c, c, 0, groups, 1e-6) for _ in range(2)])

    def forward(self, x):
        return self.resnets[1](self.attentions[0](self.resnets[0](x)))


class Encoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        boc, g, lpb = c["block_out_channels"], c.get("norm_num_groups", 32), c.get("layers_per_block", 1)
        self.conv_in = nn.Conv2d(c["in_channels"], boc[0], 3, padding=1)
        self.down_blocks = nn.ModuleList()
        cout = boc[0]
        for i in range(len(boc)):
            cin, cout = cout, boc[i]
            rs = [ResnetBlock2D(cin if j == 0 else cout, cout, 0, g, 1e-6) for j in range(lpb)]
            self.down_blocks.append(UNetBlock("down", rs, None, None if i == len(boc) - 1 else Downsample2D(cout, 0)))
        self.mid_block = VAEMid(boc[-1], g)
        self.conv_norm_out = nn.GroupNorm(g, boc[-1], eps=1e-6)
        self.conv_out = nn.Conv2d(boc[-1], 2 * c["latent_channels"], 3, padding=1)

    def forward(self, x):
        h = self.conv_in(x)
        for blk in self.down_blocks:
            for r in blk.resnets:
                h = r(h)
            if hasattr(blk, "downsamplers"):
                h = blk.downsamplers[0](h)
        h = self.mid_block(h)
        return self.conv_out(F.silu(self.conv_norm_out(h)))


class Decoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        boc, g, lpb = c["block_out_channels"], c.get("norm_num_groups", 32), c.get("layers_per_block", 1)
        self.conv_in = nn.Conv2d(c["latent_channels"], boc[-1], 3, padding=1)
        self.mid_block = VAEMid(boc[-1], g)
        self.up_blocks = nn.ModuleList()
        rb = boc[::-1]
        cout = rb[0]
        for i in range(len(boc)):
            cin, cout = cout, rb[i]
            rs = [ResnetBlock2D(cin if j == 0 else cout, cout, 0, g, 1e-6) for j in range(lpb + 1)]
            self.up_blocks.append(UNetBlock("up", rs, None, None if i == len(boc) - 1 else Upsample2D(cout)))
        self.conv_norm_out = nn.GroupNorm(g, boc[0], eps=1e-6)
        self.conv_out = nn.Conv2d(boc[0], c["out_channels"], 3, padding=1)

    def forward(self, z):
        h = self.mid_block(self.conv_in(z))
        for blk in self.up_blocks:
            for r in blk.resnets:
                h = r(h)
            if hasattr(blk, "upsamplers"):
                h = blk.upsamplers[0](h)
        return self.conv_out(F.silu(self.conv_norm_out(h)))


class AutoencoderKL(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        lc = c["latent_channels"]
        self.encoder = Encoder(c)
        self.decoder = Decoder(c)
        self.quant_conv = nn.Conv2d(2 * lc, 2 * lc, 1)
        self.post_quant_conv = nn.Conv2d(lc, lc, 1)

    def encode(self, x):
        """→ (mean, logvar) of the latent Gaussian, each (B, L, H/f, W/f)."""
        m = self.quant_conv(self.encoder(x))
        mean, logvar = m.chunk(2, dim=1)
        return mean, logvar.clamp(-30.0, 20.0)

    def decode(self, z):
        return self.decoder(self.post_quant_conv(z))


# ---------------------------------------------------------------- configs of the tiny test models

TINY_UNET = dict(_class_name="UNet2DConditionModel", sample_size=16, in_channels=4, out_channels=4,
                 block_out_channels=[32, 64], layers_per_block=1, norm_num_groups=32, norm_eps=1e-5,
                 down_block_types=["CrossAttnDownBlock2D", "DownBlock2D"],
                 up_block_types=["UpBlock2D", "CrossAttnUpBlock2D"],
                 mid_block_type="UNetMidBlock2DCrossAttn", cross_attention_dim=64, attention_head_dim=8,
                 flip_sin_to_cos=True, freq_shift=0, use_linear_projection=False, act_fn="silu")
# SD 2.x-style options: linear projections, per-block head counts, two
# transformer layers per block, plain blocks first, two resnets per block.
TINY_UNET_LINEAR = dict(TINY_UNET, block_out_channels=[32, 32], layers_per_block=2, cross_attention_dim=32,
                        down_block_types=["DownBlock2D", "CrossAttnDownBlock2D"],
                        up_block_types=["CrossAttnUpBlock2D", "UpBlock2D"], attention_head_dim=[2, 4],
                        transformer_layers_per_block=2, use_linear_projection=True, freq_shift=1, flip_sin_to_cos=False)
TINY_VAE = dict(_class_name="AutoencoderKL", in_channels=3, out_channels=3, latent_channels=4,
                block_out_channels=[32, 64], layers_per_block=1, norm_num_groups=32, sample_size=64,
                down_block_types=["DownEncoderBlock2D"] * 2, up_block_types=["UpDecoderBlock2D"] * 2,
                act_fn="silu", scaling_factor=0.18215)
TINY_CLIP = dict(architectures=["CLIPTextModel"], model_type="clip_text_model", vocab_size=320, hidden_size=64,
                 intermediate_size=128, num_hidden_layers=2, num_attention_heads=4, max_position_embeddings=16,
                 hidden_act="quick_gelu", layer_norm_eps=1e-5, bos_token_id=318, eos_token_id=319, pad_token_id=319)
