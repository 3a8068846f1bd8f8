"""Plain-PyTorch Whisper (Radford et al. 2022, "Robust Speech Recognition via
Large-Scale Weak Supervision"), the reference Loom's Go tower is checked
against and the model tools/asr trains. Written from the paper and openai/whisper's
model.py/audio.py, with the parameter names of Hugging Face's
WhisperForConditionalGeneration, so a state dict saved from it loads into
transformers and a transformers checkpoint loads into it:

  model.encoder.conv1/conv2, model.encoder.embed_positions.weight,
  model.encoder.layers.N.{self_attn.{q,k,v,out}_proj, self_attn_layer_norm,
    fc1, fc2, final_layer_norm}, model.encoder.layer_norm,
  model.decoder.embed_tokens.weight, model.decoder.embed_positions.weight,
  model.decoder.layers.N.{self_attn.*, self_attn_layer_norm, encoder_attn.*,
    encoder_attn_layer_norm, fc1, fc2, final_layer_norm}, model.decoder.layer_norm,
  proj_out tied to embed_tokens.

The log-mel front end is openai/whisper's log_mel_spectrogram over one window
padded with zeros as Hugging Face's WhisperFeatureExtractor does; the mel
filterbank is librosa.filters.mel(sr, n_fft, n_mels) (Slaney scale and area
normalisation), as tools/tts/audio.py writes it out with numpy since Debian
has no librosa."""
import math
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tts"))
import audio as tts_audio  # noqa: E402

SAMPLE_RATE, N_FFT, HOP = 16000, 400, 160


def mel_filters(sr=SAMPLE_RATE, n_fft=N_FFT, n_mels=80):
    """librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels), float32 (n_mels, 1+n_fft/2):
    Slaney scale and area normalisation from 0 Hz to sr/2, the formula the TTS tools use."""
    return tts_audio.mel_filters(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=0.0, fmax=sr / 2)


def log_mel(audio, n_samples, n_mels=80, filters=None):
    """openai/whisper log_mel_spectrogram of audio zero-padded (or cut) to
    n_samples: (n_mels, n_samples/HOP). filters, (n_mels, 1+N_FFT/2), replaces
    the mel filterbank (train.py's frequency warping); None is Whisper's."""
    a = torch.zeros(n_samples)
    x = torch.as_tensor(audio, dtype=torch.float32)[:n_samples]
    a[: len(x)] = x
    window = torch.hann_window(N_FFT)
    stft = torch.stft(a, N_FFT, HOP, window=window, return_complex=True)
    mag = stft[..., :-1].abs() ** 2
    fb = mel_filters(n_mels=n_mels) if filters is None else filters
    mel = torch.from_numpy(np.ascontiguousarray(fb, dtype=np.float32)) @ mag
    log_spec = torch.clamp(mel, min=1e-10).log10()
    log_spec = torch.maximum(log_spec, log_spec.max() - 8.0)
    return (log_spec + 4.0) / 4.0


def sinusoids(length, channels, max_timescale=10000):
    """openai/whisper's encoder positions: sin half then cos half."""
    inc = math.log(max_timescale) / (channels // 2 - 1)
    inv = torch.exp(-inc * torch.arange(channels // 2))
    t = torch.arange(length)[:, None] * inv[None, :]
    return torch.cat([torch.sin(t), torch.cos(t)], dim=1)


class Attention(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads = heads
        self.q_proj = nn.Linear(d, d)
        self.k_proj = nn.Linear(d, d, bias=False)
        self.v_proj = nn.Linear(d, d)
        self.out_proj = nn.Linear(d, d)

    def forward(self, x, ctx=None, causal=False, kv=None):
        """kv: a list [k, v] cache, extended in place for self-attention, and
        for cross-attention (ctx given) filled once and reused, as
        openai/whisper's kv_cache hooks do."""
        B, T, D = x.shape
        hd = D // self.heads
        q = self.q_proj(x)
        if ctx is not None and kv is not None and kv[0] is not None:
            k, v = kv[0], kv[1]
        else:
            src = x if ctx is None else ctx
            k, v = self.k_proj(src), self.v_proj(src)
            if kv is not None:
                if kv[0] is not None:
                    k, v = torch.cat([kv[0], k], 1), torch.cat([kv[1], v], 1)
                kv[0], kv[1] = k, v
        S = k.shape[1]
        q = q.view(B, T, self.heads, hd).transpose(1, 2)
        k = k.view(B, S, self.heads, hd).transpose(1, 2)
        v = v.view(B, S, self.heads, hd).transpose(1, 2)
        att = q @ k.transpose(-1, -2) / math.sqrt(hd)
        if causal:
            off = S - T
            mask = torch.ones(T, S, dtype=torch.bool).tril(off)
            att = att.masked_fill(~mask, float("-inf"))
        o = att.softmax(-1) @ v
        return self.out_proj(o.transpose(1, 2).reshape(B, T, D))


class EncoderLayer(nn.Module):
    def __init__(self, d, heads, ff):
        super().__init__()
        self.self_attn = Attention(d, heads)
        self.self_attn_layer_norm = nn.LayerNorm(d)
        self.fc1, self.fc2 = nn.Linear(d, ff), nn.Linear(ff, d)
        self.final_layer_norm = nn.LayerNorm(d)

    def forward(self, x):
        x = x + self.self_attn(self.self_attn_layer_norm(x))
        return x + self.fc2(F.gelu(self.fc1(self.final_layer_norm(x))))


class DecoderLayer(nn.Module):
    def __init__(self, d, heads, ff):
        super().__init__()
        self.self_attn = Attention(d, heads)
        self.self_attn_layer_norm = nn.LayerNorm(d)
        self.encoder_attn = Attention(d, heads)
        self.encoder_attn_layer_norm = nn.LayerNorm(d)
        self.fc1, self.fc2 = nn.Linear(d, ff), nn.Linear(ff, d)
        self.final_layer_norm = nn.LayerNorm(d)

    def forward(self, x, enc, kv=None):
        """kv: None, or [k, v, [cross_k, cross_v]] (new_cache() makes one)."""
        x = x + self.self_attn(self.self_attn_layer_norm(x), causal=True, kv=kv)
        x = x + self.encoder_attn(self.encoder_attn_layer_norm(x), ctx=enc, kv=None if kv is None else kv[2])
        return x + self.fc2(F.gelu(self.fc1(self.final_layer_norm(x))))


class Encoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        d = c["d_model"]
        self.conv1 = nn.Conv1d(c["num_mel_bins"], d, 3, padding=1)
        self.conv2 = nn.Conv1d(d, d, 3, stride=2, padding=1)
        self.embed_positions = nn.Embedding(c["max_source_positions"], d)
        self.embed_positions.weight.data.copy_(sinusoids(c["max_source_positions"], d))
        self.embed_positions.weight.requires_grad_(False)
        self.layers = nn.ModuleList(EncoderLayer(d, c["encoder_attention_heads"], c["encoder_ffn_dim"]) for _ in range(c["encoder_layers"]))
        self.layer_norm = nn.LayerNorm(d)

    def forward(self, mel):  # (B, n_mels, 2·S) -> (B, S, d)
        x = F.gelu(self.conv1(mel))
        x = F.gelu(self.conv2(x)).transpose(1, 2)
        x = x + self.embed_positions.weight[: x.shape[1]]
        for l in self.layers:
            x = l(x)
        return self.layer_norm(x)


class Decoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        d = c["d_model"]
        self.embed_tokens = nn.Embedding(c["vocab_size"], d)
        self.embed_positions = nn.Embedding(c["max_target_positions"], d)
        self.layers = nn.ModuleList(DecoderLayer(d, c["decoder_attention_heads"], c["decoder_ffn_dim"]) for _ in range(c["decoder_layers"]))
        self.layer_norm = nn.LayerNorm(d)

    def new_cache(self):
        """Per layer: self-attention keys and values, then the cross-attention's."""
        return [[None, None, [None, None]] for _ in self.layers]

    def forward(self, ids, enc, cache=None, pos0=0):
        """ids (B, T) at positions pos0…; cache: from new_cache()."""
        x = self.embed_tokens(ids) + self.embed_positions.weight[pos0 : pos0 + ids.shape[1]]
        for i, l in enumerate(self.layers):
            x = l(x, enc, None if cache is None else cache[i])
        x = self.layer_norm(x)
        return x @ self.embed_tokens.weight.T


class Model(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.encoder, self.decoder = Encoder(c), Decoder(c)


class Whisper(nn.Module):
    """WhisperForConditionalGeneration's parameter layout (proj_out tied)."""

    def __init__(self, c):
        super().__init__()
        self.config = c
        self.model = Model(c)

    def state_dict_hf(self):
        return {k: v.detach().float().contiguous().numpy() for k, v in self.state_dict().items()}
