#!/usr/bin/python3
"""Speaks text with exported TTS models through the PyTorch reference (the Go
towers compute the same): Loom's front end (normtext) → FastSpeech 2 → vocoder
(Vocos or HiFi-GAN) → 16-bit WAV. For listening to a training run before the Go side serves it.

  /usr/bin/python3 tools/tts/synth.py --acoustic models/loom-tts/acoustic --vocoder models/loom-tts/vocoder \\
      --speaker 1 --speed 1.0 --out /tmp/tts/hello.wav "Dr. Smith paid $3.50 on May 5th, 1999."
  # --griffin-lim instead of --vocoder checks the acoustic model alone."""
import argparse
import json
import os
import subprocess
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(__file__))
import audio  # noqa: E402
import common  # noqa: E402
import model as M  # noqa: E402


def griffin_lim(logmel, iters=32):
    """A vocoder-free check: mel → linear magnitude (pseudo-inverse) → Griffin-Lim."""
    basis = torch.from_numpy(audio.mel_filters())
    mag = torch.clamp(torch.linalg.pinv(basis) @ torch.exp(logmel), min=1e-5)  # (513, T)
    win = torch.hann_window(audio.WIN)
    angles = torch.exp(2j * np.pi * torch.rand(mag.shape))
    for _ in range(iters):
        y = torch.istft(mag * angles, audio.N_FFT, audio.HOP, audio.WIN, win)
        s = torch.stft(y, audio.N_FFT, audio.HOP, audio.WIN, win, return_complex=True)[:, :mag.shape[1]]
        angles = torch.exp(1j * torch.angle(s))
        if s.shape[1] < mag.shape[1]:
            angles = torch.nn.functional.pad(angles, (0, mag.shape[1] - s.shape[1]), value=1)
    return torch.istft(mag * angles, audio.N_FFT, audio.HOP, audio.WIN, win).numpy()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("text")
    ap.add_argument("--acoustic", required=True)
    ap.add_argument("--vocoder")
    ap.add_argument("--griffin-lim", action="store_true")
    ap.add_argument("--speaker", type=int, default=0)
    ap.add_argument("--speed", type=float, default=1.0)
    ap.add_argument("--normtext", default="/tmp/tts/normtext")
    ap.add_argument("--out", default="/tmp/tts/out.wav")
    a = ap.parse_args()
    rec = json.loads(subprocess.run([a.normtext], input=a.text + "\n", capture_output=True, text=True, check=True).stdout)
    print(rec["norm"])
    cfg = json.load(open(os.path.join(a.acoustic, "config.json")))
    net = common.load_export(M.FastSpeech2(cfg), a.acoustic).eval()
    ids = torch.tensor([rec["ids"]])
    with torch.no_grad():
        _, post, _, d, _, _, _ = net(ids, torch.tensor([ids.shape[1]]), torch.tensor([a.speaker]), d_control=1 / a.speed)
        mel = post[0].T  # (80, T)
        if a.vocoder:
            h = json.load(open(os.path.join(a.vocoder, "config.json")))
            voc = common.load_export(M.load_vocoder(h), a.vocoder).eval()
            wav = voc(mel[None])[0, 0].numpy()
        elif a.griffin_lim:
            wav = griffin_lim(mel)
        else:
            raise SystemExit("give --vocoder DIR or --griffin-lim")
    audio.write_wav(a.out, wav)
    print(f"wrote {a.out}: {len(wav) / audio.SR:.2f} s, {int(d.sum())} frames")


if __name__ == "__main__":
    main()
