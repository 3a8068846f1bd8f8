"""Writes a Whisper model folder in Hugging Face's layout (config.json,
generation_config.json, preprocessor_config.json, tokenizer.json,
model.safetensors) from a tools/asr model and a byte-level BPE vocabulary,
so Loom loads our models exactly as it loads openai's."""
import json
import os
import sys
from collections import Counter

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "captioner"))
import safet  # noqa: E402


def bytes_to_unicode():
    """GPT-2's byte ↔ printable-character table; byte-level BPE vocabularies
    (Whisper's too) start with these 256 characters in this order."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs])), bs


def pretokenize(text):
    """Words with their leading space, in the byte alphabet (a simplification
    of GPT-2's regex that is exact for the words and numbers we train on)."""
    b2u, _ = bytes_to_unicode()
    out, cur = [], ""
    for ch in text:
        if ch == " " and cur:
            out.append(cur)
            cur = ""
        cur += ch
    if cur:
        out.append(cur)
    return ["".join(b2u[b] for b in w.encode("utf-8")) for w in out]


def learn_bpe(texts, n_merges):
    """Greedy BPE merges (Sennrich et al. 2016) over the words of texts."""
    words = Counter()
    for t in texts:
        words.update(pretokenize(t))
    seqs = {w: list(w) for w in words}
    merges = []
    for _ in range(n_merges):
        pairs = Counter()
        for w, c in words.items():
            s = seqs[w]
            for a, b in zip(s, s[1:]):
                pairs[(a, b)] += c
        if not pairs:
            break
        (a, b), c = max(pairs.items(), key=lambda kv: (kv[1], kv[0]))
        if c < 2:
            break
        merges.append((a, b))
        for w in seqs:
            s, o, i = seqs[w], [], 0
            while i < len(s):
                if i + 1 < len(s) and s[i] == a and s[i + 1] == b:
                    o.append(a + b)
                    i += 2
                else:
                    o.append(s[i])
                    i += 1
            seqs[w] = o
    return merges


LANGS = ["en", "de", "fr"]


def specials(chunk_length):
    s = ["<|endoftext|>", "<|startoftranscript|>"] + [f"<|{l}|>" for l in LANGS]
    s += ["<|translate|>", "<|transcribe|>", "<|startoflm|>", "<|startofprev|>", "<|nospeech|>", "<|notimestamps|>"]
    return s, [f"<|{i * 0.02:.2f}|>" for i in range(chunk_length * 50 + 1)]


def vocabulary(merges, chunk_length):
    """Token list: 256 byte characters, merged pieces, specials, timestamps."""
    _, order = bytes_to_unicode()
    b2u, _ = bytes_to_unicode()
    toks = [b2u[b] for b in order]
    toks += [a + b for a, b in merges]
    sp, ts = specials(chunk_length)
    return toks, len(toks), sp, ts


def write(dir, state, cfg, merges, chunk_length, suppress_space=True, num_beams=1, ctc_weight=0.0, allow_empty=False):
    """suppress_space: begin_suppress_tokens holds the lone space, as
    Whisper's does; a character-level vocabulary, whose every text starts
    with that space, passes False. allow_empty leaves <|endoftext|> out of
    begin_suppress_tokens too, so that the transcript may end at once: for a
    model trained to say nothing for audio without speech (train.py
    --nospeech), which Whisper's suppression would force to say something. num_beams > 1 goes into
    generation_config.json: the beam width Loom (and Hugging Face's
    generate()) decodes with when a request names none. ctc_weight > 0
    (Loom's extension, with a CTC head in state and cfg's ctc_vocab_size) is
    the weight of the CTC prefix score in Loom's beam search."""
    os.makedirs(dir, exist_ok=True)
    toks, n_text, sp, ts = vocabulary(merges, chunk_length)
    ids = {t: i for i, t in enumerate(toks)}
    added = []
    for i, t in enumerate(sp + ts):
        ids[t] = n_text + i
        added.append({"id": n_text + i, "content": t, "single_word": False, "lstrip": False, "rstrip": False,
                      "normalized": False, "special": t in sp})
    assert cfg["vocab_size"] == len(ids), (cfg["vocab_size"], len(ids))
    tok = {"version": "1.0", "truncation": None, "padding": None, "added_tokens": added, "normalizer": None,
           "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
           "post_processor": None, "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
           "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": "", "end_of_word_suffix": "",
                     "fuse_unk": False, "vocab": {t: i for i, t in enumerate(toks)}, "merges": [f"{a} {b}" for a, b in merges]}}
    eot, sot = ids["<|endoftext|>"], ids["<|startoftranscript|>"]
    c = dict(cfg)
    c.update({"architectures": ["WhisperForConditionalGeneration"], "model_type": "whisper", "activation_function": "gelu",
              "scale_embedding": False, "decoder_start_token_id": sot, "eos_token_id": eot, "bos_token_id": eot,
              "pad_token_id": eot, "begin_suppress_tokens": ([ids["Ġ"]] if suppress_space else []) + ([] if allow_empty else [eot]),
              "suppress_tokens": []})
    gen = {"decoder_start_token_id": sot, "eos_token_id": eot, "bos_token_id": eot, "pad_token_id": eot,
           "is_multilingual": True, "lang_to_id": {f"<|{l}|>": ids[f"<|{l}|>"] for l in LANGS},
           "task_to_id": {"transcribe": ids["<|transcribe|>"], "translate": ids["<|translate|>"]},
           "no_timestamps_token_id": ids["<|notimestamps|>"], "prev_sot_token_id": ids["<|startofprev|>"],
           "max_initial_timestamp_index": 50, "begin_suppress_tokens": c["begin_suppress_tokens"], "suppress_tokens": [],
           "max_length": cfg["max_target_positions"]}
    if num_beams > 1:
        gen["num_beams"] = num_beams
    if ctc_weight > 0:
        gen["ctc_weight"] = ctc_weight
    pre = {"feature_extractor_type": "WhisperFeatureExtractor", "chunk_length": chunk_length, "feature_size": cfg["num_mel_bins"],
           "hop_length": 160, "n_fft": 400, "n_samples": chunk_length * 16000, "nb_max_frames": chunk_length * 100,
           "sampling_rate": 16000, "padding_side": "right", "padding_value": 0.0, "return_attention_mask": False,
           "processor_class": "WhisperProcessor"}
    for name, obj in [("config.json", c), ("generation_config.json", gen), ("preprocessor_config.json", pre), ("tokenizer.json", tok)]:
        with open(os.path.join(dir, name), "w") as f:
            json.dump(obj, f, indent=1 if name != "tokenizer.json" else None, ensure_ascii=False)
            f.write("\n")
    safet.save(os.path.join(dir, "model.safetensors"), state, {"format": "pt"})
    return ids
