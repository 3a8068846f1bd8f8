"""Loom's text-to-speech towers in plain PyTorch, written so that state_dict keys
and tensor layouts are those of the two reference implementations the Go towers
(core/towers/tts.go, core/towers/vocoder.go) load:

* FastSpeech 2 (Ren et al. 2020, "FastSpeech 2: Fast and High-Quality End-to-End
  Text to Speech"), names and configuration of the widely used open
  implementation ming024/FastSpeech2 (model.yaml keys: transformer.*,
  variance_predictor.*, variance_embedding.*, multi_speaker, max_seq_len):
  encoder.src_word_emb, encoder.position_enc, encoder.layer_stack.N.slf_attn.
  {w_qs,w_ks,w_vs,fc,layer_norm}, .pos_ffn.{w_1,w_2,layer_norm},
  variance_adaptor.{duration,pitch,energy}_predictor.conv_layer.{conv1d_1.conv,
  layer_norm_1,conv1d_2.conv,layer_norm_2}, .linear_layer, variance_adaptor.
  {pitch,energy}_{bins,embedding}, decoder.position_enc, decoder.layer_stack.N,
  mel_linear, postnet.convolutions.N.{0.conv,1} (conv + BatchNorm1d),
  speaker_emb.
* HiFi-GAN generator (Kong et al. 2020), names and config.json keys of the
  authors' jik876/hifi-gan: conv_pre, ups.N, resblocks.N.{convs1,convs2,convs}.M,
  conv_post, all weight-normed (weight_g, weight_v) as its checkpoints store
  them; ResBlock1 and ResBlock2.
* Vocos (Siuzdak 2023, "Vocos: Closing the gap between time-domain and
  Fourier-based neural vocoders"), names and config of the authors'
  gemelo-ai/vocos: backbone.{embed, norm, convnext.N.{dwconv, norm, pwconv1,
  pwconv2, gamma}, final_layer_norm}, head.{out, istft.window}; a ConvNeXt
  stack at frame rate whose ISTFTHead predicts log-magnitude and phase per
  frame, turned into samples by an inverse STFT with "same" padding.

Post-norm FFT blocks (attention → residual → LayerNorm; conv FFN with kernel
sizes [9, 1] → residual → LayerNorm); phoneme-level (here: character-level)
pitch and energy, each optional through config flags use_pitch / use_energy
(Loom addition: the published model always has both)."""
import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils import weight_norm


def sinusoid_table(n_position, d_hid):
    """FastSpeech 2 / Transformer position table (n_position, d_hid): sin on
    even dims, cos on odd dims, angle pos / 10000^(2·(i//2)/d_hid)."""
    pos = np.arange(n_position)[:, None]
    i = np.arange(d_hid)[None, :]
    angle = pos / np.power(10000, 2 * (i // 2) / d_hid)
    t = np.zeros((n_position, d_hid))
    t[:, 0::2] = np.sin(angle[:, 0::2])
    t[:, 1::2] = np.cos(angle[:, 1::2])
    return torch.tensor(t, dtype=torch.float32)


class MultiHeadAttention(nn.Module):
    def __init__(self, n_head, d_model, d_k, d_v):
        super().__init__()
        self.n_head, self.d_k, self.d_v = n_head, d_k, d_v
        self.w_qs = nn.Linear(d_model, n_head * d_k)
        self.w_ks = nn.Linear(d_model, n_head * d_k)
        self.w_vs = nn.Linear(d_model, n_head * d_v)
        self.layer_norm = nn.LayerNorm(d_model)
        self.fc = nn.Linear(n_head * d_v, d_model)
        self.dropout = nn.Dropout(0.1)

    def forward(self, x, key_pad):  # x (B, L, D), key_pad (B, L) True = padding
        B, L, _ = x.shape
        q = self.w_qs(x).view(B, L, self.n_head, self.d_k).transpose(1, 2)
        k = self.w_ks(x).view(B, L, self.n_head, self.d_k).transpose(1, 2)
        v = self.w_vs(x).view(B, L, self.n_head, self.d_v).transpose(1, 2)
        att = q @ k.transpose(-1, -2) / (self.d_k ** 0.5)  # (B, h, L, L)
        if key_pad is not None:
            att = att.masked_fill(key_pad[:, None, None, :], float("-inf"))
        att = torch.softmax(att, dim=-1)
        out = (att @ v).transpose(1, 2).reshape(B, L, self.n_head * self.d_v)
        return self.layer_norm(self.dropout(self.fc(out)) + x)


class PositionwiseFeedForward(nn.Module):
    def __init__(self, d_in, d_hid, kernel_size, dropout):
        super().__init__()
        self.w_1 = nn.Conv1d(d_in, d_hid, kernel_size[0], padding=(kernel_size[0] - 1) // 2)
        self.w_2 = nn.Conv1d(d_hid, d_in, kernel_size[1], padding=(kernel_size[1] - 1) // 2)
        self.layer_norm = nn.LayerNorm(d_in)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        out = self.w_2(F.relu(self.w_1(x.transpose(1, 2)))).transpose(1, 2)
        return self.layer_norm(self.dropout(out) + x)


class FFTBlock(nn.Module):
    def __init__(self, d_model, n_head, d_inner, kernel_size, dropout):
        super().__init__()
        d = d_model // n_head
        self.slf_attn = MultiHeadAttention(n_head, d_model, d, d)
        self.pos_ffn = PositionwiseFeedForward(d_model, d_inner, kernel_size, dropout)

    def forward(self, x, pad):
        x = self.slf_attn(x, pad)
        if pad is not None:
            x = x.masked_fill(pad.unsqueeze(-1), 0)
        x = self.pos_ffn(x)
        if pad is not None:
            x = x.masked_fill(pad.unsqueeze(-1), 0)
        return x


class Encoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        t = c["transformer"]
        d = t["encoder_hidden"]
        self.src_word_emb = nn.Embedding(c["n_src_vocab"], d, padding_idx=0)
        self.position_enc = nn.Parameter(sinusoid_table(c["max_seq_len"] + 1, d).unsqueeze(0), requires_grad=False)
        self.layer_stack = nn.ModuleList([FFTBlock(d, t["encoder_head"], t["conv_filter_size"], t["conv_kernel_size"],
                                                   t["encoder_dropout"]) for _ in range(t["encoder_layer"])])

    def forward(self, src, pad):
        L = src.shape[1]
        pos = self.position_enc[:, :L] if L <= self.position_enc.shape[1] else sinusoid_table(L, self.position_enc.shape[2])[None]
        x = self.src_word_emb(src) + pos
        for layer in self.layer_stack:
            x = layer(x, pad)
        return x


class Decoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        t = c["transformer"]
        d = t["decoder_hidden"]
        self.position_enc = nn.Parameter(sinusoid_table(c["max_seq_len"] + 1, d).unsqueeze(0), requires_grad=False)
        self.layer_stack = nn.ModuleList([FFTBlock(d, t["decoder_head"], t["conv_filter_size"], t["conv_kernel_size"],
                                                   t["decoder_dropout"]) for _ in range(t["decoder_layer"])])

    def forward(self, x, pad):
        L = x.shape[1]
        pos = self.position_enc[:, :L] if L <= self.position_enc.shape[1] else sinusoid_table(L, self.position_enc.shape[2])[None]
        x = x + pos
        for layer in self.layer_stack:
            x = layer(x, pad)
        return x


class Conv(nn.Module):
    """ming024's Conv: a Conv1d over (B, L, C) activations."""

    def __init__(self, cin, cout, k):
        super().__init__()
        self.conv = nn.Conv1d(cin, cout, k, padding=(k - 1) // 2)

    def forward(self, x):
        return self.conv(x.transpose(1, 2)).transpose(1, 2)


class VariancePredictor(nn.Module):
    def __init__(self, d, c):
        super().__init__()
        v = c["variance_predictor"]
        f, k, p = v["filter_size"], v["kernel_size"], v["dropout"]
        self.conv_layer = nn.Sequential()
        self.conv_layer.add_module("conv1d_1", Conv(d, f, k))
        self.conv_layer.add_module("relu_1", nn.ReLU())
        self.conv_layer.add_module("layer_norm_1", nn.LayerNorm(f))
        self.conv_layer.add_module("dropout_1", nn.Dropout(p))
        self.conv_layer.add_module("conv1d_2", Conv(f, f, k))
        self.conv_layer.add_module("relu_2", nn.ReLU())
        self.conv_layer.add_module("layer_norm_2", nn.LayerNorm(f))
        self.conv_layer.add_module("dropout_2", nn.Dropout(p))
        self.linear_layer = nn.Linear(f, 1)

    def forward(self, x, pad):
        out = self.linear_layer(self.conv_layer(x)).squeeze(-1)
        if pad is not None:
            out = out.masked_fill(pad, 0.0)
        return out


def length_regulate(x, durations, max_len=None):
    """Repeat each token row durations[b, i] times (FastSpeech's length
    regulator); rows past a sequence's length are zero. x (B, N, D) →
    (B, T, D), lengths (B)."""
    out, lens = [], []
    for b in range(x.shape[0]):
        d = durations[b].long().clamp(min=0)
        out.append(torch.repeat_interleave(x[b], d, dim=0))
        lens.append(out[-1].shape[0])
    T = max(max(lens), 1) if max_len is None else max_len
    y = x.new_zeros(x.shape[0], T, x.shape[2])
    for b, o in enumerate(out):
        n = min(o.shape[0], T)
        y[b, :n] = o[:n]
    return y, torch.tensor(lens, dtype=torch.long)


class VarianceAdaptor(nn.Module):
    def __init__(self, c):
        super().__init__()
        d = c["transformer"]["encoder_hidden"]
        self.use_pitch, self.use_energy = c.get("use_pitch", True), c.get("use_energy", True)
        self.pred_energy_share = 0.0  # training only, see forward
        self.duration_predictor = VariancePredictor(d, c)
        nb = c["variance_embedding"]["n_bins"]
        if self.use_pitch:
            self.pitch_predictor = VariancePredictor(d, c)
            lo, hi = c["stats"]["pitch"][:2]
            self.pitch_bins = nn.Parameter(torch.linspace(lo, hi, nb - 1), requires_grad=False)
            self.pitch_embedding = nn.Embedding(nb, d)
        if self.use_energy:
            self.energy_predictor = VariancePredictor(d, c)
            lo, hi = c["stats"]["energy"][:2]
            self.energy_bins = nn.Parameter(torch.linspace(lo, hi, nb - 1), requires_grad=False)
            self.energy_embedding = nn.Embedding(nb, d)

    def forward(self, x, pad, d_target=None, p_target=None, e_target=None, p_control=1.0, e_control=1.0, d_control=1.0):
        log_d = self.duration_predictor(x, pad)
        p_pred = e_pred = None
        if self.use_pitch:
            p_pred = self.pitch_predictor(x, pad)
            p = p_target if p_target is not None else p_pred * p_control
            x = x + self.pitch_embedding(torch.bucketize(p, self.pitch_bins))
        if self.use_energy:
            e_pred = self.energy_predictor(x, pad)
            e = e_target if e_target is not None else e_pred * e_control
            if e_target is not None and self.training and self.pred_energy_share > 0:
                # scheduled sampling: this share of the utterances feed the decoder the predictor's own energies,
                # which is what it gets at serve time (train_acoustic.py --pred-energy)
                own = torch.rand(e.shape[0], 1, device=e.device) < self.pred_energy_share
                e = torch.where(own, e_pred.detach(), e_target)
            x = x + self.energy_embedding(torch.bucketize(e, self.energy_bins))
        if d_target is not None:
            d = d_target
        else:
            d = torch.clamp(torch.round(torch.exp(log_d) - 1) * d_control, min=0)
            if pad is not None:
                d = d.masked_fill(pad, 0)
        y, mel_lens = length_regulate(x, d)
        return y, log_d, d, mel_lens, p_pred, e_pred


class ConvNorm(nn.Module):
    """Tacotron 2's ConvNorm: a Conv1d over (B, C, T), kept as .conv."""

    def __init__(self, cin, cout, k):
        super().__init__()
        self.conv = nn.Conv1d(cin, cout, k, padding=(k - 1) // 2)

    def forward(self, x):
        return self.conv(x)


class PostNet(nn.Module):
    def __init__(self, n_mel, dim, k, n):
        super().__init__()
        self.convolutions = nn.ModuleList()
        for i in range(n):
            cin = n_mel if i == 0 else dim
            cout = n_mel if i == n - 1 else dim
            self.convolutions.append(nn.Sequential(ConvNorm(cin, cout, k), nn.BatchNorm1d(cout)))

    def forward(self, x):  # (B, T, n_mel)
        x = x.transpose(1, 2)
        for i, c in enumerate(self.convolutions):
            x = c(x)
            if i < len(self.convolutions) - 1:
                x = torch.tanh(x)
            x = F.dropout(x, 0.5, self.training)
        return x.transpose(1, 2)


class FastSpeech2(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        self.encoder = Encoder(c)
        self.variance_adaptor = VarianceAdaptor(c)
        self.decoder = Decoder(c)
        self.mel_linear = nn.Linear(c["transformer"]["decoder_hidden"], c["n_mel_channels"])
        pn = c.get("postnet", {"n_convolutions": 5, "embedding_dim": 512, "kernel_size": 5})
        self.postnet = PostNet(c["n_mel_channels"], pn["embedding_dim"], pn["kernel_size"], pn["n_convolutions"]) \
            if pn["n_convolutions"] > 0 else None
        if c.get("multi_speaker", False):
            self.speaker_emb = nn.Embedding(c["n_speaker"], c["transformer"]["encoder_hidden"])

    def forward(self, src, src_lens, speakers=None, d_target=None, p_target=None, e_target=None,
                p_control=1.0, e_control=1.0, d_control=1.0):
        """src (B, N) ids, src_lens (B); returns mel (B, T, n_mel), postnet mel,
        log durations (B, N), durations, mel lengths, pitch, energy."""
        N = src.shape[1]
        pad = torch.arange(N)[None, :] >= src_lens[:, None]
        x = self.encoder(src, pad)
        if hasattr(self, "speaker_emb"):
            x = x + self.speaker_emb(speakers).unsqueeze(1)
        x, log_d, d, mel_lens, p, e = self.variance_adaptor(x, pad, d_target, p_target, e_target, p_control, e_control, d_control)
        T = x.shape[1]
        mpad = torch.arange(T)[None, :] >= mel_lens[:, None]
        y = self.decoder(x, mpad)
        mel = self.mel_linear(y)
        post = mel + self.postnet(mel) if self.postnet is not None else mel
        return mel, post, log_d, d, mel_lens, p, e


# ---- HiFi-GAN generator ----

LRELU_SLOPE = 0.1


def get_padding(k, d=1):
    return (k * d - d) // 2


class ResBlock1(nn.Module):
    def __init__(self, ch, k=3, dilation=(1, 3, 5)):
        super().__init__()
        self.convs1 = nn.ModuleList([weight_norm(nn.Conv1d(ch, ch, k, 1, dilation=d, padding=get_padding(k, d))) for d in dilation])
        self.convs2 = nn.ModuleList([weight_norm(nn.Conv1d(ch, ch, k, 1, dilation=1, padding=get_padding(k, 1))) for _ in dilation])

    def forward(self, x):
        for c1, c2 in zip(self.convs1, self.convs2):
            xt = c2(F.leaky_relu(c1(F.leaky_relu(x, LRELU_SLOPE)), LRELU_SLOPE))
            x = xt + x
        return x


class ResBlock2(nn.Module):
    def __init__(self, ch, k=3, dilation=(1, 3)):
        super().__init__()
        self.convs = nn.ModuleList([weight_norm(nn.Conv1d(ch, ch, k, 1, dilation=d, padding=get_padding(k, d))) for d in dilation])

    def forward(self, x):
        for c in self.convs:
            x = c(F.leaky_relu(x, LRELU_SLOPE)) + x
        return x


class Generator(nn.Module):
    def __init__(self, h):
        super().__init__()
        self.num_kernels = len(h["resblock_kernel_sizes"])
        self.num_upsamples = len(h["upsample_rates"])
        c0 = h["upsample_initial_channel"]
        self.conv_pre = weight_norm(nn.Conv1d(h.get("num_mels", 80), c0, 7, 1, padding=3))
        rb = ResBlock1 if str(h["resblock"]) == "1" else ResBlock2
        self.ups = nn.ModuleList()
        for i, (u, k) in enumerate(zip(h["upsample_rates"], h["upsample_kernel_sizes"])):
            self.ups.append(weight_norm(nn.ConvTranspose1d(c0 // 2 ** i, c0 // 2 ** (i + 1), k, u, padding=(k - u) // 2)))
        self.resblocks = nn.ModuleList()
        for i in range(len(self.ups)):
            ch = c0 // 2 ** (i + 1)
            for k, d in zip(h["resblock_kernel_sizes"], h["resblock_dilation_sizes"]):
                self.resblocks.append(rb(ch, k, d))
        self.conv_post = weight_norm(nn.Conv1d(ch, 1, 7, 1, padding=3))

    def forward(self, x):  # mel (B, num_mels, T) → wav (B, 1, T·hop)
        x = self.conv_pre(x)
        for i in range(self.num_upsamples):
            x = self.ups[i](F.leaky_relu(x, LRELU_SLOPE))
            xs = None
            for j in range(self.num_kernels):
                r = self.resblocks[i * self.num_kernels + j](x)
                xs = r if xs is None else xs + r
            x = xs / self.num_kernels
        x = F.leaky_relu(x)  # PyTorch's default slope 0.01, as the reference
        return torch.tanh(self.conv_post(x))


# ---- Vocos ----


class ConvNeXtBlock(nn.Module):
    def __init__(self, dim, intermediate_dim, layer_scale_init_value):
        super().__init__()
        self.dwconv = nn.Conv1d(dim, dim, kernel_size=7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pwconv1 = nn.Linear(dim, intermediate_dim)
        self.act = nn.GELU()
        self.pwconv2 = nn.Linear(intermediate_dim, dim)
        self.gamma = nn.Parameter(layer_scale_init_value * torch.ones(dim))

    def forward(self, x):  # (B, C, T)
        y = self.norm(self.dwconv(x).transpose(1, 2))
        y = self.gamma * self.pwconv2(self.act(self.pwconv1(y)))
        return x + y.transpose(1, 2)


class VocosBackbone(nn.Module):
    def __init__(self, input_channels, dim, intermediate_dim, num_layers, layer_scale_init_value=None):
        super().__init__()
        self.embed = nn.Conv1d(input_channels, dim, kernel_size=7, padding=3)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        ls = layer_scale_init_value or 1 / num_layers
        self.convnext = nn.ModuleList([ConvNeXtBlock(dim, intermediate_dim, ls) for _ in range(num_layers)])
        self.final_layer_norm = nn.LayerNorm(dim, eps=1e-6)
        for m in self.modules():
            if isinstance(m, (nn.Conv1d, nn.Linear)):
                nn.init.trunc_normal_(m.weight, std=0.02)
                nn.init.constant_(m.bias, 0)

    def forward(self, x):  # mel (B, n_mels, T) → (B, T, dim)
        x = self.norm(self.embed(x).transpose(1, 2)).transpose(1, 2)
        for block in self.convnext:
            x = block(x)
        return self.final_layer_norm(x.transpose(1, 2))


class ISTFT(nn.Module):
    """Inverse STFT with Vocos' "same" padding: irfft of each frame, Hann
    window, overlap-add, (win - hop) / 2 samples trimmed at each end, divided by
    the summed squared window; T frames → T·hop samples."""

    def __init__(self, n_fft, hop_length, win_length):
        super().__init__()
        self.n_fft, self.hop_length, self.win_length = n_fft, hop_length, win_length
        self.register_buffer("window", torch.hann_window(win_length))

    def forward(self, spec):  # complex (B, n_fft/2 + 1, T)
        pad = (self.win_length - self.hop_length) // 2
        T = spec.shape[-1]
        frames = torch.fft.irfft(spec, self.n_fft, dim=1, norm="backward") * self.window[None, :, None]
        size = (T - 1) * self.hop_length + self.win_length
        y = F.fold(frames, output_size=(1, size), kernel_size=(1, self.win_length), stride=(1, self.hop_length))[:, 0, 0, pad:-pad]
        wsq = self.window.square().expand(1, T, -1).transpose(1, 2)
        env = F.fold(wsq, output_size=(1, size), kernel_size=(1, self.win_length), stride=(1, self.hop_length)).squeeze()[pad:-pad]
        return y / env


class ISTFTHead(nn.Module):
    def __init__(self, dim, n_fft, hop_length, padding="same"):
        super().__init__()
        if padding != "same":
            raise ValueError("only Vocos' \"same\" padding is implemented")
        self.out = nn.Linear(dim, n_fft + 2)
        self.istft = ISTFT(n_fft, hop_length, n_fft)

    def spectrum(self, x):  # (B, T, dim) → log-magnitude, phase (B, n_fft/2 + 1, T)
        logmag, phase = self.out(x).transpose(1, 2).chunk(2, dim=1)
        return logmag, phase

    def forward(self, x):
        logmag, p = self.spectrum(x)
        mag = torch.clip(torch.exp(logmag), max=1e2)
        return self.istft(mag * (torch.cos(p) + 1j * torch.sin(p)))


class Vocos(nn.Module):
    """config: gemelo-ai/vocos' config.yaml as JSON (backbone.init_args,
    head.init_args); the feature extractor is audio.log_mel, not a module."""

    def __init__(self, c):
        super().__init__()
        b, h = c["backbone"]["init_args"], c["head"]["init_args"]
        self.backbone = VocosBackbone(b["input_channels"], b["dim"], b["intermediate_dim"], b["num_layers"],
                                      b.get("layer_scale_init_value"))
        self.head = ISTFTHead(h["dim"], h["n_fft"], h["hop_length"], h.get("padding", "same"))

    def forward(self, mel):  # (B, n_mels, T) → (B, 1, T·hop), HiFi-GAN's output shape
        return self.head(self.backbone(mel)).unsqueeze(1)


def load_vocoder(cfg):
    """The vocoder module a config.json describes: Vocos when it has a
    backbone section, else a HiFi-GAN generator."""
    return Vocos(cfg) if "backbone" in cfg else Generator(cfg)


def param_count(m):
    return sum(p.numel() for p in m.parameters() if p.requires_grad)
