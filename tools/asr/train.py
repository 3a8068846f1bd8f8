#!/usr/bin/python3
"""Trains models/loom-asr: a small Whisper (whisper_ref.py, Hugging Face's
WhisperForConditionalGeneration names) from scratch on make_data.py's speech,
and writes it as a model folder Loom loads (folder.py).

Choices for a model trained in about an hour on one CPU thread:
  * windows of 6 s (max_source_positions 300), not 30 s: the clips that fit
    in one (9 in 10), and the encoder costs a fifth as much;
  * a character-level vocabulary (byte-level BPE with no merges: the 256 byte
    tokens, then Whisper's specials and timestamps), which spells words it
    never heard instead of guessing among learnt pieces;
  * an auxiliary CTC loss on the encoder's output (a linear head dropped at
    export) so that the encoder learns the alignment long before the
    cross-attention would find it alone (Kim et al. 2017, joint CTC-attention);
  * augmentation on the fly: optionally a change of speed (--speed: 0.9-1.1
    or --speed-range, by resampling), a warp of the frequency axis (--warp:
    vocal tract length perturbation, formants moved without the tempo), a
    random lead-in of silence, gain, noise at
    8-35 dB SNR, a synthetic room (exponentially decaying noise as the
    impulse response), and one time and one frequency mask on the log-mel;
  * one utterance in ten is trained with Whisper's timestamp protocol
    (<|0.00|> text <|end|>), the rest with <|notimestamps|>;
  * a wall-clock budget: the learning rate follows the fraction of the budget
    spent (warm-up, then cosine to 5 %), and the model is written at every
    checkpoint, so stopping early still leaves a usable folder.

  OMP_NUM_THREADS=1 nice -n 10 /usr/bin/python3 tools/asr/train.py \\
      --data /tmp/asr/train_es,/tmp/asr/train_loom --heldout /tmp/asr/heldout \\
      --out models/loom-asr --work /tmp/asr/run --until 05:18"""
import argparse
import copy
import datetime
import json
import math
import os
import random
import re
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import folder  # noqa: E402
import nospeech  # noqa: E402
import whisper_ref as W  # noqa: E402

sys.path.insert(0, os.path.join(HERE, "..", "tts"))
from wer import edits, words  # noqa: E402

CHUNK = 6  # seconds per window
N_SAMPLES = CHUNK * W.SAMPLE_RATE
MAX_SPEECH = N_SAMPLES - 4800  # longest clip trained on: 0.3 s of the window left for the lead-in


SIZES = {"small": (192, 4, 2, 4, 768), "tiny": (128, 3, 2, 4, 512)}


def parse_size(size):
    """A named size, or D,ENC,DEC,FF (width, encoder and decoder layers, FFN
    width; 4 heads): e.g. 128,4,2,768 is tiny with a fourth encoder layer and
    wider FFNs, what --grow-from grows tiny's weights into."""
    if size in SIZES:
        return SIZES[size]
    try:
        d, el, dl, ff = (int(v) for v in size.split(","))
    except ValueError:
        raise ValueError(f"--size {size!r}: tiny, small or D,ENC,DEC,FF") from None
    if not (d > 0 and d % 4 == 0 and 1 <= el <= 32 and 1 <= dl <= 32 and ff > 0):
        raise ValueError(f"--size {size!r}: D a positive multiple of 4 heads, 1-32 layers each, FF > 0")
    return d, el, dl, 4, ff


def model_config(n_vocab, size):
    d, el, dl, h, ff = parse_size(size)
    return {"d_model": d, "encoder_layers": el, "encoder_attention_heads": h, "encoder_ffn_dim": ff,
            "decoder_layers": dl, "decoder_attention_heads": h, "decoder_ffn_dim": ff, "num_mel_bins": 80,
            "max_source_positions": CHUNK * 50, "max_target_positions": 256, "vocab_size": n_vocab}


def load_set(dirs):
    """The clips of make_data.py folders; a folder still being written gives
    the clips written so far (train.py reloads while the data grows)."""
    clips = []
    for d in dirs.split(","):
        if not os.path.exists(os.path.join(d, "index.jsonl")):
            continue
        pcm = np.fromfile(os.path.join(d, "clips.bin"), dtype=np.int16)
        for line in open(os.path.join(d, "index.jsonl")):
            try:
                j = json.loads(line)
            except ValueError:
                break
            if j["offset"] + j["samples"] > len(pcm):
                break
            j["pcm"] = pcm[j["offset"]: j["offset"] + j["samples"]]
            clips.append(j)
    return clips


WARP_EDGE = 4800.0  # Hz: the boundary below which VTLP scales frequencies (Jaitly & Hinton 2013)


def warp_filters(alpha, n_mels=80):
    """Whisper's mel filterbank over a warped frequency axis (vocal tract
    length perturbation): power at frequency f moves to f·alpha below the
    boundary WARP_EDGE·min(alpha, 1) and along a straight line onto the
    Nyquist frequency above it, so formants move by alpha and the band stays
    0..sr/2. Returns mel_filters @ M, (n_mels, 1+N_FFT/2), where M linearly
    interpolates the warped power spectrum from the bins; alpha 1 is
    mel_filters itself."""
    if not 0.5 <= alpha <= 2.0:
        raise ValueError(f"warp factor {alpha} outside 0.5-2")
    n_bins = W.N_FFT // 2 + 1
    nyq = W.SAMPLE_RATE / 2
    f = np.arange(n_bins) * nyq / (n_bins - 1)
    edge = WARP_EDGE * min(alpha, 1.0) / alpha  # source frequency that lands on the boundary
    to = np.where(f <= edge, f * alpha,
                  nyq - (nyq - WARP_EDGE * min(alpha, 1.0)) / (nyq - edge) * (nyq - f))
    src = np.interp(f, to, f) * (n_bins - 1) / nyq  # fractional source bin of each output bin
    lo = np.clip(np.floor(src).astype(int), 0, n_bins - 1)
    hi = np.minimum(lo + 1, n_bins - 1)
    w = src - lo
    m = np.zeros((n_bins, n_bins))
    m[np.arange(n_bins), lo] += 1 - w
    m[np.arange(n_bins), hi] += w
    return (W.mel_filters(n_mels=n_mels).astype(np.float64) @ m).astype(np.float32)


def parse_range(s, flag):
    """LO,HI with 0.5 <= LO <= HI <= 2, for --speed-range and --warp-range."""
    try:
        lo, hi = (float(v) for v in s.split(","))
    except ValueError:
        raise SystemExit(f"{flag}: want LO,HI (two numbers), got {s!r}")
    if not 0.5 <= lo <= hi <= 2.0:
        raise SystemExit(f"{flag}: want 0.5 <= LO <= HI <= 2, got {s!r}")
    return lo, hi


class Augment:
    def __init__(self, rng, room=0.35, noise=0.5, pad=0.0, speed=0.0, speed_range=(0.9, 1.1), warp=0.0,
                 warp_range=(0.9, 1.1)):
        self.rng, self.room, self.noise, self.pad, self.speed = rng, room, noise, pad, speed
        self.speed_range, self.warp, self.warp_range = speed_range, warp, warp_range

    def filters(self):
        """The mel filterbank for the next utterance: a warped one for --warp's
        share of them (factor uniform in warp_range), else None (Whisper's)."""
        if self.warp and self.rng.random() < self.warp:
            return warp_filters(self.rng.uniform(*self.warp_range))
        return None

    def __call__(self, pcm):
        """The augmented window, the samples before the speech starts, and the
        speech's length in samples (after any change of speed)."""
        r = self.rng
        x = pcm.astype(np.float32) / 32768.0
        if self.speed and r.random() < self.speed:  # speed perturbation: tempo, pitch and formants by one factor
            lo = max(self.speed_range[0], len(x) / MAX_SPEECH)  # a slower clip must still fit the window
            if lo <= self.speed_range[1]:
                f = r.uniform(lo, self.speed_range[1])
                n = int(len(x) / f)
                x = np.interp(np.arange(n) * f, np.arange(len(x)), x).astype(np.float32)
        speech = len(x)
        padded = 0
        if r.random() < self.pad:  # silence before and after the speech, under the same room and noise
            room = max(0, N_SAMPLES - len(x))
            padded = min(int(r.uniform(0, 1.5) * W.SAMPLE_RATE), room)
            trail = min(int(r.uniform(0, 1.5) * W.SAMPLE_RATE), room - padded)
            x = np.concatenate([np.zeros(padded, np.float32), x, np.zeros(trail, np.float32)])
        if r.random() < self.room:  # a room: exponentially decaying noise as the impulse response
            rt60 = r.uniform(0.15, 0.6)
            n = int(rt60 * W.SAMPLE_RATE)
            t = np.arange(n) / W.SAMPLE_RATE
            ir = np.random.randn(n).astype(np.float32) * np.exp(-6.9 * t / rt60).astype(np.float32)
            ir[0] = 1.0 / r.uniform(0.3, 1.0)
            wet = np.fft.irfft(np.fft.rfft(x, len(x) + n) * np.fft.rfft(ir, len(x) + n))[: len(x)]
            x = (wet / (np.abs(wet).max() + 1e-6) * np.abs(x).max()).astype(np.float32)
        if r.random() < self.noise:  # noise: white, pink-ish (integrated), or hum
            kind = r.random()
            nz = np.random.randn(len(x)).astype(np.float32)
            if kind < 0.4:
                nz = np.cumsum(nz)
                nz -= np.convolve(nz, np.ones(200) / 200, mode="same")
            elif kind < 0.5:
                nz = np.sin(2 * np.pi * r.choice([50, 60, 100]) * np.arange(len(x)) / W.SAMPLE_RATE).astype(np.float32) + 0.1 * nz
            snr = r.uniform(8, 35)
            p_s = float((x ** 2).mean()) + 1e-9
            p_n = float((nz ** 2).mean()) + 1e-9
            x = x + nz * math.sqrt(p_s / p_n / 10 ** (snr / 10))
        x = x * r.uniform(0.25, 1.0) / (np.abs(x).max() + 1e-6)
        lead = int(r.uniform(0, 0.5) * W.SAMPLE_RATE) if not padded else 0
        lead = min(lead, max(0, N_SAMPLES - len(x)))
        return np.concatenate([np.zeros(lead, np.float32), x])[:N_SAMPLES], lead + padded, speech


def spec_mask(mel, rng):
    if rng.random() < 0.5:
        f = rng.randint(0, 10)
        f0 = rng.randint(0, 80 - f)
        mel[f0:f0 + f] = mel.mean()
    if rng.random() < 0.5:
        t = rng.randint(0, 25)
        t0 = rng.randint(0, mel.shape[1] - t)
        mel[:, t0:t0 + t] = mel.mean()
    return mel


class Tokens:
    """Character-level ids: a string's UTF-8 bytes (byte-level BPE with no
    merges), then the special and timestamp tokens after them."""

    def __init__(self):
        self.toks, self.n_text, sp, ts = folder.vocabulary([], CHUNK)
        b2u, _ = folder.bytes_to_unicode()
        self.byte_id = {b: self.toks.index(b2u[b]) for b in range(256)}
        self.id_byte = {i: b for b, i in self.byte_id.items()}
        self.sp = {t: self.n_text + i for i, t in enumerate(sp)}
        self.ts0 = self.n_text + len(sp)
        self.n_vocab = self.n_text + len(sp) + len(ts)

    def encode(self, s):
        return [self.byte_id[b] for b in s.encode("utf-8")]

    def decode(self, ids):
        return bytes(self.id_byte[i] for i in ids if i in self.id_byte).decode("utf-8", "replace")

    def prefix(self, timestamps):
        p = [self.sp["<|startoftranscript|>"], self.sp["<|en|>"], self.sp["<|transcribe|>"]]
        return p if timestamps else p + [self.sp["<|notimestamps|>"]]

    def ts(self, seconds):
        return self.ts0 + int(round(min(max(seconds, 0), CHUNK) / 0.02))


def make_batch(clips, tk, rng, aug, train=True, p_nospeech=0.0):
    """Log-mels, token ids and CTC targets; with p_nospeech > 0 that share of
    the clips is replaced by audio without speech (nospeech.py) whose target
    is Whisper's no-speech protocol: no_speech marks the rows whose first
    prediction (after <|startoftranscript|>) is <|nospeech|>, not <|en|>, and
    whose text is empty."""
    mels, seqs, ctc, quiet = [], [], [], []
    for c in clips:
        if train and rng.random() < p_nospeech:
            rs = np.random.RandomState(rng.randrange(2 ** 31))
            sec = CHUNK if rng.random() < 0.3 else rng.uniform(0.5, CHUNK)  # a full window or one padded with zeros
            x, _ = nospeech.clip(rs, sec)
            mel = spec_mask(W.log_mel(x, N_SAMPLES), rng)
            mels.append(mel)
            seqs.append(tk.prefix(False) + [tk.sp["<|endoftext|>"]])
            ctc.append([])
            quiet.append(True)
            continue
        quiet.append(False)
        if train:
            x, lead, speech = aug(c["pcm"])
        else:
            x, lead, speech = c["pcm"].astype(np.float32) / 32768.0, 0, len(c["pcm"])
        mel = W.log_mel(x, N_SAMPLES, filters=aug.filters() if train else None)
        if train:
            mel = spec_mask(mel, rng)
        mels.append(mel)
        text = tk.encode(" " + c["target"])
        stamps = train and rng.random() < 0.1
        if stamps:
            end = (lead + speech) / W.SAMPLE_RATE
            seq = tk.prefix(True) + [tk.ts(lead / W.SAMPLE_RATE)] + text + [tk.ts(end)] + [tk.sp["<|endoftext|>"]]
        else:
            seq = tk.prefix(False) + text + [tk.sp["<|endoftext|>"]]
        seqs.append(seq)
        ctc.append(text[1:])
    T = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), T), -100, dtype=torch.long)
    for i, s in enumerate(seqs):
        ids[i, : len(s)] = torch.tensor(s)
    return torch.stack(mels), ids, ctc, torch.tensor(quiet, dtype=torch.bool)


def losses(m, ctc_head, mel, ids, ctc, tk, smoothing=0.05, detach_ctc=False, no_speech=None):
    enc = m.model.encoder(mel)  # (B, 300, d)
    inp = ids[:, :-1].clamp(min=0)
    tgt = ids[:, 1:].clone()
    # <|en|> is predicted (language detection); the task and
    # <|notimestamps|> are given, never predicted
    tgt[(tgt == tk.sp["<|transcribe|>"]) | (tgt == tk.sp["<|notimestamps|>"])] = -100
    if no_speech is not None and bool(no_speech.any()):
        # the language is given at inference (<|en|> is fed either way); the
        # no-speech probability is read from this first position's output
        tgt[no_speech, 0] = tk.sp["<|nospeech|>"]
    logits = m.model.decoder(inp, enc)  # (B, T-1, V)
    ce = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tgt.reshape(-1), ignore_index=-100, label_smoothing=smoothing)
    lp = ctc_head(enc.detach() if detach_ctc else enc).log_softmax(-1).transpose(0, 1)  # (300, B, 257): bytes, then blank
    flat = torch.tensor([b for t in ctc for b in t], dtype=torch.long)
    cl = F.ctc_loss(lp, flat, torch.full((len(ctc),), enc.shape[1], dtype=torch.long),
                    torch.tensor([len(t) for t in ctc]), blank=256, zero_infinity=True)
    return ce, cl


@torch.no_grad()
def greedy(m, tk, mel, max_len=160):
    enc = m.model.encoder(mel[None])
    cache = m.model.decoder.new_cache()
    seq = tk.prefix(False)
    last = m.model.decoder(torch.tensor([seq]), enc, cache)[0, -1]
    out = []
    for pos in range(len(seq), max_len):
        eot = tk.sp["<|endoftext|>"]
        keep = float(last[eot])
        last[tk.n_text:] = -1e9
        last[eot] = keep
        nxt = int(last.argmax())
        if nxt == eot:
            break
        out.append(nxt)
        last = m.model.decoder(torch.tensor([[nxt]]), enc, cache, pos)[0, -1]
    return tk.decode(out).strip()


@torch.no_grad()
def no_speech_probs(m, tk, held):
    """P(<|nospeech|>) after <|startoftranscript|>, as Loom reads it: the
    median over one clip of each nospeech.py kind (seed 7, 1 s), and over the
    first held-out speech clips."""
    def p(x):
        enc = m.model.encoder(W.log_mel(x, N_SAMPLES)[None])
        lg = m.model.decoder(torch.tensor([tk.prefix(False)[:1]]), enc)[0, -1]
        return float(lg.log_softmax(-1)[tk.sp["<|nospeech|>"]].exp())
    rs = np.random.RandomState(7)
    quiet = [p(nospeech.clip(rs, 1.0, k)[0]) for k in nospeech.KINDS]
    speech = [p(c["pcm"].astype(np.float32) / 32768.0) for c in held[:8]]
    return {"quiet": round(float(np.median(quiet)), 4), "quiet_min": round(min(quiet), 4),
            "speech": round(float(np.median(speech)), 4) if speech else None, "speech_max": round(max(speech), 4) if speech else None}


def init_from(m, cfg, path, ctc_head=None):
    """Loads an exported folder's weights into m (the configuration must
    match; the decoder's position table keeps training's first rows), and
    its CTC head into ctc_head when the folder has one (an export with
    --ctc-weight > 0) of the same shape; otherwise the head starts fresh."""
    fc = json.load(open(os.path.join(path, "config.json")))
    for k in ("d_model", "encoder_layers", "decoder_layers", "encoder_ffn_dim", "vocab_size", "max_source_positions"):
        if fc[k] != cfg[k]:
            sys.exit(f"--init-from {path}: {k} {fc[k]}, this run's model has {cfg[k]} (--size)")
    w = folder.safet.load(os.path.join(path, "model.safetensors"))
    f32 = lambda k: torch.from_numpy(np.array(w[k], dtype=np.float32))  # noqa: E731
    own = m.state_dict()
    state = {}
    for k, v in own.items():
        if k not in w:
            sys.exit(f"--init-from {path}: no {k}")
        t = f32(k)
        if k == "model.decoder.embed_positions.weight":
            t = t[: v.shape[0]]
        if t.shape != v.shape:
            sys.exit(f"--init-from {path}: {k} is {tuple(t.shape)}, the model's {tuple(v.shape)}")
        state[k] = t
    m.load_state_dict(state)
    head = False
    if ctc_head is not None and "ctc_head.weight" in w and "ctc_head.bias" in w:
        hw, hb = f32("ctc_head.weight"), f32("ctc_head.bias")
        if hw.shape == ctc_head.weight.shape and hb.shape == ctc_head.bias.shape:
            ctc_head.load_state_dict({"weight": hw, "bias": hb})
            head = True
    print(json.dumps({"init_from": path, "tensors": len(state), "ctc_head": head}), flush=True)


def grow_state(old, new):
    """The state dict `new` (a freshly initialised model's, same width, as
    many or more layers, FFNs as wide or wider) with `old`'s weights put in
    so that the grown model computes what the old one did: an old FFN's
    units are the first rows of fc1 and the first columns of fc2, the new
    units keep their fresh fc1 rows and get zero fc2 columns; layers past the
    old count (appended on top of each stack, under its final layer norm)
    keep their fresh weights but zero output projections (self_attn,
    encoder_attn and fc2, weights and biases), so each is the identity on
    the residual stream until training moves them. Tensors of other shapes
    are an error (the width cannot grow this way: the layer norms would see
    the new units)."""
    out = {}
    zero = ("self_attn.out_proj.", "encoder_attn.out_proj.", "fc2.")
    for k, v in new.items():
        if k not in old:
            m = re.match(r"model\.(encoder|decoder)\.layers\.(\d+)\.(.*)$", k)
            if not m:
                raise ValueError(f"grow: {k} is not in the old model and not in a new layer")
            out[k] = torch.zeros_like(v) if m.group(3).startswith(zero) else v.clone()
            continue
        o = old[k]
        if o.shape == v.shape:
            out[k] = o.clone()
        elif k.endswith("fc1.weight") and o.shape[1] == v.shape[1] and o.shape[0] < v.shape[0]:
            out[k] = torch.cat([o, v[o.shape[0]:]], 0)
        elif k.endswith("fc1.bias") and o.shape[0] < v.shape[0]:
            out[k] = torch.cat([o, torch.zeros_like(v[o.shape[0]:])], 0)
        elif k.endswith("fc2.weight") and o.shape[0] == v.shape[0] and o.shape[1] < v.shape[1]:
            out[k] = torch.cat([o, torch.zeros_like(v[:, o.shape[1]:])], 1)
        elif k == "model.decoder.embed_positions.weight" and o.shape[1] == v.shape[1]:
            out[k] = torch.cat([o, v[o.shape[0]:]], 0)[: v.shape[0]]
        else:
            raise ValueError(f"grow: {k} is {tuple(o.shape)}, the grown model's {tuple(v.shape)}")
    for k in old:
        if k not in new:
            raise ValueError(f"grow: the grown model has no {k} (fewer layers?)")
    return out


EXPORT_TARGET_POSITIONS = 448  # Whisper's; Loom decodes at most half of them per window


def export(m, tk, cfg, out, beams=1, ctc_head=None, ctc_weight=0.0, allow_empty=False):
    """Writes the folder; the decoder's position table grows to Whisper's 448
    rows (the rows past training's are never reached by what it learnt to
    say, and half the table bounds the tokens per window). With ctc_weight >
    0 the CTC head goes in too (ctc_head.weight/bias, config.json
    ctc_vocab_size: its labels are the 256 byte tokens, then the blank) and
    generation_config.json's ctc_weight has Loom's beam search use it."""
    state = m.state_dict_hf()
    if ctc_weight > 0:
        state["ctc_head.weight"] = ctc_head.weight.detach().float().contiguous().numpy()
        state["ctc_head.bias"] = ctc_head.bias.detach().float().contiguous().numpy()
        cfg = dict(cfg, ctc_vocab_size=ctc_head.weight.shape[0])
    pos = state["model.decoder.embed_positions.weight"]
    if len(pos) < EXPORT_TARGET_POSITIONS:
        extra = np.random.RandomState(0).normal(0, 0.02, (EXPORT_TARGET_POSITIONS - len(pos), pos.shape[1])).astype(np.float32)
        state["model.decoder.embed_positions.weight"] = np.concatenate([pos, extra])
    folder.write(out, state, dict(cfg, max_target_positions=max(cfg["max_target_positions"], EXPORT_TARGET_POSITIONS)), [], CHUNK,
                 suppress_space=False, num_beams=beams, ctc_weight=ctc_weight, allow_empty=allow_empty)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True, help="comma-separated make_data.py folders")
    ap.add_argument("--heldout", default="", help="a make_data.py --heldout folder, for the WER printed at checkpoints")
    ap.add_argument("--out", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--until", required=True, help="UTC HH:MM at which training stops")
    ap.add_argument("--size", default="tiny")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--lr", type=float, default=1.5e-3)
    ap.add_argument("--ctc", type=float, default=0.3)
    ap.add_argument("--room", type=float, default=0.35, help="share of utterances put in a synthetic room")
    ap.add_argument("--noise", type=float, default=0.5, help="share of utterances with added noise")
    ap.add_argument("--nospeech", type=float, default=0.0, help="share of batch rows replaced by audio without speech "
                    "(nospeech.py: silence, noise, hum, clicks) trained to <|nospeech|> and an empty transcript")
    ap.add_argument("--pad", type=float, default=0.0, help="share of utterances given 0-1.5 s of silence before and after "
                    "(under the room and noise)")
    ap.add_argument("--speed", type=float, default=0.0, help="share of utterances resampled by a factor in 0.9-1.1 "
                    "(speed perturbation: tempo, pitch and formants together; before the pad, room and noise)")
    ap.add_argument("--speed-range", default="0.9,1.1", help="LO,HI: the factors --speed draws from")
    ap.add_argument("--warp", type=float, default=0.0, help="share of utterances whose log-mel is taken over a warped "
                    "frequency axis (vocal tract length perturbation: formants moved, tempo kept)")
    ap.add_argument("--warp-range", default="0.9,1.1", help="LO,HI: the warp factors --warp draws from")
    ap.add_argument("--clip", type=float, default=2.0, help="gradient norm clip")
    ap.add_argument("--every", type=float, default=12, help="minutes between checkpoints")
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--eval-clips", type=int, default=8, help="held-out clips decoded at each checkpoint")
    ap.add_argument("--expect", type=int, default=0, help="clips the data folders will hold once written (reload until then)")
    ap.add_argument("--beams", type=int, default=8, help="generation_config.json num_beams: the folder's default beam width")
    ap.add_argument("--seed", type=int, default=21)
    ap.add_argument("--export-only", action="store_true", help="write --out from --work's checkpoint and stop (with or without --resume; no checkpoint is an error)")
    ap.add_argument("--init-from", default="", help="a model folder (model.safetensors, e.g. models/loom-asr) to start from: "
                    "its weights (and its CTC head when it ships one; else a fresh head), a fresh optimiser, step 0")
    ap.add_argument("--grow-from", default="", help="a smaller run's ckpt.pt (same width) to start from, grown to --size "
                    "so that it computes the same (grow_state: wider FFNs, identity layers on top); its weight average when "
                    "it has one, its CTC head, a fresh optimiser, step 0")
    ap.add_argument("--ema", type=float, default=0, help="keep an exponential moving average of the weights with this decay "
                    "(e.g. 0.997; 0: none); checkpoints evaluate and export the average, --export-only too when the checkpoint has one")
    ap.add_argument("--ctc-weight", type=float, default=0.3, help="export the CTC head with this weight for Loom's joint "
                    "CTC/attention beam search (generation_config.json ctc_weight; 0: drop the head)")
    ap.add_argument("--allow-empty", action="store_true", help="export without <|endoftext|> in begin_suppress_tokens, so a "
                    "transcript may be empty (a model trained with --nospeech says nothing for silence instead of being forced to speak)")
    ap.add_argument("--warmup", type=int, default=150, help="warm-up steps of the learning rate")
    ap.add_argument("--ctc-head-warmup", type=int, default=0, help="steps in which the CTC loss trains only its head "
                    "(the encoder's output detached): a fresh head on a trained encoder (--init-from) learns before it pulls at it")
    a = ap.parse_args()
    torch.set_num_threads(1)
    # torch 1.13's oneDNN (mkldnn) Conv1d backward gave conv1/conv2 weight
    # gradients of 1e23 and more on ordinary batches here (the same numbers
    # with the native kernels are below 1): the encoder's stem learnt nothing
    # for the first 380 steps of run 1. The native kernels are used.
    torch.backends.mkldnn.enabled = False
    torch.manual_seed(a.seed)
    np.random.seed(a.seed)
    rng = random.Random(a.seed)
    os.makedirs(a.work, exist_ok=True)
    now = datetime.datetime.utcnow()
    hh, mm = map(int, a.until.split(":"))
    stop = now.replace(hour=hh, minute=mm, second=0, microsecond=0)
    if stop < now:
        stop += datetime.timedelta(days=1)
    t0 = time.time()
    budget = (stop - now).total_seconds()
    tk = Tokens()
    try:
        cfg = model_config(tk.n_vocab, a.size)
    except ValueError as e:
        sys.exit(str(e))
    m = W.Whisper(cfg)
    with torch.no_grad():  # Hugging Face's init_std: tied logits start near uniform
        m.model.decoder.embed_tokens.weight.normal_(0, 0.02)
        m.model.decoder.embed_positions.weight.normal_(0, 0.02)
    ctc_head = nn.Linear(cfg["d_model"], 257)
    params = [p for p in list(m.parameters()) + list(ctc_head.parameters()) if p.requires_grad]
    decay = [p for p in params if p.dim() >= 2]
    rest = [p for p in params if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": rest, "weight_decay": 0.0}], lr=a.lr, betas=(0.9, 0.98), eps=1e-8)
    step = 0
    ck = os.path.join(a.work, "ckpt.pt")
    if a.export_only and not os.path.exists(ck):
        sys.exit(f"--export-only: no checkpoint {ck} to export")
    s = None
    if (a.resume or a.export_only) and os.path.exists(ck):
        s = torch.load(ck)
        m.load_state_dict(s["model"])
        ctc_head.load_state_dict(s["ctc"])
        opt.load_state_dict(s["opt"])
        step = s["step"]
    avg = None
    if (a.ema > 0 or a.export_only) and s is not None and "avg" in s:
        avg = copy.deepcopy(m)
        avg.load_state_dict(s["avg"])
    if a.init_from:
        if a.resume:
            sys.exit("--init-from starts a new run: give it a fresh --work, not --resume")
        init_from(m, cfg, a.init_from, ctc_head)
    if a.grow_from:
        if a.resume or a.init_from:
            sys.exit("--grow-from starts a new run: give it a fresh --work, without --resume or --init-from")
        g = torch.load(a.grow_from)
        try:
            m.load_state_dict(grow_state(g.get("avg", g["model"]), m.state_dict()))
        except ValueError as e:
            sys.exit(f"--grow-from {a.grow_from}: {e}")
        ctc_head.load_state_dict(g["ctc"])
        print(json.dumps({"grow_from": a.grow_from, "step": g.get("step"), "average": "avg" in g}), flush=True)
    if a.export_only:
        (avg or m).eval()
        export(avg or m, tk, cfg, a.out, a.beams, ctc_head, a.ctc_weight, a.allow_empty)
        print(json.dumps({"exported": a.out, "step": step, "average": avg is not None}))
        return
    if a.ema > 0 and avg is None:
        avg = copy.deepcopy(m)  # starts from the weights the run starts from
    train = [c for c in load_set(a.data) if c["samples"] <= MAX_SPEECH]
    held = [c for c in load_set(a.heldout) if c["samples"] <= MAX_SPEECH][:a.eval_clips] if a.heldout else []
    n_params = sum(p.numel() for p in m.parameters() if p.requires_grad)
    print(json.dumps({"clips": len(train), "hours": round(sum(c["samples"] for c in train) / 16000 / 3600, 2),
                      "params": n_params, "config": cfg, "budget_min": round(budget / 60, 1)}), flush=True)
    log = open(os.path.join(a.work, "log.jsonl"), "a")
    aug = Augment(rng, a.room, a.noise, a.pad, a.speed, parse_range(a.speed_range, "--speed-range"), a.warp,
                  parse_range(a.warp_range, "--warp-range"))
    order, oi = list(range(len(train))), len(train)
    last_ck = last_load = time.time()
    warm = a.warmup
    ema = None
    while True:
        frac = (time.time() - t0) / budget
        if frac >= 1:
            break
        lr = a.lr * min(1.0, (step + 1) / warm) * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(frac, 1))))
        for g in opt.param_groups:
            g["lr"] = lr
        if time.time() - last_load > 180 and len(train) < a.expect:
            train = [c for c in load_set(a.data) if c["samples"] <= MAX_SPEECH]
            order, oi, last_load = list(range(len(train))), len(train), time.time()
            print(json.dumps({"reloaded": len(train)}), flush=True)
        if oi + a.batch > len(order):
            rng.shuffle(order)
            oi = 0
        batch = [train[i] for i in order[oi:oi + a.batch]]
        oi += a.batch
        m.train()
        mel, ids, ctc, quiet = make_batch(batch, tk, rng, aug, p_nospeech=a.nospeech)
        ce, cl = losses(m, ctc_head, mel, ids, ctc, tk, detach_ctc=step < a.ctc_head_warmup, no_speech=quiet)
        loss = ce + a.ctc * cl
        opt.zero_grad()
        loss.backward()
        if step < a.ctc_head_warmup:
            # the fresh head's gradients are large: clipped with the model's,
            # they would scale the model's steps down to nothing
            gn = torch.nn.utils.clip_grad_norm_(list(m.parameters()), a.clip)
            torch.nn.utils.clip_grad_norm_(list(ctc_head.parameters()), a.clip)
        else:
            gn = torch.nn.utils.clip_grad_norm_(params, a.clip)
        opt.step()
        step += 1
        if avg is not None:
            with torch.no_grad():
                for pa, p in zip(avg.parameters(), m.parameters()):
                    pa.mul_(a.ema).add_(p.detach(), alpha=1 - a.ema)
        ema = float(ce) if ema is None else 0.95 * ema + 0.05 * float(ce)
        if step % 10 == 0:
            rec = {"step": step, "min": round((time.time() - t0) / 60, 2), "lr": round(lr, 6), "ce": round(float(ce), 4),
                   "ce_ema": round(ema, 4), "ctc": round(float(cl), 3), "gnorm": round(float(gn), 2)}
            print(json.dumps(rec), flush=True)
            log.write(json.dumps(rec) + "\n")
            log.flush()
        if time.time() - last_ck > a.every * 60:
            checkpoint(a, m, avg, ctc_head, opt, step, tk, cfg, held, log, ck)
            last_ck = time.time()
    checkpoint(a, m, avg, ctc_head, opt, step, tk, cfg, held, log, ck)
    print(json.dumps({"done": step, "minutes": round((time.time() - t0) / 60, 1)}), flush=True)


def checkpoint(a, m, avg, ctc_head, opt, step, tk, cfg, held, log, ck):
    """Saves the run; exports and scores the weights' average when there is one."""
    s = {"model": m.state_dict(), "ctc": ctc_head.state_dict(), "opt": opt.state_dict(), "step": step}
    if avg is not None:
        s["avg"] = avg.state_dict()
    torch.save(s, ck + ".tmp")
    os.replace(ck + ".tmp", ck)
    m = avg if avg is not None else m
    m.eval()
    export(m, tk, cfg, a.out, a.beams, ctc_head, a.ctc_weight, a.allow_empty)
    e = n = 0
    shown = []
    for c in held:
        mel = W.log_mel(c["pcm"].astype(np.float32) / 32768.0, N_SAMPLES)
        hyp = greedy(m, tk, mel)
        ref = words(c["norm"])
        e, n = e + edits(ref, words(hyp)), n + len(ref)
        if len(shown) < 3:
            shown.append(hyp)
    rec = {"checkpoint": step, "average": avg is not None, "heldout_wer": round(e / max(n, 1), 4), "clips": len(held), "examples": shown,
           "no_speech_prob": no_speech_probs(m, tk, held)}
    print(json.dumps(rec), flush=True)
    log.write(json.dumps(rec) + "\n")
    log.flush()


if __name__ == "__main__":
    main()
