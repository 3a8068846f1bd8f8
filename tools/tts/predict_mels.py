#!/usr/bin/python3
"""Writes the acoustic model's own mels for make_data.py's shards, aligned to
the teacher's audio, for training a vocoder on what it will be fed at serve
time: each utterance goes through FastSpeech 2 with the teacher's durations
(so its frames line up with the teacher's waveform) and the model's own
energies; the postnet output is kept, as Loom serves it.

Output: DATA/pred_NNN.pt beside each shard_NNN.pt, a list of float16 (T, 80)
arrays in the shard's order (T equals the shard's mel length).

  /usr/bin/python3 tools/tts/predict_mels.py --data /tmp/tts/data --acoustic models/loom-tts/acoustic"""
import argparse
import glob
import json
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(__file__))
import common  # noqa: E402
import model as M  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--acoustic", required=True)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    cfg = json.load(open(os.path.join(a.acoustic, "config.json")))
    net = common.load_export(M.FastSpeech2(cfg), a.acoustic).eval()
    shards = sorted(glob.glob(os.path.join(a.data, "shard_*.pt")))
    if not shards:
        raise SystemExit(f"no shard_*.pt in {a.data}")
    t0 = time.time()
    for path in shards:
        out = []
        for u in torch.load(path):
            ids = torch.from_numpy(np.asarray(u["ids"], dtype=np.int64))[None]
            dur = torch.from_numpy(np.asarray(u["durations"], dtype=np.int64))[None]
            with torch.no_grad():
                post = net(ids, torch.tensor([ids.shape[1]]), torch.tensor([int(u["speaker"])]), d_target=dur)[1][0]
            if post.shape[0] != u["mel"].shape[0]:
                raise SystemExit(f"{path} utterance {u['id']}: {post.shape[0]} frames, the teacher has {u['mel'].shape[0]}")
            out.append(post.numpy().astype(np.float16))
        dst = path.replace("shard_", "pred_")
        torch.save(out, dst + ".tmp")
        os.replace(dst + ".tmp", dst)
        print(f"{dst}: {len(out)} utterances, {time.time() - t0:.0f} s", flush=True)


if __name__ == "__main__":
    main()
