#!/usr/bin/python3
"""Word error rate of a Loom Whisper model (models/loom-asr by default) on
held-out speech, side by side with pocketsphinx on the same audio, and the
round trip `loom speak` → `loom transcribe` per shipped voice.

1. Held-out espeak-ng speech (make_data.py --heldout: sentences, reserved
   words, accents, variants and pitches that training never used), clips that
   fit in one window of the model; --noisy adds a copy with noise and a room
   (train.py's augmentation, seeded). Loom: `loom transcribe --language en` (greedy, or --beam N);
   pocketsphinx: pocketsphinx_batch with the en-us model, exactly as
   tools/tts/wer.py decodes (16 kHz, 0.3 s of padding, batch cepstral mean).
2. Round trip: --roundtrip held-out sentences (default 50) spoken by each voice
   of models/loom-tts with `loom speak`, transcribed by `loom transcribe`
   (pocketsphinx beside it on the same WAVs).
3. No speech (--nospeech DIR): nospeech.py's clips (silence, noise, hum,
   clicks; made there with seed 999 if missing, 48 clips of 0.5-30 s, a seed
   training's on-the-fly clips never use): how many come out with no words,
   and the words the rest invent.

References and hypotheses are compared as wer.py does: lower case words,
numbers spoken (Loom's front end, tools/tts/normtext), punctuation dropped;
the character error rate is the edit distance over those words joined by
single spaces.

  make build && go build -o /tmp/asr/normtext ./tools/tts/normtext
  /usr/bin/python3 tools/asr/eval.py [--model loom-asr] [--noisy] [--out /tmp/asr/eval]

Prints one line per clip, a table, and a JSON summary line."""
import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import wave

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tools", "tts"))
sys.path.insert(0, HERE)  # before tools/tts, which has a make_data.py of its own
import make_data  # noqa: E402
import wer  # noqa: E402


def write_wav(path, pcm):
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(pcm.astype(np.int16).tobytes())


def loom_transcribe(a, wavs):
    out = subprocess.run([a.loom, "transcribe", "--plugins", a.plugins, "--models", a.models, "--model", a.model,
                          "--language", "en", "--beam", str(a.beam)] + wavs, capture_output=True, text=True)
    got = {}
    for line in out.stdout.splitlines():
        p, _, t = line.partition("\t")
        got[p] = t
    if out.returncode != 0 and not got:
        sys.exit(f"loom transcribe failed: {out.stderr}")
    return [got.get(w, "") for w in wavs]


def pocketsphinx(wavs, tmp):
    """pocketsphinx_batch's hypotheses, kept in tmp/pocketsphinx.json and
    reused while the clips are the same (they do not depend on the model)."""
    cache = os.path.join(tmp, "pocketsphinx.json")
    key = [[w, os.path.getsize(w)] for w in wavs]
    if os.path.exists(cache):
        c = json.load(open(cache))
        if c["key"] == key:
            return c["hyps"]
    hyps = wer.recognise_batch(wavs, tmp)
    json.dump({"key": key, "hyps": hyps}, open(cache, "w"))
    return hyps


def score(name, refs, wavs, a, tmp, rows, ps=True):
    """Loom and pocketsphinx on the same WAVs; returns (loom WER, pocketsphinx WER, words)."""
    hyp_p = pocketsphinx(wavs, tmp) if ps and not a.no_pocketsphinx else [""] * len(wavs)
    hyp_l = loom_transcribe(a, wavs) if not a.pocketsphinx_only else [""] * len(wavs)
    ran_p = ps and not a.no_pocketsphinx
    e_l = e_p = n = 0
    c_l = c_p = nc = 0
    for ref, hl, hp, w in zip(refs, hyp_l, hyp_p, wavs):
        dl, dp = wer.edits(ref, wer.words(hl)), wer.edits(ref, wer.words(hp))
        e_l, e_p, n = e_l + dl, e_p + dp, n + len(ref)
        rc = " ".join(ref)  # character error rate over the same normalised words
        c_l, c_p, nc = c_l + wer.edits(rc, " ".join(wer.words(hl))), c_p + wer.edits(rc, " ".join(wer.words(hp))), nc + len(rc)
        rows.append({"set": name, "wav": w, "ref": " ".join(ref), "loom": hl, "pocketsphinx": hp, "loom_edits": dl,
                     "pocketsphinx_edits": dp})
        print(f"{name} loom {dl}/{len(ref)} ps {dp}/{len(ref)} | {hl} | {hp}", flush=True)
    cer[name] = (round(c_l / max(nc, 1), 4), round(c_p / max(nc, 1), 4) if ran_p else None)
    return round(e_l / max(n, 1), 4), round(e_p / max(n, 1), 4) if ran_p else None, n


cer = {}  # set name -> (loom CER, pocketsphinx CER)


def window_samples(model_dir):
    cfg = json.load(open(os.path.join(model_dir, "config.json")))
    return cfg["max_source_positions"] * 2 * 160


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--heldout", default="/tmp/asr/heldout", help="make_data.py --heldout folder (made if missing)")
    ap.add_argument("--loom", default=os.path.join(ROOT, "bin", "loom"))
    ap.add_argument("--plugins", default=os.path.join(ROOT, "bin"))
    ap.add_argument("--models", default=os.path.join(ROOT, "models"))
    ap.add_argument("--model", default="loom-asr")
    ap.add_argument("--normtext", default="/tmp/asr/normtext")
    ap.add_argument("--roundtrip", type=int, default=50, help="held-out sentences per voice (0: skip)")
    ap.add_argument("--voices", default="alloy,nova,fable,shimmer")
    ap.add_argument("--noisy", action="store_true", help="also score a noisy, reverberant copy of the espeak-ng set")
    ap.add_argument("--no-pocketsphinx", action="store_true")
    ap.add_argument("--roundtrip-pocketsphinx", action="store_true", help="pocketsphinx on the round-trip speech too")
    ap.add_argument("--pocketsphinx-only", action="store_true", help="only pocketsphinx's side (cached in --out for later runs)")
    ap.add_argument("--beam", type=int, default=0, help="loom transcribe --beam (0: greedy)")
    ap.add_argument("--nospeech", default="", help="a nospeech.py folder to score (made if missing): clips with no words")
    ap.add_argument("--out", default="")
    a = ap.parse_args()
    if not os.path.exists(a.normtext):
        subprocess.run(["go", "build", "-o", a.normtext, "./tools/tts/normtext"], cwd=ROOT, check=True)
    if not os.path.exists(os.path.join(a.heldout, "index.jsonl")):
        subprocess.run([sys.executable, os.path.join(HERE, "make_data.py"), "--out", a.heldout, "--heldout",
                        "--espeak", "120", "--loom", "0", "--normtext", a.normtext], check=True)
    out = a.out or tempfile.mkdtemp(prefix="loom-asr-eval-")
    os.makedirs(out, exist_ok=True)
    limit = window_samples(os.path.join(a.models, a.model)) - 4800
    clips = [c for c in make_load(a.heldout) if c["samples"] <= limit]
    summary = {"model": a.model, "beam": a.beam, "sets": {}}
    rows = []
    sets = [("espeak-heldout", False)] + ([("espeak-heldout-noisy", True)] if a.noisy else [])
    for name, noisy in sets:
        d = os.path.join(out, name)
        os.makedirs(d, exist_ok=True)
        wavs = []
        rng = random.Random(5)
        np.random.seed(5)
        for i, c in enumerate(clips):
            pcm = c["pcm"]
            if noisy:
                import train  # torch only when asked
                x, _, _ = train.Augment(rng)(pcm)
                pcm = (x * 32767).astype(np.int16)
            wavs.append(os.path.join(d, f"{i:03d}.wav"))
            write_wav(wavs[-1], pcm)
        refs = [wer.words(c["norm"]) for c in clips]
        wl, wp, n = score(name, refs, wavs, a, d, rows)
        voices = sorted({c["voice"] for c in clips})
        summary["sets"][name] = {"clips": len(clips), "words": n, "wer_loom": wl, "wer_pocketsphinx": wp, "voices": voices}
    if a.roundtrip:
        texts = make_data.texts_for(argparse.Namespace(heldout=True, dev=False, seed=21))
        norms = make_data.normalise(texts, a.normtext)
        # sentences the espeak-ng set did not speak, short enough for one window
        pick = [(t, n) for t, n in zip(texts, norms) if 3 <= len(wer.words(n)) <= 12][len(clips):len(clips) + a.roundtrip]
        for v in a.voices.split(","):
            d = os.path.join(out, "roundtrip-" + v)
            os.makedirs(d, exist_ok=True)
            open(os.path.join(d, "texts.txt"), "w").write("\n".join(t for t, _ in pick) + "\n")
            subprocess.run([a.loom, "speak", "--plugins", a.plugins, "--models", a.models, "--model", "loom-tts",
                            "--voice", v, "--texts-file", os.path.join(d, "texts.txt"), "--out-dir", d],
                           check=True, stdout=subprocess.DEVNULL)
            wavs = [os.path.join(d, f"{i:03d}.wav") for i in range(len(pick))]
            wl, wp, n = score("roundtrip-" + v, [wer.words(n) for _, n in pick], wavs, a, d, rows, a.roundtrip_pocketsphinx)
            summary["sets"]["roundtrip-" + v] = {"clips": len(pick), "words": n, "wer_loom": wl, "wer_pocketsphinx": wp}
    if a.nospeech:
        if not os.path.exists(os.path.join(a.nospeech, "index.jsonl")):
            subprocess.run([sys.executable, os.path.join(HERE, "nospeech.py"), "--out", a.nospeech, "--n", "48",
                            "--seed", "999", "--min", "0.5", "--max", "30"], check=True)
        idx = [json.loads(line) for line in open(os.path.join(a.nospeech, "index.jsonl"))]
        hyps = loom_transcribe(a, [os.path.join(a.nospeech, j["file"]) for j in idx])
        quiet, invented, kinds = 0, 0, {}
        for j, h in zip(idx, hyps):
            n = len(wer.words(h))
            quiet, invented = quiet + (n == 0), invented + n
            k = kinds.setdefault(j["kind"], [0, 0])
            k[0], k[1] = k[0] + (n == 0), k[1] + 1
            rows.append({"set": "nospeech", "wav": j["file"], "seconds": j["seconds"], "level_dbfs": j["level_dbfs"], "loom": h})
            print(f"nospeech {j['file']} {j['seconds']} s {j['level_dbfs']} dBFS | {h}", flush=True)
        summary["nospeech"] = {"clips": len(idx), "no_words": quiet, "words_invented": invented,
                               "seconds": round(sum(j["seconds"] for j in idx), 1),
                               "no_words_by_kind": {k: f"{v[0]}/{v[1]}" for k, v in sorted(kinds.items())}}
        print(f"no speech: {quiet}/{len(idx)} clips with no words, {invented} words invented")
    json.dump(rows, open(os.path.join(out, "transcripts.json"), "w"), indent=1)
    print(f"{'set':28s} {'clips':>5s} {'words':>6s} {'WER loom':>9s} {'pocketsphinx':>13s} {'CER loom':>9s} {'pocketsphinx':>13s}")
    for k, v in summary["sets"].items():
        v["cer_loom"], v["cer_pocketsphinx"] = cer[k]
        ps = "—" if v["wer_pocketsphinx"] is None else f"{v['wer_pocketsphinx']:.3f}"
        pc = "—" if v["cer_pocketsphinx"] is None else f"{v['cer_pocketsphinx']:.3f}"
        print(f"{k:28s} {v['clips']:5d} {v['words']:6d} {v['wer_loom']:9.3f} {ps:>13s} {v['cer_loom']:9.3f} {pc:>13s}")
    summary["out"] = out
    print(json.dumps(summary))


def make_load(d):
    """make_data.py's folder: the clips with their int16 samples."""
    pcm = np.fromfile(os.path.join(d, "clips.bin"), dtype=np.int16)
    out = []
    for line in open(os.path.join(d, "index.jsonl")):
        j = json.loads(line)
        j["pcm"] = pcm[j["offset"]: j["offset"] + j["samples"]]
        out.append(j)
    return out


if __name__ == "__main__":
    main()
