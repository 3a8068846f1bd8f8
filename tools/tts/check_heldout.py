#!/usr/bin/python3
"""Checks that the held-out sentences (heldout_eval.txt, heldout_dev.txt) were
never training text: regenerates every training corpus the shipped models
used (corpus.py with the seeds and --everyday shares of the model card) and
fails if any held-out sentence is one of their lines or one of the sentences
inside a two-sentence line (compared in lower case without punctuation), or
if the two splits share a sentence. Also prints how many of the held-out
words the corpora never spell, the figure that says how "unseen" a split is.

  /usr/bin/python3 tools/tts/check_heldout.py"""
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
# (lines, seed, --everyday, --dictionary) of every corpus a stage trained on (models/loom-tts/README.md, "Training")
CORPORA = [(6000, 1, 0.0, 0.0), (6000, 2, 0.5, 0.0), (6000, 3, 0.5, 0.0), (6000, 4, 0.5, 0.25)]
SPLITS = ["heldout_eval.txt", "heldout_dev.txt", "wer_sentences.txt"]


def key(s):
    return " ".join(re.sub(r"[^a-z0-9' ]+", " ", s.lower()).split())


def sentences(path):
    return [l.strip() for l in open(path) if l.strip() and not l.startswith("#")]


def main():
    seen, vocab = set(), set()
    for n, seed, everyday, dictionary in CORPORA:
        text = subprocess.run([sys.executable, os.path.join(HERE, "corpus.py"), "--n", str(n), "--seed", str(seed),
                               "--everyday", str(everyday), "--dictionary", str(dictionary)],
                              capture_output=True, text=True, check=True).stdout
        for line in text.splitlines():
            seen.add(key(line))
            seen.update(key(p) for p in re.split(r"(?<=[.!?])\s+", line.strip()))
            vocab.update(key(line).split())
    bad, splits = 0, {}
    for name in SPLITS:
        splits[name] = sents = sentences(os.path.join(HERE, name))
        hits = [s for s in sents if key(s) in seen]
        words = [w for s in sents for w in key(s).split()]
        unseen = [w for w in words if w not in vocab]
        print(f"{name}: {len(sents)} sentences, {len(words)} words, {len(hits)} in a training corpus, "
              f"{len(unseen)} words ({len(set(unseen))} distinct) never in one")
        for s in hits:
            print(f"  in training: {s}")
        bad += len(hits)
    shared = {key(s) for s in splits["heldout_eval.txt"]} & {key(s) for s in splits["heldout_dev.txt"]}
    for s in sorted(shared):
        print(f"  in both splits: {s}")
    if bad or shared or len(splits["heldout_eval.txt"]) < 100:
        sys.exit("held-out check failed")


if __name__ == "__main__":
    main()
