#!/usr/bin/python3
"""PyTorch peer of core/towers' BenchmarkWhisperWindow: the same shapes
(openai/whisper tiny or base, random weights) doing the same work — the
encoder on one 30 s log-mel window, then 4 prompt tokens and 60 tokens one
at a time through the KV cache — under torch.no_grad. Prints one JSON line
per round with seconds per window and the real-time factor (÷ 30 s).

  OPENBLAS_NUM_THREADS=1 /usr/bin/python3 tools/asr/bench_torch.py --shape tiny --threads 1 --rounds 3"""
import argparse
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(__file__))
import whisper_ref as W  # noqa: E402

SHAPES = {  # core/towers/whisper_bench_test.go's whisperShapes
    "tiny": dict(d_model=384, encoder_layers=4, encoder_attention_heads=6, encoder_ffn_dim=1536, decoder_layers=4,
                 decoder_attention_heads=6, decoder_ffn_dim=1536),
    "base": dict(d_model=512, encoder_layers=6, encoder_attention_heads=8, encoder_ffn_dim=2048, decoder_layers=6,
                 decoder_attention_heads=8, decoder_ffn_dim=2048),
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shape", default="tiny", choices=sorted(SHAPES))
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    cfg = dict(SHAPES[a.shape], num_mel_bins=80, max_source_positions=1500, max_target_positions=448, vocab_size=51865)
    m = W.Whisper(cfg).eval()
    mel = torch.sin(torch.arange(80 * 3000, dtype=torch.float32) * 0.001).view(1, 80, 3000)
    with torch.no_grad():
        for r in range(a.rounds + 1):  # round 0 warms up
            t0 = time.perf_counter()
            enc = m.model.encoder(mel)
            cache = m.model.decoder.new_cache()
            m.model.decoder(torch.tensor([[50258, 50259, 50359, 50363]]), enc, cache)
            for t in range(60):
                m.model.decoder(torch.tensor([[1000 + t]]), enc, cache, 4 + t)
            dt = time.perf_counter() - t0
            if r > 0:
                print(json.dumps({"peer": "pytorch", "shape": a.shape, "threads": a.threads, "round": r,
                                  "seconds_per_window": round(dt, 4), "rtf": round(dt / 30, 5)}), flush=True)


if __name__ == "__main__":
    main()
