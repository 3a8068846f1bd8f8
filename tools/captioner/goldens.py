#!/usr/bin/python3
"""Golden files for Loom's Go captioner towers: for a few validation images,
the normalised pixels, the ViT encoder's last hidden state, the decoder's
first-step logits (after the start token) and the greedy caption ids, computed
by the PyTorch reference in model.py on an exported model folder.

  /usr/bin/python3 tools/captioner/goldens.py --model models/shapes-captioner \
      --data /tmp/shapes/val --out core/towers/testdata/captioner_golden.safetensors"""
import argparse
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(__file__))
import model as M  # noqa: E402
import safet  # noqa: E402
import train as T  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--data", default="/tmp/shapes/val")
    ap.add_argument("--n", type=int, default=3)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    cfg = json.load(open(os.path.join(a.model, "config.json")))
    net = M.Captioner(cfg["encoder"], cfg["decoder"])
    sd = {k: torch.from_numpy(v.copy()) for k, v in safet.load(os.path.join(a.model, "model.safetensors")).items()}
    net.load_state_dict(sd)
    net.eval()
    imgs, _ = T.load(a.data)
    px = T.to_pixels(imgs[: a.n])
    with torch.no_grad():
        enc = net.encoder(px)
        logits = net.decoder(torch.full((a.n, 1), T.BOS, dtype=torch.long), enc)[:, 0]
    caps = T.greedy(net, px)
    ids = np.zeros((a.n, T.MAXLEN), dtype=np.int32)
    for i, c in enumerate(caps):
        toks = [T.VOCAB.index(w) for w in c.split()]
        ids[i, : len(toks)] = toks
    safet.save(a.out, {"pixels": px.numpy(), "encoder": enc.numpy(), "logits": logits.numpy(), "greedy": ids},
               {"model": a.model, "captions": json.dumps(caps)})
    print("wrote", a.out, caps)


if __name__ == "__main__":
    main()
