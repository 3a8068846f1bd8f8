#!/usr/bin/python3
"""Speech for training and evaluating models/loom-asr, made here: no downloads.

Text: tools/tts/corpus.py (everyday English from everyday.py's broad
vocabulary, themed sentences, prices, years, dates, times, ordinals, decimals,
addresses), spoken form through Loom's own front end (tools/tts/normtext, the
core/textnorm that `loom speak` uses), so "$16.78" is heard and written as
"sixteen dollars and seventy eight cents".

Held out, so the evaluation measures generalisation and not recall:
  * words: about 1 in 25 word types (not the 200 commonest) is reserved; no
    training sentence contains one, and the evaluation sentences do;
  * sentences: the evaluation text (tools/tts/wer_sentences.txt and corpus
    seed 999) never appears in training;
  * espeak-ng voices, variants and pitches: the evaluation speaks with
    en-gb-x-gbcwmd and en-gb-x-gbclan, variants m6, m7 and f4, pitches 18-24
    and 76-82, none used in training (training: 6 accents x 18 variants,
    pitches 28-72).
Loom's own TTS (`loom speak`, models/loom-tts) speaks training sentences with
each shipped voice; the round trip (eval.py) speaks held-out sentences.

Output (DIR): clips.bin (int16 mono 16 kHz, concatenated), index.jsonl (one
clip per line: offset, samples, text, source, voice, variant, pitch, speed).
Noise and reverberation are added by train.py on the fly (and by eval.py,
seeded, on a copy of the held-out espeak-ng set).

  /usr/bin/python3 tools/asr/make_data.py --out /tmp/asr/train --espeak 6000 --loom 400
  /usr/bin/python3 tools/asr/make_data.py --out /tmp/asr/heldout --heldout --espeak 100
  /usr/bin/python3 tools/asr/make_data.py --out /tmp/asr/train_acc --espeak 9000 --loom 0 --accent 0.8"""
import argparse
import hashlib
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import wave
from concurrent.futures import ThreadPoolExecutor

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tools", "tts"))
import voices as tts_voices  # noqa: E402

TRAIN_ACCENTS = ["en-us", "en-gb", "en-gb-x-rp", "en-gb-scotland", "en-029", "en-us-nyc"]
TRAIN_VARIANTS = ["", "m1", "m2", "m3", "m4", "m5", "f1", "f2", "f3", "klatt", "klatt2", "klatt3", "klatt4",
                  "klatt5", "klatt6", "loomf2", "loomf5", "m8"]
HELD_ACCENTS = ["en-gb-x-gbcwmd", "en-gb-x-gbclan"]
HELD_VARIANTS = ["m6", "m7", "f4"]
TRAIN_PITCH = (28, 72)
HELD_PITCH = [(18, 24), (76, 82)]
LOOM_VOICES = ["alloy", "nova", "fable", "shimmer"]
MAX_SECONDS = 7.6  # the model's windows are 8 s; keep every clip inside one
HELD_SEED = 999
DEV_SEED = 998  # --dev: the tuning set's sentences
N_CORPUS = 23000  # training sentences drawn (the same list for every run, so --skip lines up)

# Features of regional English accents as rewrites of espeak-ng's phoneme
# mnemonics (`espeak-ng -x`). --accent speaks that share of the training clips
# from their phonemes with a random subset of these applied (the same subset
# throughout a clip, as an accent is), so the model hears known words with
# shifted vowels and consonants: what an accent it never trained on mostly is.
ACCENT_RULES = {
    "strut-foot": (r"V", "U"),                    # "cup" with the vowel of "put" (northern England, Midlands)
    "bath-trap": (r"aa", "a"),                    # "bath" with the vowel of "trap"
    "price": (r"aI", "OI"),                       # "price" with a rounded start (West Midlands)
    "face": (r"eI", "aI"),                        # "face" with an open start (London, Birmingham, Australia)
    "goat": (r"oU", "aU"),                        # "goat" with an open start
    "lot": (r"0", "A:"),                          # "lot" unrounded and long (North America)
    "h-drop": (r"(^|\s)([',]?)h", r"\1\2"),       # a dropped initial h
    "ng": (r"N(?=\s|$)", "Ng"),                   # "sing" with its g sounded (Midlands, Lancashire)
    "t-glottal": (r"t(?=[@Ii]|\s|$)", "?"),        # t as a glottal stop before a vowel or a word's end
    "th-front": (r"T", "f"),                      # "think" as "fink"
}


def accent_phonemes(phonemes, rules):
    """phonemes (espeak-ng -x output, one clause per line) rewritten by the named
    ACCENT_RULES, as one espeak-ng phoneme input ("[[...]]", clauses joined by a
    pause). The rules apply in ACCENT_RULES' order whatever the order of
    rules, "price" before "face" so that a rewritten face vowel is not
    rewritten again."""
    unknown = set(rules) - set(ACCENT_RULES)
    if unknown:
        raise ValueError(f"unknown accent rules {sorted(unknown)}")
    out = []
    for line in phonemes.splitlines():
        line = line.strip()
        for name, (pat, rep) in ACCENT_RULES.items():
            if name in rules:
                line = re.sub(pat, rep, line)
        if line:
            out.append(line)
    return "[[" + " _:_: ".join(out) + "]]"


def draw_accent(rng):
    """A random accent: each rule with chance 0.4, at least one, sorted."""
    names = [n for n in sorted(ACCENT_RULES) if rng.random() < 0.4]
    return names or [rng.choice(sorted(ACCENT_RULES))]


def words(s):
    return re.sub(r"[^a-z' ]+", " ", s.lower()).split()


def corpus(n, seed):
    out = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "tts", "corpus.py"), "--n", str(n), "--seed",
                          str(seed), "--everyday", "0.5"], capture_output=True, text=True, check=True).stdout
    return [l.strip() for l in out.splitlines() if l.strip()]


def normalise(texts, normtext):
    out = subprocess.run([normtext], input="\n".join(texts) + "\n", capture_output=True, text=True, check=True).stdout
    return [json.loads(l)["norm"] for l in out.splitlines()]


def target(norm):
    """What the model writes: the spoken form with sentence capitals and "I"."""
    s = re.sub(r"\bi\b", "I", norm)
    return re.sub(r"(^|[.!?]\s+)([a-z])", lambda m: m.group(1) + m.group(2).upper(), s)


def reserved_words(common):
    """Word types held out of training: a fixed 1-in-25 hash subset, sparing
    the commonest words (held out, they would empty the training set)."""
    def held(w):
        return w not in common and int(hashlib.sha1(w.encode()).hexdigest(), 16) % 25 == 0
    return held


def texts_for(a):
    train = corpus(N_CORPUS, a.seed)
    counts = {}
    # the reserved words are seed 21's (the held-out set's) whatever --seed
    # draws: another seed's 200 commonest words could spare a reserved one
    for s in train if a.seed == 21 else corpus(N_CORPUS, 21):
        for w in words(s):
            counts[w] = counts.get(w, 0) + 1
    common = set(sorted(counts, key=lambda w: -counts[w])[:200])
    held = reserved_words(common)
    heldout = [l.strip() for l in open(os.path.join(ROOT, "tools", "tts", "wer_sentences.txt")) if l.strip()]
    heldout += corpus(4000, HELD_SEED)
    hset = {s.lower() for s in heldout}
    if a.dev:
        # sentences with a reserved word, as every held-out clip has: never in
        # training or in ngram.py's text, and not a held-out sentence
        return [s for s in dict.fromkeys(corpus(4000, DEV_SEED))
                if s.lower() not in hset and any(held(w) for w in words(s))]
    if a.heldout:
        # every sentence with a reserved word, then the rest, without repeats
        seen, out = set(), []
        for s in sorted(heldout, key=lambda s: not any(held(w) for w in words(s))):
            if s.lower() not in seen:
                seen.add(s.lower())
                out.append(s)
        return out
    return [s for s in dict.fromkeys(train) if s.lower() not in hset and not any(held(w) for w in words(s))]


def to16k(wav_bytes):
    r = subprocess.run(["sox", "-t", "wav", "-", "-r", "16000", "-c", "1", "-b", "16", "-e", "signed", "-t", "raw", "-"],
                       input=wav_bytes, capture_output=True, check=True)
    return np.frombuffer(r.stdout, dtype=np.int16)


def espeak_clip(data, voice, speed, pitch, text, accent=None):
    """The clip espeak-ng speaks; with accent (ACCENT_RULES names), spoken from
    its phonemes with those rules applied."""
    if accent:
        ph = subprocess.run(["espeak-ng", "--path=" + data, "-v", voice, "-q", "-x", text],
                            capture_output=True, check=True, text=True).stdout
        text = accent_phonemes(ph, accent)
    r = subprocess.run(["espeak-ng", "--path=" + data, "-v", voice, "-s", str(speed), "-p", str(pitch), "--stdout", text],
                       capture_output=True, check=True)
    return to16k(r.stdout)


def read_wav16(path):
    r = subprocess.run(["sox", path, "-r", "16000", "-c", "1", "-b", "16", "-e", "signed", "-t", "raw", "-"],
                       capture_output=True, check=True)
    return np.frombuffer(r.stdout, dtype=np.int16)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--espeak", type=int, default=6000, help="espeak-ng clips")
    ap.add_argument("--loom", type=int, default=400, help="loom speak clips per voice")
    ap.add_argument("--heldout", action="store_true", help="the evaluation set (held-out text, voices, pitches)")
    ap.add_argument("--dev", action="store_true", help="the tuning set for decoding settings: held-out-style text "
                    "(corpus seed 998, each sentence with a reserved word, no held-out sentence), training voices")
    ap.add_argument("--skip", type=int, default=0, help="sentences to pass over first (another run's espeak-ng ones)")
    ap.add_argument("--accent", type=float, default=0.0, help="share of the training espeak-ng clips spoken from their "
                    "phonemes rewritten by a random subset of ACCENT_RULES (regional vowels and consonants)")
    ap.add_argument("--seed", type=int, default=21)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--normtext", default="/tmp/asr/normtext")
    ap.add_argument("--loom-bin", default=os.path.join(ROOT, "bin", "loom"))
    ap.add_argument("--models", default=os.path.join(ROOT, "models"))
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    if a.dev and a.heldout:
        sys.exit("--dev and --heldout are two different sets")
    rng = random.Random(a.seed + (7 if a.heldout else 13 if a.dev else 0))
    texts = texts_for(a)
    norms = normalise(texts, a.normtext)
    pairs = [(t, n) for t, n in zip(texts, norms) if 2 <= len(words(n)) <= 22]
    if not a.heldout and not a.dev:
        rng.shuffle(pairs)
    data = tts_voices.espeak_data(tempfile.mkdtemp(prefix="asr-espeak-"))
    jobs = []
    for i, (t, n) in enumerate(pairs[a.skip:a.skip + a.espeak]):
        if a.heldout:
            voice = rng.choice(HELD_ACCENTS) + "+" + rng.choice(HELD_VARIANTS)
            pitch = rng.randint(*rng.choice(HELD_PITCH))
        else:
            v = rng.choice(TRAIN_VARIANTS)
            voice = rng.choice(TRAIN_ACCENTS) + ("+" + v if v else "")
            pitch = rng.randint(*TRAIN_PITCH)
        jobs.append({"text": t, "norm": n, "voice": voice, "pitch": pitch, "speed": rng.randint(135, 200), "source": "espeak-ng"})
        if a.accent and not a.heldout and not a.dev and rng.random() < a.accent:
            jobs[-1]["accent"] = draw_accent(rng)

    def run(j):
        return espeak_clip(data, j["voice"], j["speed"], j["pitch"], j["norm"], j.get("accent"))

    bin_f = open(os.path.join(a.out, "clips.bin"), "wb")
    idx_f = open(os.path.join(a.out, "index.jsonl"), "w")
    off = [0]

    def put(j, pcm):
        if len(pcm) > MAX_SECONDS * 16000 or len(pcm) < 8000:
            return False
        bin_f.write(pcm.astype(np.int16).tobytes())
        j.update({"offset": off[0], "samples": len(pcm), "target": target(j["norm"])})
        idx_f.write(json.dumps(j) + "\n")
        off[0] += len(pcm)
        return True

    kept = 0
    with ThreadPoolExecutor(a.workers) as ex:
        for k, (j, pcm) in enumerate(zip(jobs, ex.map(run, jobs))):
            kept += put(j, pcm)
            if k % 500 == 0:
                print(f"espeak {k}/{len(jobs)} kept {kept}", flush=True)
    # Loom's own voices: the training set speaks sentences after the espeak-ng
    # ones; the held-out set leaves the round trip to eval.py.
    if a.loom and not a.heldout and not a.dev:
        rest = pairs[a.skip + a.espeak:]
        tmp = tempfile.mkdtemp(prefix="asr-loom-")
        for vi, name in enumerate(LOOM_VOICES):
            chunk = rest[vi * a.loom:(vi + 1) * a.loom]
            vdir = os.path.join(tmp, name)
            os.makedirs(vdir, exist_ok=True)
            open(os.path.join(vdir, "texts.txt"), "w").write("\n".join(t for t, _ in chunk) + "\n")
            speed = [round(rng.uniform(0.85, 1.2), 2) for _ in range(3)]
            # three speaking rates per voice, one per third of its sentences
            for si, sp in enumerate(speed):
                part = chunk[si::3]
                pdir = os.path.join(vdir, str(si))
                os.makedirs(pdir, exist_ok=True)
                open(os.path.join(pdir, "texts.txt"), "w").write("\n".join(t for t, _ in part) + "\n")
                subprocess.run([a.loom_bin, "speak", "--plugins", os.path.dirname(a.loom_bin), "--models", a.models,
                                "--model", "loom-tts", "--voice", name, "--speed", str(sp),
                                "--texts-file", os.path.join(pdir, "texts.txt"), "--out-dir", pdir],
                               check=True, stdout=subprocess.DEVNULL)
                for i, (t, n) in enumerate(part):
                    pcm = read_wav16(os.path.join(pdir, f"{i:03d}.wav"))
                    kept += put({"text": t, "norm": n, "voice": name, "pitch": 0, "speed": sp, "source": "loom-tts"}, pcm)
            print(f"loom {name} done, kept {kept}", flush=True)
    bin_f.close()
    idx_f.close()
    print(json.dumps({"out": a.out, "clips": kept, "hours": round(off[0] / 16000 / 3600, 3)}))


if __name__ == "__main__":
    main()
