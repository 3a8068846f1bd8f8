#!/usr/bin/python3
"""Trains Loom's HiFi-GAN generator (model.py, jik876 names, weight-normed) on
make_data.py's waveforms within a wall-clock budget, exporting config.json +
model.safetensors that core/towers/vocoder.go loads.

Random segments of --segment samples; the mel of each segment is computed on
the fly with audio.log_mel (the features the acoustic model predicts).
Losses: L1 between log-mels of the generated and real audio (HiFi-GAN's
reconstruction term, weight 45) plus a multi-resolution STFT loss (spectral
convergence + log-magnitude L1 at FFT sizes 512/1024/2048, Parallel WaveGAN's
auxiliary loss), which trains a usable vocoder quickly without a
discriminator. --gan-after M switches on HiFi-GAN's multi-period
discriminator (periods 2, 3, 5, 7, 11; least-squares GAN loss, feature
matching ×2) after M minutes, for sharper audio when the budget allows. AdamW
(0.8, 0.99), lr 2e-4 as the paper.

  /usr/bin/python3 tools/tts/train_vocoder.py --data /tmp/tts/data --out models/loom-tts/vocoder --minutes 80
  # smoke test (< 2 min):
  /usr/bin/python3 tools/tts/train_vocoder.py --data /tmp/tts/smoke --out /tmp/tts/voc-smoke --size tiny --minutes 0.5"""
import argparse
import json
import os
import random
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(__file__))
import audio  # noqa: E402
import common  # noqa: E402
import model as M  # noqa: E402

SIZES = {
    # ~0.9M parameters, HiFi-GAN V3-style (ResBlock2), hop 8·8·4 = 256.
    "small": {"resblock": "2", "upsample_rates": [8, 8, 4], "upsample_kernel_sizes": [16, 16, 8],
              "upsample_initial_channel": 192, "resblock_kernel_sizes": [3, 5, 7],
              "resblock_dilation_sizes": [[1, 2], [2, 6], [3, 12]]},
    # the authors' V1 (13.9M parameters): the reference shape, too slow to train here.
    "v1": {"resblock": "1", "upsample_rates": [8, 8, 2, 2], "upsample_kernel_sizes": [16, 16, 4, 4],
           "upsample_initial_channel": 512, "resblock_kernel_sizes": [3, 7, 11],
           "resblock_dilation_sizes": [[1, 3, 5], [1, 3, 5], [1, 3, 5]]},
    "tiny": {"resblock": "2", "upsample_rates": [8, 8, 4], "upsample_kernel_sizes": [16, 16, 8],
             "upsample_initial_channel": 32, "resblock_kernel_sizes": [3],
             "resblock_dilation_sizes": [[1, 2]]},
}


def stft_loss(y_hat, y):
    total = 0.0
    for n_fft, hop in ((512, 128), (1024, 256), (2048, 512)):
        a = audio.magnitude(y_hat, n_fft=n_fft, hop=hop, win=n_fft)
        b = audio.magnitude(y, n_fft=n_fft, hop=hop, win=n_fft)
        sc = torch.norm(b - a, p="fro") / torch.norm(b, p="fro").clamp(min=1e-6)
        mag = F.l1_loss(torch.log(a), torch.log(b))
        total = total + sc + mag
    return total / 3


class PeriodDiscriminator(nn.Module):
    def __init__(self, period):
        super().__init__()
        self.period = period
        chans = [1, 16, 64, 128, 128]
        self.convs = nn.ModuleList([nn.utils.weight_norm(nn.Conv2d(chans[i], chans[i + 1], (5, 1), (3 if i < 3 else 1, 1), (2, 0)))
                                    for i in range(4)])
        self.post = nn.utils.weight_norm(nn.Conv2d(128, 1, (3, 1), 1, (1, 0)))

    def forward(self, x):  # (B, 1, L)
        b, c, t = x.shape
        if t % self.period:
            x = F.pad(x, (0, self.period - t % self.period), "reflect")
        x = x.view(b, c, -1, self.period)
        feats = []
        for conv in self.convs:
            x = F.leaky_relu(conv(x), M.LRELU_SLOPE)
            feats.append(x)
        x = self.post(x)
        feats.append(x)
        return x.flatten(1), feats


class MPD(nn.Module):
    def __init__(self):
        super().__init__()
        self.discriminators = nn.ModuleList([PeriodDiscriminator(p) for p in (2, 3, 5, 7, 11)])

    def forward(self, x):
        return [d(x) for d in self.discriminators]


def disc_step(mpd, od, y, y_hat):
    """One least-squares step of the discriminator on real y and generated
    y_hat (B, L); returns its loss."""
    rd, fd = mpd(y.unsqueeze(1)), mpd(y_hat.detach().unsqueeze(1))
    ld = sum(torch.mean((1 - r[0]) ** 2) + torch.mean(f[0] ** 2) for r, f in zip(rd, fd))
    od.zero_grad()
    ld.backward()
    od.step()
    return ld.item()


def gen_adversarial(mpd, y, y_hat):
    """The generator's least-squares adversarial loss and feature-matching L1."""
    rd, fd = mpd(y.unsqueeze(1)), mpd(y_hat.unsqueeze(1))
    l_adv = sum(torch.mean((1 - f[0]) ** 2) for f in fd)
    l_fm = sum(F.l1_loss(ff, rf.detach()) for r, f in zip(rd, fd) for rf, ff in zip(r[1], f[1]))
    return l_adv, l_fm


def segments(utts, n, seg, rng):
    """n random (segment,) waveforms of seg samples (hop-aligned), zero-padded when short."""
    out = torch.zeros(n, seg)
    for k in range(n):
        w = utts[rng.randrange(len(utts))]["wav"]
        if len(w) > seg:
            s = rng.randrange(0, (len(w) - seg) // audio.HOP + 1) * audio.HOP
            out[k] = torch.from_numpy(w[s:s + seg].astype(np.float32) / 32767)
        else:
            out[k, :len(w)] = torch.from_numpy(w.astype(np.float32) / 32767)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--size", default="small", choices=sorted(SIZES))
    ap.add_argument("--minutes", type=float, default=80, help="wall-clock budget, export included")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--segment", type=int, default=8192, help="samples per training segment (multiple of 256)")
    ap.add_argument("--lr", type=float, default=2e-4)
    ap.add_argument("--gan-after", type=float, default=-1, help="minutes before the discriminator starts (<0: never)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--export-every", type=float, default=10)
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--init", default="", help="warm start: generator weights of an exported vocoder (fresh optimisers)")
    a = ap.parse_args()
    if a.segment % audio.HOP:
        raise SystemExit(f"--segment must be a multiple of {audio.HOP}")
    budget = common.Budget(a.minutes)
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    rng = random.Random(a.seed)
    meta = json.load(open(os.path.join(a.data, "meta.json")))
    utts = common.load_shards(a.data, a.limit)
    for u in utts:  # the vocoder needs only audio
        u.pop("mel", None)
    cfg = dict(SIZES[a.size], num_mels=audio.N_MELS, sampling_rate=audio.SR, hop_size=audio.HOP,
               n_fft=audio.N_FFT, win_size=audio.WIN, fmin=audio.FMIN, fmax=audio.FMAX)
    gen = M.Generator(cfg)
    mpd = MPD()
    og = torch.optim.AdamW(gen.parameters(), a.lr, betas=(0.8, 0.99))
    od = torch.optim.AdamW(mpd.parameters(), a.lr, betas=(0.8, 0.99))
    if a.init:
        common.load_export(gen, a.init)
    os.makedirs(a.out, exist_ok=True)
    state_path = os.path.join(a.out, "train_state.pt")
    step = 0
    if a.resume and os.path.exists(state_path):
        st = torch.load(state_path)
        gen.load_state_dict(st["gen"])
        mpd.load_state_dict(st["mpd"])
        og.load_state_dict(st["og"])
        od.load_state_dict(st["od"])
        step = st["step"]
    log = common.Log(os.path.join(a.out, "train_log.jsonl"))
    log(event="start", params=M.param_count(gen), utts=len(utts), size=a.size, step=step, data_hours=meta.get("hours"), init=a.init)
    last_export = budget.elapsed()

    def save():
        common.export(gen, a.out, cfg)
        torch.save({"gen": gen.state_dict(), "mpd": mpd.state_dict(), "og": og.state_dict(), "od": od.state_dict(),
                    "step": step}, state_path)

    while not budget.done(reserve=15):
        y = segments(utts, a.batch, a.segment, rng)
        mel = audio.log_mel(y)
        y_hat = gen(mel).squeeze(1)
        gan = a.gan_after >= 0 and budget.elapsed() >= a.gan_after * 60
        parts = {}
        if gan:
            parts["disc"] = disc_step(mpd, od, y, y_hat)
        l_mel = F.l1_loss(audio.log_mel(y_hat), mel)
        l_stft = stft_loss(y_hat, y)
        loss = 45 * l_mel + 2.5 * l_stft
        if gan:
            l_adv, l_fm = gen_adversarial(mpd, y, y_hat)
            loss = loss + l_adv + 2 * l_fm
            parts.update(adv=l_adv.item(), fm=l_fm.item())
        og.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(gen.parameters(), 100.0)
        og.step()
        step += 1
        if step % 10 == 0:
            log(step=step, min=budget.elapsed() / 60, mel=l_mel.item(), stft=l_stft.item(), **parts)
        if budget.elapsed() - last_export > a.export_every * 60:
            save()
            last_export = budget.elapsed()
    save()
    log(event="end", step=step, min=budget.elapsed() / 60)


if __name__ == "__main__":
    main()
