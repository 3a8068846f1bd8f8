#!/usr/bin/python3
"""How much of a scene survives the VAE: encode validation renders (posterior
mean), decode them, and let the project's captioner read both the originals
and the round trips. The round trip's exact-caption rate is a ceiling for the
text-to-image read-back (the UNet can only produce what the decoder draws).

  make build
  OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=1 /usr/bin/python3 tools/diffusion/vae_readback.py \\
      --vae models/shapes-diffusion/vae --data /tmp/shapes/val --n 500

Prints one JSON line: exact-caption rates of originals and round trips, and
the mismatching captions when --show is given."""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import train_vae as TV  # noqa: E402
from train_unet import load_vae  # noqa: E402


def caption(loom, plugins, models, paths):
    out = subprocess.run([loom, "caption", "--plugins", plugins, "--models", models, *paths],
                         capture_output=True, text=True, check=True).stdout
    return [line.split("\t", 1)[1] for line in out.splitlines()]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--vae", default=os.path.join(ROOT, "models", "shapes-diffusion", "vae"))
    ap.add_argument("--data", default="/tmp/shapes/val", help="prefix of a shapesgen set (.txt + .u8)")
    ap.add_argument("--n", type=int, default=500)
    ap.add_argument("--loom", default=os.path.join(ROOT, "bin", "loom"))
    ap.add_argument("--plugins", default=os.path.join(ROOT, "bin"))
    ap.add_argument("--models", default=os.path.join(ROOT, "models"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--show", action="store_true", help="print the round trips the captioner misreads")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    imgs, caps = TV.load(a.data)
    imgs, caps = imgs[:a.n], caps[:a.n]
    vae, _ = load_vae(a.vae)
    tmp = tempfile.mkdtemp(prefix="loom-vae-readback-")
    orig, rt = [], []
    with torch.no_grad():
        for i in range(0, len(imgs), 50):
            mean, _ = vae.encode(TV.to_pixels(imgs[i:i + 50]))
            rec = ((vae.decode(mean).clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).numpy()
            for j in range(rec.shape[0]):
                for arr, name, lst in ((imgs[i + j], "orig", orig), (rec[j], "rt", rt)):
                    p = os.path.join(tmp, f"{name}_{i + j:04d}.png")
                    Image.fromarray(np.ascontiguousarray(arr)).save(p)
                    lst.append(p)
    got_orig, got_rt = caption(a.loom, a.plugins, a.models, orig), caption(a.loom, a.plugins, a.models, rt)
    if a.show:
        for c, r in zip(caps, got_rt):
            if c != r:
                print(f"{c} | {r}")
    print(json.dumps({"vae": a.vae, "images": len(caps),
                      "exact_originals": round(sum(c == g for c, g in zip(caps, got_orig)) / len(caps), 4),
                      "exact_round_trip": round(sum(c == g for c, g in zip(caps, got_rt)) / len(caps), 4),
                      "pngs": tmp}))


if __name__ == "__main__":
    main()
