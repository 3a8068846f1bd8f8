#!/usr/bin/python3
"""Average the unets of video pipeline folders tensor by tensor (a "model soup"
of checkpoints of one run, or of runs from one start):

    /usr/bin/python3 tools/video/average.py --out OUT FOLDER FOLDER...

The first folder names the architecture: OUT gets its unet config and links to
its other parts, and each of its unet tensors is the mean (in f32, stored in the
first folder's dtype) over the folders. A tensor of the first folder that
another lacks, or has in another shape, is an error; tensors that only later
folders have (a module the first does not have) are left out, and listed.
"""
import argparse
import os
import shutil
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.append(os.path.join(os.path.dirname(HERE), "captioner"))
import safet  # noqa: E402

UNET = os.path.join("unet", "diffusion_pytorch_model.safetensors")


def average(sds):
    """The mean of state dicts over the first one's tensors, and the names of
    the tensors later ones have that the first does not."""
    first = sds[0]
    out = {}
    for k, v in first.items():
        acc = np.zeros(v.shape, np.float32)
        for i, sd in enumerate(sds):
            if k not in sd:
                raise ValueError(f"folder {i} has no tensor {k}")
            if sd[k].shape != v.shape:
                raise ValueError(f"folder {i}'s {k} is {sd[k].shape}, the first's {v.shape}")
            acc += np.asarray(sd[k], np.float32)
        out[k] = (acc / len(sds)).astype(v.dtype)
    extra = sorted({k for sd in sds[1:] for k in sd} - set(first))
    return out, extra


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("folders", nargs="+")
    a = ap.parse_args(argv)
    if len(a.folders) < 2:
        sys.exit("average.py: give two folders or more")
    sds = [safet.load(os.path.join(f, UNET)) for f in a.folders]
    avg, extra = average(sds)
    if extra:
        print(f"left out (not in {a.folders[0]}): {len(extra)} tensors, e.g. {extra[0]}")
    if os.path.exists(a.out):
        shutil.rmtree(a.out)
    os.makedirs(os.path.join(a.out, "unet"))
    for name in sorted(os.listdir(a.folders[0])):
        if name != "unet":
            os.symlink(os.path.realpath(os.path.join(a.folders[0], name)), os.path.join(a.out, name))
    shutil.copy(os.path.join(a.folders[0], "unet", "config.json"), os.path.join(a.out, "unet", "config.json"))
    safet.save(os.path.join(a.out, UNET), avg, {"format": "pt"})
    print(f"{a.out}: {len(avg)} tensors, the mean over {len(sds)} folders")


if __name__ == "__main__":
    main()
