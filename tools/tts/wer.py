#!/usr/bin/python3
"""Intelligibility of a Loom speech model, measured the way issue 7 asks: an
offline recogniser from Debian (pocketsphinx_continuous with the
pocketsphinx-en-us model) transcribes Loom's speech of ordinary English
sentences that are not in the training text (wer_sentences.txt), and the same
recogniser transcribes espeak-ng's own rendering of them (the teacher, each
Loom voice against the espeak-ng voice it learnt from). Word error rate =
word-level edit distance / reference words, summed over the sentences.

References are the sentences in spoken form (Loom's own front end, through
tools/tts/normtext, so "9" is "nine" for both sides), lower case, without
punctuation; hypotheses likewise.

  apt-get install -y pocketsphinx pocketsphinx-en-us sox espeak-ng
  make build && go build -o /tmp/tts/normtext ./tools/tts/normtext
  /usr/bin/python3 tools/tts/wer.py --models models --model loom-tts [--voices alloy,nova]

Prints a table per voice and a JSON summary line; --out DIR keeps the WAVs and
transcripts. Needs about 10 s of CPU per sentence and voice."""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def words(s):
    return re.sub(r"[^a-z' ]+", " ", s.lower()).split()


def edits(ref, hyp):
    """Word-level Levenshtein distance."""
    prev = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        cur = [i] + [0] * len(hyp)
        for j, h in enumerate(hyp, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r != h))
        prev = cur
    return prev[-1]


def recognise(wav, tmp):
    """pocketsphinx_continuous on a 16 kHz mono copy of wav."""
    w16 = os.path.join(tmp, "rec16.wav")
    subprocess.run(["sox", wav, "-r", "16000", "-c", "1", "-b", "16", w16], check=True)
    out = subprocess.run(["pocketsphinx_continuous", "-infile", w16, "-logfn", "/dev/null"],
                         capture_output=True, text=True, check=True).stdout
    return " ".join(out.split())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sentences", default=os.path.join(HERE, "wer_sentences.txt"))
    ap.add_argument("--loom", default=os.path.join(ROOT, "bin", "loom"))
    ap.add_argument("--plugins", default=os.path.join(ROOT, "bin"))
    ap.add_argument("--models", default=os.path.join(ROOT, "models"))
    ap.add_argument("--model", default="loom-tts")
    ap.add_argument("--voices", default="", help="comma-separated voice names (default: every voice of the model)")
    ap.add_argument("--normtext", default="/tmp/tts/normtext")
    ap.add_argument("--out", default="", help="keep WAVs and transcripts here")
    a = ap.parse_args()
    sents = [l.strip() for l in open(a.sentences) if l.strip()]
    norm = subprocess.run([a.normtext], input="\n".join(sents) + "\n", capture_output=True, text=True, check=True).stdout
    refs = [words(json.loads(l)["norm"]) for l in norm.splitlines()]
    idx = json.load(open(os.path.join(a.models, a.model, "speech.json")))
    voices = {v["name"]: v for v in idx["voices"]}
    names = a.voices.split(",") if a.voices else list(voices)
    out = a.out or tempfile.mkdtemp(prefix="loom-wer-")
    summary = {"sentences": len(sents), "voices": {}}
    tot = {"ref": 0, "loom": 0, "espeak": 0}
    for name in names:
        teacher = voices[name].get("teacher")
        if not teacher:
            sys.exit(f"voice {name} names no espeak-ng teacher in speech.json")
        vdir = os.path.join(out, name)
        os.makedirs(vdir, exist_ok=True)
        texts = os.path.join(vdir, "texts.txt")
        open(texts, "w").write("\n".join(sents) + "\n")
        subprocess.run([a.loom, "speak", "--plugins", a.plugins, "--models", a.models, "--model", a.model,
                        "--voice", name, "--texts-file", texts, "--out-dir", vdir], check=True, stdout=subprocess.DEVNULL)
        e_loom = e_esp = n_ref = 0
        rows = []
        for i, (s, ref) in enumerate(zip(sents, refs)):
            esp = os.path.join(vdir, f"espeak_{i:03d}.wav")
            subprocess.run(["espeak-ng", "-v", teacher, "-w", esp, s], check=True)
            h_loom, h_esp = recognise(os.path.join(vdir, f"{i:03d}.wav"), vdir), recognise(esp, vdir)
            d_loom, d_esp = edits(ref, words(h_loom)), edits(ref, words(h_esp))
            e_loom, e_esp, n_ref = e_loom + d_loom, e_esp + d_esp, n_ref + len(ref)
            rows.append({"ref": " ".join(ref), "loom": h_loom, "espeak": h_esp, "loom_edits": d_loom, "espeak_edits": d_esp})
            print(f"{name} {i:02d} loom {d_loom}/{len(ref)} espeak {d_esp}/{len(ref)} | {h_loom}", flush=True)
        json.dump(rows, open(os.path.join(vdir, "transcripts.json"), "w"), indent=1)
        v = {"teacher": teacher, "wer_loom": round(e_loom / n_ref, 4), "wer_espeak": round(e_esp / n_ref, 4)}
        v["ratio"] = round(v["wer_loom"] / max(v["wer_espeak"], 1e-9), 3)
        summary["voices"][name] = v
        tot["ref"] += n_ref
        tot["loom"] += e_loom
        tot["espeak"] += e_esp
        print(f"{name} (teacher {teacher}): WER loom {v['wer_loom']:.3f}, espeak-ng {v['wer_espeak']:.3f}, ratio {v['ratio']:.2f}", flush=True)
    summary["wer_loom"] = round(tot["loom"] / tot["ref"], 4)
    summary["wer_espeak"] = round(tot["espeak"] / tot["ref"], 4)
    summary["ratio"] = round(summary["wer_loom"] / max(summary["wer_espeak"], 1e-9), 3)
    summary["out"] = out
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
