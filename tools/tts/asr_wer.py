#!/usr/bin/python3
"""Loom's own transcriber on the clips of a wer.py run: word error rate per
voice of `loom transcribe` (models/loom-asr by default) on each Loom voice's
clips and on its teacher's, side by side — issue 24's "report Loom's own
transcriber's WER too". References and scoring are wer.py's (spoken form by
tools/tts/normtext, words(), edits()).

  make wer-tts WER_ARGS="--out /tmp/wer"        # keeps the WAVs
  /usr/bin/python3 tools/tts/asr_wer.py --dir /tmp/wer --normtext bin/tts-normtext
"""
import argparse
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
from wer import edits, words  # noqa: E402


def transcribe(a, wavs):
    out = subprocess.run([a.loom, "transcribe", "--plugins", a.plugins, "--models", a.models, "--model", a.model]
                         + wavs, capture_output=True, text=True, check=True).stdout
    hyp = {}
    for line in out.splitlines():
        path, _, text = line.partition("\t")
        hyp[path] = text
    return hyp


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True, help="a wer.py --out folder (VOICE/NNN.wav and VOICE/espeak_NNN.wav)")
    ap.add_argument("--sentences", default=os.path.join(HERE, "heldout_eval.txt"))
    ap.add_argument("--normtext", default="/tmp/tts/normtext")
    ap.add_argument("--loom", default=os.path.join(ROOT, "bin", "loom"))
    ap.add_argument("--plugins", default=os.path.join(ROOT, "bin"))
    ap.add_argument("--models", default=os.path.join(ROOT, "models"))
    ap.add_argument("--model", default="loom-asr")
    a = ap.parse_args()
    sents = [l.strip() for l in open(a.sentences) if l.strip() and not l.startswith("#")]
    refs = subprocess.run([a.normtext], input="\n".join(sents) + "\n", capture_output=True, text=True,
                          check=True).stdout.splitlines()
    if len(refs) != len(sents):
        sys.exit(f"normtext gave {len(refs)} lines for {len(sents)} sentences")
    voices = sorted(v for v in os.listdir(a.dir) if os.path.exists(os.path.join(a.dir, v, "000.wav")))
    if not voices:
        sys.exit(f"{a.dir}: no voice folders (run wer.py with --out)")
    print(f"| voice | {a.model} WER on Loom | on the teacher | clips |")
    print("| --- | ---: | ---: | ---: |")
    for v in voices:
        row = []
        for pat in (r"^(\d+)\.wav$", r"^espeak_(\d+)\.wav$"):
            wavs = sorted(os.path.join(a.dir, v, f) for f in os.listdir(os.path.join(a.dir, v)) if re.match(pat, f))
            hyp = transcribe(a, wavs)
            errs = n = 0
            for w in wavs:
                ref = words(refs[int(re.match(pat, os.path.basename(w)).group(1))])
                errs += edits(ref, words(hyp.get(w, "")))
                n += len(ref)
            row.append((errs / max(n, 1), len(wavs)))
        print(f"| {v} | {row[0][0]:.3f} | {row[1][0]:.3f} | {row[0][1]} |", flush=True)


if __name__ == "__main__":
    main()
