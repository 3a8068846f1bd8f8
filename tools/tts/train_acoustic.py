#!/usr/bin/python3
"""Trains Loom's FastSpeech 2 acoustic model (model.py) on make_data.py's shards
within a wall-clock budget, exporting config.json + model.safetensors (ming024
names) that core/towers/tts.go loads.

Targets: log-mel frames (L1 on the decoder output and on the postnet output),
log(1 + duration) per character (MSE), and per-character energy, z-scored with
the data set's statistics (MSE), with teacher durations and energies fed to the
length regulator and energy embedding (as in the paper). Pitch is off in Loom's
models: espeak-ng's intonation is a deterministic function of the text, so the
one-to-many problem the pitch predictor addresses hardly arises, and the tools
carry no F0 tracker (the tower and model.py support it; --use-pitch would need
pitch targets in the shards). Adam (0.9, 0.98), linear warm-up then
inverse-square-root decay, gradient clipping at 1.

  /usr/bin/python3 tools/tts/train_acoustic.py --data /tmp/tts/data --out models/loom-tts/acoustic --minutes 80
  # smoke test (< 2 min):
  /usr/bin/python3 tools/tts/train_acoustic.py --data /tmp/tts/smoke --out /tmp/tts/ac-smoke --size tiny --minutes 0.5"""
import argparse
import json
import math
import os
import random
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(__file__))
import common  # noqa: E402
import model as M  # noqa: E402

SIZES = {
    # ~1.9M parameters, FFN kernel 5: the default for an 80-minute run on 2 CPU cores (about 5 MFLOP per
    # training frame, several epochs of 4–5 hours of speech).
    "small": {"encoder_layer": 3, "decoder_layer": 3, "hidden": 128, "heads": 2, "filter": 256, "kernel": [5, 1],
              "vp": 128, "postnet": {"n_convolutions": 2, "embedding_dim": 96, "kernel_size": 5}},
    # ming024's LJSpeech configuration (34.1M parameters with postnet): far too slow for this budget; it is here
    # so the export and the Go tower are exercised at the reference shape.
    "reference": {"encoder_layer": 4, "decoder_layer": 6, "hidden": 256, "heads": 2, "filter": 1024, "kernel": [9, 1],
                  "vp": 256, "postnet": {"n_convolutions": 5, "embedding_dim": 512, "kernel_size": 5}},
    # for smoke tests
    "tiny": {"encoder_layer": 1, "decoder_layer": 1, "hidden": 32, "heads": 2, "filter": 64, "kernel": [9, 1], "vp": 32,
             "postnet": {"n_convolutions": 0, "embedding_dim": 32, "kernel_size": 5}},
}


def make_config(size, meta, n_vocab, max_seq_len=1000):
    s = SIZES[size]
    e = meta["energy"]
    mean, std = e[2], max(e[3], 1e-6)
    return {
        "n_src_vocab": n_vocab, "n_mel_channels": 80, "max_seq_len": max_seq_len, "multi_speaker": True,
        "n_speaker": len(meta["voices"]), "use_pitch": False, "use_energy": True,
        "transformer": {"encoder_layer": s["encoder_layer"], "encoder_head": s["heads"], "encoder_hidden": s["hidden"],
                        "decoder_layer": s["decoder_layer"], "decoder_head": s["heads"], "decoder_hidden": s["hidden"],
                        "conv_filter_size": s["filter"], "conv_kernel_size": s["kernel"],
                        "encoder_dropout": 0.1, "decoder_dropout": 0.1},
        "variance_predictor": {"filter_size": s["vp"], "kernel_size": 3, "dropout": 0.3},
        "variance_embedding": {"pitch_quantization": "linear", "energy_quantization": "linear", "n_bins": 64},
        # energy z-scored: bins span the normalised range
        "stats": {"energy": [(e[0] - mean) / std, (e[1] - mean) / std, mean, std], "pitch": [-1.0, 1.0, 0.0, 1.0]},
        "postnet": s["postnet"],
        # serving metadata (ignored by the tower)
        "symbols": meta.get("symbols"), "speakers": meta["voices"], "audio": meta["audio"],
    }


def batches(utts, max_frames, rng):
    """Length-sorted batches of at most max_frames padded frames, shuffled."""
    order = sorted(range(len(utts)), key=lambda i: len(utts[i]["mel"]) + rng.random() * 20)
    out, cur, longest = [], [], 0
    for i in order:
        t = len(utts[i]["mel"])
        if cur and max(longest, t) * (len(cur) + 1) > max_frames:
            out.append(cur)
            cur, longest = [], 0
        cur.append(i)
        longest = max(longest, t)
    if cur:
        out.append(cur)
    rng.shuffle(out)
    return out


def collate(utts, idx, e_mean, e_std):
    us = [utts[i] for i in idx]
    B, N, T = len(us), max(len(u["ids"]) for u in us), max(len(u["mel"]) for u in us)
    ids = torch.zeros(B, N, dtype=torch.long)
    dur = torch.zeros(B, N, dtype=torch.long)
    en = torch.zeros(B, N)
    mel = torch.zeros(B, T, 80)
    src_lens, mel_lens = torch.zeros(B, dtype=torch.long), torch.zeros(B, dtype=torch.long)
    spk = torch.tensor([u["speaker"] for u in us], dtype=torch.long)
    for b, u in enumerate(us):
        n, t = len(u["ids"]), len(u["mel"])
        ids[b, :n] = torch.from_numpy(u["ids"].astype(np.int64))
        dur[b, :n] = torch.from_numpy(u["durations"].astype(np.int64))
        en[b, :n] = torch.from_numpy((u["energy"] - e_mean) / e_std)
        mel[b, :t] = torch.from_numpy(u["mel"].astype(np.float32))
        src_lens[b], mel_lens[b] = n, t
    return ids, src_lens, spk, dur, en, mel, mel_lens


def losses(net, batch, own_energy=False):
    """own_energy: the decoder gets the energy predictor's output, as at serve time (validation only)."""
    ids, src_lens, spk, dur, en, mel, mel_lens = batch
    out, post, log_d, _, _, _, e_pred = net(ids, src_lens, spk, d_target=dur, e_target=None if own_energy else en)
    T = mel.shape[1]
    mmask = (torch.arange(T)[None, :] < mel_lens[:, None]).unsqueeze(-1).float()
    smask = (torch.arange(ids.shape[1])[None, :] < src_lens[:, None]).float()
    nm = mmask.sum() * 80
    l_mel = ((out - mel).abs() * mmask).sum() / nm
    l_post = ((post - mel).abs() * mmask).sum() / nm
    l_dur = (((log_d - torch.log(dur.float() + 1)) ** 2) * smask).sum() / smask.sum()
    l_en = (((e_pred - en) ** 2) * smask).sum() / smask.sum() if e_pred is not None else torch.zeros(())
    return l_mel + l_post + l_dur + l_en, {"mel": l_mel.item(), "post": l_post.item(), "dur": l_dur.item(), "energy": l_en.item()}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--size", default="small", choices=sorted(SIZES))
    ap.add_argument("--minutes", type=float, default=80, help="wall-clock budget, export included")
    ap.add_argument("--max-frames", type=int, default=4000, help="padded mel frames per batch")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--warmup", type=int, default=300)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--limit", type=int, default=0, help="use only N utterances")
    ap.add_argument("--export-every", type=float, default=10, help="minutes between exports")
    ap.add_argument("--resume", action="store_true", help="continue from OUT/train_state.pt")
    ap.add_argument("--init", default="", help="warm start: weights of an exported model (fresh optimiser and schedule)")
    ap.add_argument("--pred-energy", type=float, default=0.0,
                    help="share of training utterances whose decoder input takes the predicted energies, not the teacher's")
    ap.add_argument("--keep-exports", action="store_true", help="also keep each periodic export in OUT/step_NNNNNN")
    a = ap.parse_args()
    budget = common.Budget(a.minutes)
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    rng = random.Random(a.seed)
    meta = json.load(open(os.path.join(a.data, "meta.json")))
    utts = common.load_shards(a.data, a.limit)
    rng.shuffle(utts)
    n_val = max(1, len(utts) // 50)
    val, train = utts[:n_val], utts[n_val:] or utts[:1]
    cfg = make_config(a.size, meta, n_vocab=meta.get("n_vocab", 33))
    if a.init:
        # a warm start keeps its energy normalisation: the energy bins come with its weights, so z-scoring the new
        # data by the new data's own statistics would shift every energy against the embedding it learnt
        cfg["stats"] = json.load(open(os.path.join(a.init, "config.json")))["stats"]
    e_mean, e_std = cfg["stats"]["energy"][2], cfg["stats"]["energy"][3]
    net = M.FastSpeech2(cfg)
    net.variance_adaptor.pred_energy_share = a.pred_energy
    opt = torch.optim.Adam(net.parameters(), lr=a.lr, betas=(0.9, 0.98), eps=1e-9)
    step = 0
    if a.init:
        common.load_export(net, a.init)
    os.makedirs(a.out, exist_ok=True)
    state_path = os.path.join(a.out, "train_state.pt")
    if a.resume and os.path.exists(state_path):
        st = torch.load(state_path)
        net.load_state_dict(st["model"])
        opt.load_state_dict(st["opt"])
        step = st["step"]
    log = common.Log(os.path.join(a.out, "train_log.jsonl"))
    log(event="start", params=M.param_count(net), train=len(train), val=len(val), size=a.size, step=step, init=a.init,
        lr=a.lr, warmup=a.warmup, pred_energy=a.pred_energy)
    sched = lambda s: min(1.0, (s + 1) / a.warmup) * min(1.0, math.sqrt(a.warmup / (s + 1)))  # noqa: E731
    last_export = budget.elapsed()

    def evaluate():
        net.eval()
        tot, n = {}, 0
        with torch.no_grad():
            for idx in batches(val, a.max_frames, random.Random(0)):
                b = collate(val, idx, e_mean, e_std)
                _, parts = losses(net, b)
                parts["post_own_energy"] = losses(net, b, own_energy=True)[1]["post"]
                for k, v in parts.items():
                    tot[k] = tot.get(k, 0) + v * len(idx)
                n += len(idx)
        net.train()
        return {k: v / n for k, v in tot.items()}

    def save():
        common.export(net, a.out, cfg)
        if a.keep_exports:
            common.export(net, os.path.join(a.out, f"step_{step:06d}"), cfg)
        torch.save({"model": net.state_dict(), "opt": opt.state_dict(), "step": step}, state_path)

    net.train()
    done = False
    epoch = 0
    while not done:
        for idx in batches(train, a.max_frames, rng):
            for g in opt.param_groups:
                g["lr"] = a.lr * sched(step)
            loss, parts = losses(net, collate(train, idx, e_mean, e_std))
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            opt.step()
            step += 1
            if step % 20 == 0:
                log(step=step, epoch=epoch, min=budget.elapsed() / 60, lr=opt.param_groups[0]["lr"], **parts)
            if budget.elapsed() - last_export > a.export_every * 60:
                save()
                last_export = budget.elapsed()
                log(step=step, val=evaluate())
            if budget.done(reserve=20):
                done = True
                break
        epoch += 1
    save()
    log(event="end", step=step, min=budget.elapsed() / 60, val=evaluate())


if __name__ == "__main__":
    main()
