#!/usr/bin/python3
"""Audio with no speech in it, for models/loom-asr: digital silence, dither,
white, pink and brown noise, mains hum with harmonics, clicks over a noise
floor, and mixtures, at levels from silence to -20 dBFS.

train.py mixes such clips into its batches (--nospeech) with Whisper's
no-speech target: the decoder's output after <|startoftranscript|> (where
the language token is predicted, and where Loom's tower reads no_speech_prob)
is <|nospeech|>, and the transcript after the task tokens is empty (only
<|endoftext|>; the CTC head's target is empty too). The model had never heard
a window without speech, so one second of silence came out as " Where." with
no_speech_prob 0.0002.

As a command it writes an evaluation set of WAVs (16 kHz mono) and an
index.jsonl (file, kind, level, seconds); use a seed other than training's:

  /usr/bin/python3 tools/asr/nospeech.py --out /tmp/asr/nospeech_heldout --n 48 --seed 999 --min 0.5 --max 30"""
import argparse
import json
import os
import wave

import numpy as np

RATE = 16000
KINDS = ("silence", "dither", "white", "pink", "brown", "hum", "clicks", "mix")


def coloured(rs, n, slope):
    """Gaussian noise whose power falls as 1/f**slope (0 white, 1 pink, 2 brown)."""
    spec = np.fft.rfft(rs.standard_normal(n + 1))
    f = np.arange(len(spec), dtype=np.float64)
    f[0] = 1.0
    spec /= f ** (slope / 2)
    spec[0] = 0.0
    x = np.fft.irfft(spec, n + 1)[:n]
    return x / (x.std() + 1e-12)


def at_rms(x, dbfs):
    return x / (np.sqrt((x ** 2).mean()) + 1e-12) * 10 ** (dbfs / 20)


def clip(rs, seconds, kind=None):
    """One no-speech clip (float32 in [-1, 1]) and its description."""
    n = max(1, int(seconds * RATE))
    kind = kind or KINDS[rs.randint(len(KINDS))]
    level = float(rs.uniform(-75, -20))
    t = np.arange(n) / RATE
    if kind == "silence":
        x, level = np.zeros(n), -np.inf
    elif kind == "dither":  # what a "silent" recording holds: one or two LSBs
        level = float(rs.uniform(-96, -80))
        x = at_rms(rs.standard_normal(n), level)
    elif kind in ("white", "pink", "brown"):
        x = at_rms(coloured(rs, n, {"white": 0, "pink": 1, "brown": 2}[kind]), level)
    elif kind == "hum":
        f0 = rs.choice([50.0, 60.0])
        x = sum(rs.uniform(0.1, 1) / k * np.sin(2 * np.pi * f0 * k * t + rs.uniform(0, 6.3)) for k in range(1, 6))
        x = at_rms(x + 0.05 * rs.standard_normal(n), level)
    elif kind == "clicks":  # sparse decaying impulses over a low floor
        x = at_rms(coloured(rs, n, 1), float(rs.uniform(-80, -55)))
        for _ in range(rs.poisson(max(1.0, seconds * rs.uniform(0.5, 6)))):
            i = rs.randint(n)
            m = min(n - i, int(RATE * rs.uniform(0.002, 0.02)))
            x[i:i + m] += rs.choice([-1, 1]) * 10 ** (rs.uniform(-40, -8) / 20) * np.exp(-np.arange(m) / (m / 5 + 1))
    else:  # mix: room-like pink or brown noise, hum and a few clicks
        x = at_rms(coloured(rs, n, rs.choice([1, 2])), level)
        x += at_rms(np.sin(2 * np.pi * rs.choice([50.0, 60.0]) * t), level - rs.uniform(3, 15))
        for _ in range(rs.poisson(seconds)):
            i = rs.randint(n)
            m = min(n - i, 80)
            x[i:i + m] += 10 ** (rs.uniform(-40, -15) / 20) * np.exp(-np.arange(m) / 10.0)
    return np.clip(x, -1, 1).astype(np.float32), {"kind": kind, "level_dbfs": None if np.isinf(level) else round(level, 1)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--n", type=int, default=48)
    ap.add_argument("--seed", type=int, default=999)
    ap.add_argument("--min", type=float, default=0.5, help="shortest clip, seconds")
    ap.add_argument("--max", type=float, default=30, help="longest clip, seconds")
    a = ap.parse_args()
    rs = np.random.RandomState(a.seed)
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "index.jsonl"), "w") as idx:
        for i in range(a.n):
            kind = KINDS[i % len(KINDS)]  # every kind alike
            sec = float(np.exp(rs.uniform(np.log(a.min), np.log(a.max))))
            x, d = clip(rs, sec, kind)
            name = f"{i:03d}-{kind}.wav"
            with wave.open(os.path.join(a.out, name), "wb") as w:
                w.setnchannels(1)
                w.setsampwidth(2)
                w.setframerate(RATE)
                w.writeframes((x * 32767).astype("<i2").tobytes())
            idx.write(json.dumps(dict(d, file=name, seconds=round(sec, 2))) + "\n")


if __name__ == "__main__":
    main()
