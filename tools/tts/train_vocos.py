#!/usr/bin/python3
"""Trains Loom's Vocos vocoder (model.py, gemelo-ai/vocos names) within a
wall-clock budget, exporting config.json + model.safetensors that
core/towers/vocos.go loads.

Vocos runs a ConvNeXt stack at frame rate and predicts each frame's STFT
log-magnitude and phase; an inverse STFT makes the samples. Because most of
its work is per frame rather than per sample it trains and runs far faster on
a CPU than HiFi-GAN, and its magnitude is learnt as directly as Griffin-Lim's
inverse of the mel (which, on this project's predicted mels, loses far fewer
words than the HiFi-GAN vocoder did: tools/tts/diagnose.py).

Training pairs: random --frames-frame windows of make_data.py's utterances;
the input is either the teacher's log-mel or, with probability --pred, the
acoustic model's own mel for the same frames (predict_mels.py: teacher
durations, so the frames line up with the teacher's audio), so the vocoder
learns the mels it is fed at serve time; the target is always the teacher's
waveform.

Losses: L1 between the head's log-magnitude and the target's (the same STFT
framing, weight --w-mag); L1 between log-mels of the output and the target
(Vocos' and HiFi-GAN's reconstruction term, weight 45); the multi-resolution
STFT loss of train_vocoder.py (weight 2.5), which makes the phases consistent
across frames; and, after --gan-after minutes, HiFi-GAN's multi-period
discriminator (least squares, feature matching ×2). AdamW (0.8, 0.9), lr
--lr with a cosine decay to a tenth over the budget.

  /usr/bin/python3 tools/tts/predict_mels.py --data /tmp/tts/data --acoustic models/loom-tts/acoustic
  /usr/bin/python3 tools/tts/train_vocos.py --data /tmp/tts/data --out models/loom-tts/vocos --minutes 75
  # smoke test (< 1 min):
  /usr/bin/python3 tools/tts/train_vocos.py --data /tmp/tts/smoke --out /tmp/tts/vocos-smoke --size tiny --minutes 0.3 --pred 0"""
import argparse
import glob
import json
import math
import os
import random
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(__file__))
import audio  # noqa: E402
import common  # noqa: E402
import model as M  # noqa: E402
from train_vocoder import MPD, disc_step, gen_adversarial, stft_loss  # noqa: E402

SIZES = {
    # ~2.1M parameters: gemelo-ai/vocos' shape (8 ConvNeXt layers, 3× expansion) at dim 192 instead of 512.
    "small": {"dim": 192, "intermediate_dim": 576, "num_layers": 8},
    # the authors' released shape (13.5M parameters)
    "base": {"dim": 512, "intermediate_dim": 1536, "num_layers": 8},
    "tiny": {"dim": 32, "intermediate_dim": 96, "num_layers": 2},
}


def config(size):
    s = SIZES[size]
    return {
        "feature_extractor": {"class_path": "loom tools/tts/audio.py log_mel (HiFi-GAN's log-mel)",
                              "init_args": {"sample_rate": audio.SR, "n_fft": audio.N_FFT, "hop_length": audio.HOP,
                                            "win_length": audio.WIN, "n_mels": audio.N_MELS, "f_min": audio.FMIN,
                                            "f_max": audio.FMAX, "padding": "same"}},
        "backbone": {"class_path": "vocos.models.VocosBackbone",
                     "init_args": {"input_channels": audio.N_MELS, **s}},
        "head": {"class_path": "vocos.heads.ISTFTHead",
                 "init_args": {"dim": s["dim"], "n_fft": audio.N_FFT, "hop_length": audio.HOP, "padding": "same"}},
        "sampling_rate": audio.SR,
    }


def batch(utts, preds, n, frames, p_pred, rng):
    """(mel (n, 80, frames), wav (n, frames·hop)); short utterances are zero-padded
    (log-mel padding at the floor, log 1e-5)."""
    mel = torch.full((n, audio.N_MELS, frames), math.log(1e-5))
    wav = torch.zeros(n, frames * audio.HOP)
    for k in range(n):
        i = rng.randrange(len(utts))
        u = utts[i]
        T = u["mel"].shape[0]
        s = rng.randrange(0, T - frames + 1) if T > frames else 0
        f = min(frames, T)
        src = preds[i] if preds is not None and rng.random() < p_pred else u["mel"]
        mel[k, :, :f] = torch.from_numpy(src[s:s + f].astype(np.float32)).T
        wav[k, :f * audio.HOP] = torch.from_numpy(u["wav"][s * audio.HOP:(s + f) * audio.HOP].astype(np.float32) / 32767)
    return mel, wav


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--size", default="small", choices=sorted(SIZES))
    ap.add_argument("--minutes", type=float, default=75, help="wall-clock budget, export included")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--frames", type=int, default=48, help="mel frames per training window")
    ap.add_argument("--pred", type=float, default=0.5, help="share of windows fed the acoustic model's mel")
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--w-mag", type=float, default=15.0)
    ap.add_argument("--gan-after", type=float, default=-1, help="minutes before the discriminator starts (<0: never)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--export-every", type=float, default=10)
    ap.add_argument("--init", default="", help="warm start: weights of an exported Vocos (fresh optimisers)")
    a = ap.parse_args()
    budget = common.Budget(a.minutes)
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    rng = random.Random(a.seed)
    utts = common.load_shards(a.data, a.limit)
    preds = None
    if a.pred > 0:
        files = sorted(glob.glob(os.path.join(a.data, "pred_*.pt")))
        if not files:
            raise SystemExit(f"--pred {a.pred}: no pred_*.pt in {a.data}; run predict_mels.py first (or --pred 0)")
        preds = [m for p in files for m in torch.load(p)][:len(utts)]
        if len(preds) != len(utts) or any(p.shape != u["mel"].shape for p, u in zip(preds, utts)):
            raise SystemExit("pred_*.pt do not match shard_*.pt: rerun predict_mels.py")
    cfg = config(a.size)
    voc = M.Vocos(cfg)
    if a.init:
        common.load_export(voc, a.init)
    mpd = MPD()
    og = torch.optim.AdamW(voc.parameters(), a.lr, betas=(0.8, 0.9))
    od = torch.optim.AdamW(mpd.parameters(), a.lr, betas=(0.8, 0.9))
    os.makedirs(a.out, exist_ok=True)
    log = common.Log(os.path.join(a.out, "train_log.jsonl"))
    log(event="start", model="vocos", params=M.param_count(voc), utts=len(utts), size=a.size, pred=a.pred,
        batch=a.batch, frames=a.frames, lr=a.lr, gan_after=a.gan_after, init=a.init)
    last_export, step = budget.elapsed(), 0
    while not budget.done(reserve=10):
        frac = budget.elapsed() / budget.limit
        lr = a.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(frac, 1.0))))
        for o in (og, od):
            for g in o.param_groups:
                g["lr"] = lr
        mel, y = batch(utts, preds, a.batch, a.frames, a.pred, rng)
        logmag, phase = voc.head.spectrum(voc.backbone(mel))
        y_hat = voc.head.istft(torch.clip(torch.exp(logmag), max=1e2) * (torch.cos(phase) + 1j * torch.sin(phase)))
        gan = a.gan_after >= 0 and budget.elapsed() >= a.gan_after * 60
        parts = {}
        if gan:
            parts["disc"] = disc_step(mpd, od, y, y_hat)
        l_mag = F.l1_loss(logmag, torch.log(torch.clamp(audio.magnitude(y), min=1e-5)))
        l_mel = F.l1_loss(audio.log_mel(y_hat), audio.log_mel(y))
        l_stft = stft_loss(y_hat, y)
        loss = a.w_mag * l_mag + 45 * l_mel + 2.5 * l_stft
        if gan:
            l_adv, l_fm = gen_adversarial(mpd, y, y_hat)
            loss = loss + l_adv + 2 * l_fm
            parts.update(adv=l_adv.item(), fm=l_fm.item())
        og.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(voc.parameters(), 100.0)
        og.step()
        step += 1
        if step % 20 == 0:
            log(step=step, min=budget.elapsed() / 60, lr=lr, mag=l_mag.item(), mel=l_mel.item(), stft=l_stft.item(), **parts)
        if budget.elapsed() - last_export > a.export_every * 60:
            common.export(voc, a.out, cfg)
            last_export = budget.elapsed()
    common.export(voc, a.out, cfg)
    log(event="end", step=step, min=budget.elapsed() / 60)


if __name__ == "__main__":
    main()
