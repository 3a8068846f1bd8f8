#!/usr/bin/python3
"""PyTorch peer of core/towers' BenchmarkWhisperWindow: the same shapes
(openai/whisper tiny or base, random weights) doing the same work — the
encoder on one 30 s log-mel window, then 4 prompt tokens and 60 tokens one
at a time through the KV cache — under torch.no_grad. Prints one JSON line
per round with seconds per window and the real-time factor (÷ 30 s).

  OPENBLAS_NUM_THREADS=1 /usr/bin/python3 tools/asr/bench_torch.py --shape tiny --threads 1 --rounds 3

With --model DIR and WAV files (16 kHz mono 16-bit), it is the peer of
`loom bench transcribe` instead: the same weights (a Whisper folder such as
models/loom-asr) transcribing the same files — log-mel, encoder, greedy
decoding through the KV cache from <|startoftranscript|><|en|><|transcribe|>
<|notimestamps|> to <|endoftext|> — and the real-time factor is seconds of
compute per second of audio:

  /usr/bin/python3 tools/asr/bench_torch.py --model models/loom-asr --threads 1 --rounds 2 plugins/audio/testdata/asr-heldout/*.wav"""
import argparse
import json
import os
import sys
import time

import wave

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(__file__))
import whisper_ref as W  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "captioner"))
import safet  # noqa: E402

SHAPES = {  # core/towers/whisper_bench_test.go's whisperShapes
    "tiny": dict(d_model=384, encoder_layers=4, encoder_attention_heads=6, encoder_ffn_dim=1536, decoder_layers=4,
                 decoder_attention_heads=6, decoder_ffn_dim=1536),
    "base": dict(d_model=512, encoder_layers=6, encoder_attention_heads=8, encoder_ffn_dim=2048, decoder_layers=6,
                 decoder_attention_heads=8, decoder_ffn_dim=2048),
}


def read_wav16(path):
    with wave.open(path) as w:
        if w.getframerate() != W.SAMPLE_RATE or w.getnchannels() != 1 or w.getsampwidth() != 2:
            sys.exit(f"{path}: want 16 kHz mono 16-bit WAV")
        return np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16).astype(np.float32) / 32768.0


def load_folder(d):
    cfg = json.load(open(os.path.join(d, "config.json")))
    gen = json.load(open(os.path.join(d, "generation_config.json")))
    m = W.Whisper(cfg).eval()
    state = {k: torch.from_numpy(np.array(v, dtype=np.float32)) for k, v in safet.load(os.path.join(d, "model.safetensors")).items()}
    # proj_out is tied; the CTC head (Loom's joint beam search) is not part of greedy decoding
    m.load_state_dict({k: v for k, v in state.items() if k != "proj_out.weight" and not k.startswith("ctc_head.")})
    prefix = [gen["decoder_start_token_id"], gen["lang_to_id"]["<|en|>"], gen["task_to_id"]["transcribe"], gen["no_timestamps_token_id"]]
    return m, cfg, prefix, gen["eos_token_id"]


def transcribe(m, cfg, prefix, eot, audio):
    """Greedy decoding through the KV cache, as Loom's decodeWindow does
    without timestamps: at most max_target_positions/2 tokens, special and
    timestamp tokens (the ids after <|endoftext|>) suppressed; returns the
    tokens."""
    mel = W.log_mel(audio, cfg["max_source_positions"] * 2 * W.HOP, cfg["num_mel_bins"])
    enc = m.model.encoder(mel[None])
    cache = m.model.decoder.new_cache()
    last = m.model.decoder(torch.tensor([prefix]), enc, cache)[0, -1]
    out = []
    for pos in range(len(prefix), len(prefix) + cfg["max_target_positions"] // 2):
        last[eot + 1:] = -float("inf")
        nxt = int(last.argmax())
        if nxt == eot:
            break
        out.append(nxt)
        last = m.model.decoder(torch.tensor([[nxt]]), enc, cache, pos)[0, -1]
    return out


def bench_folder(a):
    m, cfg, prefix, eot = load_folder(a.model)
    clips = [read_wav16(f) for f in a.files]
    seconds = sum(len(c) for c in clips) / W.SAMPLE_RATE
    with torch.no_grad():
        transcribe(m, cfg, prefix, eot, clips[0])  # warm-up
        for r in range(1, a.rounds + 1):
            t0 = time.perf_counter()
            tokens = sum(len(transcribe(m, cfg, prefix, eot, c)) for c in clips)
            dt = time.perf_counter() - t0
            print(json.dumps({"peer": "pytorch", "model": os.path.basename(os.path.normpath(a.model)), "threads": a.threads,
                              "round": r, "files": len(clips), "audio_seconds": round(seconds, 3), "seconds": round(dt, 4),
                              "tokens": tokens, "rtf": round(dt / seconds, 5)}), flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shape", default="tiny", choices=sorted(SHAPES))
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--model", default="", help="a Whisper folder: transcribe the WAV files given instead")
    ap.add_argument("files", nargs="*")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    if a.model:
        if not a.files:
            sys.exit("--model needs WAV files")
        bench_folder(a)
        return
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
