#!/usr/bin/python3
"""The tiny random Whisper and the goldens Loom's Go tower is tested against
(core/towers/whisper_test.go): a model folder in Hugging Face's layout with
random weights (3 s windows so the files stay small) and, computed by the
plain-PyTorch reference in whisper_ref.py from those weights, the librosa
mel filterbank, the log-mel of a test signal, the encoder's last hidden
state, the decoder's logits over a forced sequence (the prefix and 10 random text
tokens, all positions at once) and 12 greedy tokens decoded
through the KV cache.

  /usr/bin/python3 tools/asr/goldens.py --out core/towers/testdata"""
import argparse
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(__file__))
import folder  # noqa: E402
import whisper_ref as W  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "captioner"))
import safet  # noqa: E402

WORDS = "the quick brown fox jumps over the lazy dog one two three four five seven eight nine ten hello world speech".split()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    torch.manual_seed(21)
    np.random.seed(21)
    chunk = 3
    merges = folder.learn_bpe([" ".join(WORDS)] * 3, 40)
    toks, n_text, sp, ts = folder.vocabulary(merges, chunk)
    cfg = {"d_model": 32, "encoder_layers": 2, "encoder_attention_heads": 4, "encoder_ffn_dim": 64,
           "decoder_layers": 2, "decoder_attention_heads": 4, "decoder_ffn_dim": 64, "num_mel_bins": 80,
           "max_source_positions": chunk * 50, "max_target_positions": 64, "vocab_size": n_text + len(sp) + len(ts)}
    m = W.Whisper(cfg).eval()
    with torch.no_grad():
        for name, p in m.named_parameters():
            if "layer_norm" in name:
                p.add_(0.1 * torch.randn_like(p))
    tiny = os.path.join(a.out, "whisper_tiny")
    ids = folder.write(tiny, m.state_dict_hf(), cfg, merges, chunk)

    t = np.arange(int(1.2 * 16000)) / 16000.0
    audio = (0.3 * np.sin(2 * np.pi * (220 * t + 400 * t * t)) * np.minimum(1, 4 * t)
             + 0.05 * np.random.randn(len(t))).astype(np.float32)
    with torch.no_grad():
        mel = W.log_mel(audio, chunk * 16000)  # (80, 300)
        enc = m.model.encoder(mel[None])  # (1, 150, 32)
        prefix = [ids["<|startoftranscript|>"], ids["<|en|>"], ids["<|transcribe|>"], ids["<|notimestamps|>"]]
        forced = prefix + [int(x) for x in torch.randint(0, n_text, (10,))]
        logits = m.model.decoder(torch.tensor([forced]), enc)[0]  # (14, V), no cache
        cache = m.model.decoder.new_cache()
        last = m.model.decoder(torch.tensor([prefix]), enc, cache)[0, -1]
        seq, pos = list(prefix), len(prefix)
        for _ in range(12):
            nxt = int(last.argmax())
            seq.append(nxt)
            last = m.model.decoder(torch.tensor([[nxt]]), enc, cache, pos)[0, -1]
            pos += 1
        full = m.model.decoder(torch.tensor([seq]), enc)[0]
        assert [int(x) for x in full[len(prefix) - 1 : -1].argmax(-1)] == seq[len(prefix):], "cache path disagrees"
    safet.save(os.path.join(a.out, "whisper_golden.safetensors"), {
        "filters": W.mel_filters(), "audio": audio, "log_mel": mel.numpy(), "encoder": enc[0].numpy(),
        "forced": np.array(forced, dtype=np.int32), "forced_logits": logits.numpy(), "greedy": np.array(seq, dtype=np.int32)},
        {"model": "whisper_tiny", "prefix": json.dumps(prefix)})
    print("wrote", tiny, "vocab", cfg["vocab_size"], "greedy", seq)


if __name__ == "__main__":
    main()
