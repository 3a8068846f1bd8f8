#!/usr/bin/python3
"""PyTorch peer for `loom bench caption`: the same model folder, one image at a
time (batch 1, as a server captions a request), ViT encoder + greedy decode
with the decoder re-run over the prefix each step (model.py has no KV cache;
this is how a plain PyTorch captioner decodes), on a fixed set of Shapes
validation images. Prints one JSON line like the Go bench. --batch N captions
N images per forward pass (PyTorch's way to caption several at once, the peer
of `loom bench caption --concurrent N`).

  OPENBLAS_NUM_THREADS=1 /usr/bin/python3 tools/captioner/bench_torch.py \\
      --model models/shapes-captioner --data /tmp/shapes/val --images 100 --threads 2"""
import argparse
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(__file__))
import model as M  # noqa: E402
import safet  # noqa: E402
import train as T  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="models/shapes-captioner")
    ap.add_argument("--data", default="/tmp/shapes/val")
    ap.add_argument("--images", type=int, default=100)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    cfg = json.load(open(os.path.join(a.model, "config.json")))
    net = M.Captioner(cfg["encoder"], cfg["decoder"])
    net.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in safet.load(os.path.join(a.model, "model.safetensors")).items()})
    net.eval()
    imgs, _ = T.load(a.data)
    px = T.to_pixels(imgs[: a.images + 5])
    with torch.inference_mode():
        for i in range(5):
            T.greedy(net, px[i : i + 1])
        t0 = time.perf_counter()
        for i in range(5, a.images + 5, a.batch):
            T.greedy(net, px[i : min(i + a.batch, a.images + 5)])
        el = time.perf_counter() - t0
    print(json.dumps({"op": "caption", "impl": "pytorch", "torch": torch.__version__, "images": a.images, "threads": a.threads, "batch": a.batch,
                      "images_per_s": a.images / el, "ms_per_image": 1000 * el / a.images}))


if __name__ == "__main__":
    main()
