"""Shared helpers of Loom's TTS training scripts: data shards, model export
(config.json + model.safetensors with the reference names the Go towers bind),
and a wall-clock budget."""
import glob
import json
import os
import sys
import time

import numpy as np
import torch

sys.path.append(os.path.join(os.path.dirname(__file__), "..", "captioner"))  # safet.py, the shared writer
import safet  # noqa: E402


def load_shards(data_dir, limit=0):
    utts = []
    for p in sorted(glob.glob(os.path.join(data_dir, "shard_*.pt"))):
        utts.extend(torch.load(p))
        if limit and len(utts) >= limit:
            return utts[:limit]
    if not utts:
        raise SystemExit(f"no shard_*.pt in {data_dir}: run tools/tts/make_data.py first")
    return utts


def export(net, out_dir, cfg):
    """config.json + model.safetensors (f32; BatchNorm's int64
    num_batches_tracked is training state and is left out)."""
    os.makedirs(out_dir, exist_ok=True)
    sd = {k: v.detach().float().cpu().numpy() for k, v in net.state_dict().items() if not k.endswith("num_batches_tracked")}
    tmp = os.path.join(out_dir, "model.safetensors.tmp")
    safet.save(tmp, sd, {"format": "pt"})
    os.replace(tmp, os.path.join(out_dir, "model.safetensors"))
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(cfg, f, indent=1)


def load_export(net, out_dir):
    sd = {k: torch.from_numpy(np.array(v)) for k, v in safet.load(os.path.join(out_dir, "model.safetensors")).items()}
    missing, unexpected = net.load_state_dict(sd, strict=False)
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    if missing or unexpected:
        raise SystemExit(f"{out_dir}: missing {missing}, unexpected {unexpected}")
    return net


class Budget:
    """Wall-clock budget in minutes; done() once it is spent."""

    def __init__(self, minutes):
        self.t0, self.limit = time.time(), minutes * 60

    def elapsed(self):
        return time.time() - self.t0

    def done(self, reserve=0.0):
        return self.elapsed() >= self.limit - reserve


class Log:
    def __init__(self, path):
        self.f = open(path, "a")

    def __call__(self, **kw):
        line = json.dumps({k: (round(v, 5) if isinstance(v, float) else v) for k, v in kw.items()})
        print(line, flush=True)
        self.f.write(line + "\n")
        self.f.flush()
