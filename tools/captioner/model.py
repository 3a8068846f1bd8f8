"""The Shapes captioner in plain PyTorch, written so that its state_dict keys and
tensor layouts are exactly Hugging Face's VisionEncoderDecoderModel with a ViT
encoder (ViTModel, no pooler) and a GPT-2 decoder with cross-attention
(GPT2LMHeadModel, add_cross_attention=True, tied lm_head). Loom's Go towers load
the exported safetensors by these names; a real ViT+GPT-2 captioner of that
family loads the same way.

References: Dosovitskiy et al. 2020 (ViT); Radford et al. 2019 (GPT-2);
transformers' modeling_vit.py / modeling_gpt2.py naming and Conv1D layout
(GPT-2's Conv1D stores weights as (in, out))."""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F


class Conv1D(nn.Module):
    """GPT-2's linear layer: weight (in, out), y = x @ W + b."""

    def __init__(self, n_in, n_out):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(n_in, n_out) * 0.02)
        self.bias = nn.Parameter(torch.zeros(n_out))

    def forward(self, x):
        return x @ self.weight + self.bias


class ViTSelfAttention(nn.Module):
    def __init__(self, h):
        super().__init__()
        self.query, self.key, self.value = nn.Linear(h, h), nn.Linear(h, h), nn.Linear(h, h)


class ViTSelfOutput(nn.Module):
    def __init__(self, h):
        super().__init__()
        self.dense = nn.Linear(h, h)


class ViTAttention(nn.Module):
    def __init__(self, h):
        super().__init__()
        self.attention = ViTSelfAttention(h)
        self.output = ViTSelfOutput(h)


class Dense(nn.Module):
    def __init__(self, a, b):
        super().__init__()
        self.dense = nn.Linear(a, b)


class ViTLayer(nn.Module):
    def __init__(self, h, inter, heads, eps):
        super().__init__()
        self.heads = heads
        self.layernorm_before = nn.LayerNorm(h, eps=eps)
        self.attention = ViTAttention(h)
        self.layernorm_after = nn.LayerNorm(h, eps=eps)
        self.intermediate = Dense(h, inter)
        self.output = Dense(inter, h)

    def forward(self, x):
        B, N, H = x.shape
        d = H // self.heads
        y = self.layernorm_before(x)
        a = self.attention.attention
        q = a.query(y).view(B, N, self.heads, d).transpose(1, 2)
        k = a.key(y).view(B, N, self.heads, d).transpose(1, 2)
        v = a.value(y).view(B, N, self.heads, d).transpose(1, 2)
        att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(d), dim=-1)
        o = (att @ v).transpose(1, 2).reshape(B, N, H)
        x = x + self.attention.output.dense(o)
        y = self.layernorm_after(x)
        return x + self.output.dense(F.gelu(self.intermediate.dense(y)))


class PatchEmbeddings(nn.Module):
    def __init__(self, c, h, p):
        super().__init__()
        self.projection = nn.Conv2d(c, h, kernel_size=p, stride=p)


class ViTEmbeddings(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        h, p, s = cfg["hidden_size"], cfg["patch_size"], cfg["image_size"]
        n = (s // p) ** 2
        self.cls_token = nn.Parameter(torch.randn(1, 1, h) * 0.02)
        self.position_embeddings = nn.Parameter(torch.randn(1, n + 1, h) * 0.02)
        self.patch_embeddings = PatchEmbeddings(cfg["num_channels"], h, p)

    def forward(self, px):
        x = self.patch_embeddings.projection(px).flatten(2).transpose(1, 2)  # (B, N, H)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1)
        return x + self.position_embeddings


class ViTEncoderLayers(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.layer = nn.ModuleList(
            [ViTLayer(cfg["hidden_size"], cfg["intermediate_size"], cfg["num_attention_heads"], cfg["layer_norm_eps"]) for _ in range(cfg["num_hidden_layers"])]
        )


class ViTModel(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.embeddings = ViTEmbeddings(cfg)
        self.encoder = ViTEncoderLayers(cfg)
        self.layernorm = nn.LayerNorm(cfg["hidden_size"], eps=cfg["layer_norm_eps"])

    def forward(self, px):
        x = self.embeddings(px)
        for l in self.encoder.layer:
            x = l(x)
        return self.layernorm(x)


class GPT2Attention(nn.Module):
    def __init__(self, h, heads, cross):
        super().__init__()
        self.heads, self.cross = heads, cross
        if cross:
            self.c_attn = Conv1D(h, 2 * h)  # key, value from the encoder
            self.q_attn = Conv1D(h, h)
        else:
            self.c_attn = Conv1D(h, 3 * h)
        self.c_proj = Conv1D(h, h)

    def forward(self, x, enc=None):
        B, T, H = x.shape
        d = H // self.heads
        if self.cross:
            q = self.q_attn(x)
            k, v = self.c_attn(enc).split(H, dim=2)
        else:
            q, k, v = self.c_attn(x).split(H, dim=2)
        S = k.shape[1]
        q = q.view(B, T, self.heads, d).transpose(1, 2)
        k = k.view(B, S, self.heads, d).transpose(1, 2)
        v = v.view(B, S, self.heads, d).transpose(1, 2)
        s = q @ k.transpose(-1, -2) / math.sqrt(d)
        if not self.cross:
            mask = torch.ones(T, S, dtype=torch.bool, device=x.device).tril()
            s = s.masked_fill(~mask, float("-inf"))
        o = (torch.softmax(s, dim=-1) @ v).transpose(1, 2).reshape(B, T, H)
        return self.c_proj(o)


class GPT2MLP(nn.Module):
    def __init__(self, h, inner):
        super().__init__()
        self.c_fc, self.c_proj = Conv1D(h, inner), Conv1D(inner, h)

    def forward(self, x):
        return self.c_proj(F.gelu(self.c_fc(x), approximate="tanh"))


class GPT2Block(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        h, eps = cfg["n_embd"], cfg["layer_norm_epsilon"]
        self.ln_1 = nn.LayerNorm(h, eps=eps)
        self.attn = GPT2Attention(h, cfg["n_head"], False)
        self.ln_cross_attn = nn.LayerNorm(h, eps=eps)
        self.crossattention = GPT2Attention(h, cfg["n_head"], True)
        self.ln_2 = nn.LayerNorm(h, eps=eps)
        self.mlp = GPT2MLP(h, cfg["n_inner"])

    def forward(self, x, enc):
        x = x + self.attn(self.ln_1(x))
        x = x + self.crossattention(self.ln_cross_attn(x), enc)
        return x + self.mlp(self.ln_2(x))


class GPT2Transformer(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.wte = nn.Embedding(cfg["vocab_size"], cfg["n_embd"])
        self.wpe = nn.Embedding(cfg["n_positions"], cfg["n_embd"])
        nn.init.normal_(self.wte.weight, std=0.02)
        nn.init.normal_(self.wpe.weight, std=0.01)
        self.h = nn.ModuleList([GPT2Block(cfg) for _ in range(cfg["n_layer"])])
        self.ln_f = nn.LayerNorm(cfg["n_embd"], eps=cfg["layer_norm_epsilon"])


class GPT2LMHeadModel(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.transformer = GPT2Transformer(cfg)

    def forward(self, ids, enc):
        t = self.transformer
        x = t.wte(ids) + t.wpe(torch.arange(ids.shape[1], device=ids.device))
        for b in t.h:
            x = b(x, enc)
        return t.ln_f(x) @ t.wte.weight.T  # tied lm_head


class Captioner(nn.Module):
    def __init__(self, enc_cfg, dec_cfg):
        super().__init__()
        self.encoder = ViTModel(enc_cfg)
        self.decoder = GPT2LMHeadModel(dec_cfg)

    def forward(self, px, ids):
        return self.decoder(ids, self.encoder(px))
