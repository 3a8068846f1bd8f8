#!/usr/bin/python3
"""A character n-gram language model for models/loom-asr, written as an ARPA
file (the text format of SRILM and KenLM) whose "words" are the model's byte
tokens as tokenizer.json spells them ("Ġ" is the space).

Text: the training side of make_data.py's corpus — tools/tts/corpus.py
sentences (seed 21) in spoken form through Loom's front end
(tools/tts/normtext), as the model writes them (make_data.target: sentence
capitals, "I", punctuation), with make_data.py's exclusions: no held-out
sentence (tools/tts/wer_sentences.txt, corpus seed 999) and no sentence with a
reserved word. --sentences draws more of that corpus than the speech used
(text is cheap; the exclusions are the same). Each sentence is one line of
the LM, " " + target, between <s> and </s>, as the decoder writes it.

Smoothing: interpolated Witten-Bell (Witten & Bell 1991; Chen & Goodman 1998,
section 2.5), p(w|h) = (c(hw) + N1+(h·) p(w|h')) / (c(h) + N1+(h·)), written
in ARPA's backoff form: an n-gram's log10 probability is its interpolated
p(w|h), a context's backoff weight is N1+(h·) / (c(h) + N1+(h·)), the share
left for tokens not seen after h. Exact: the backoff form gives the same
probabilities as the interpolated one for every token.

  go build -o /tmp/asr/normtext ./tools/tts/normtext
  /usr/bin/python3 tools/asr/ngram.py --order 6 --sentences 100000 --out models/loom-asr/lm.arpa.gz --lm-weight 0.2

An --out ending in .gz is written gzipped (no name, no time: the same text
gives the same bytes), the form models/loom-asr ships (core/lm.Open reads
either)."""
import argparse
import gzip
import io
import json
import math
import os
import sys
from collections import defaultdict

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tts"))
sys.path.insert(0, HERE)  # before tools/tts, which has a make_data.py of its own
import folder  # noqa: E402
import make_data  # noqa: E402

BOS, EOS = "<s>", "</s>"


def training_text(n, seed, normtext):
    """The model's targets for n corpus sentences, with make_data.py's exclusions."""
    train = make_data.corpus(n, seed)
    counts = {}
    for s in make_data.corpus(make_data.N_CORPUS, seed):  # the common words as make_data.py counts them
        for w in make_data.words(s):
            counts[w] = counts.get(w, 0) + 1
    held = make_data.reserved_words(set(sorted(counts, key=lambda w: -counts[w])[:200]))
    heldout = [l.strip() for l in open(os.path.join(HERE, "..", "tts", "wer_sentences.txt")) if l.strip()]
    hset = {s.lower() for s in heldout + make_data.corpus(4000, make_data.HELD_SEED)}
    texts = [s for s in dict.fromkeys(train) if s.lower() not in hset and not any(held(w) for w in make_data.words(s))]
    norms = make_data.normalise(texts, normtext)
    return [make_data.target(x) for x in norms if 2 <= len(make_data.words(x)) <= 22]


def count(lines, order, words=False):
    """counts[k][ngram] for k = 1…order over each line's tokens between <s> and </s>:
    the byte tokens of " " + line, or with words its words as WER counts them
    (make_data.words: lower case, runs of a-z and ')."""
    b2u, _ = folder.bytes_to_unicode()
    counts = [None] + [defaultdict(int) for _ in range(order)]
    for line in lines:
        toks = [BOS] + (make_data.words(line) if words else [b2u[b] for b in (" " + line).encode("utf-8")]) + [EOS]
        for i in range(1, len(toks)):
            for k in range(1, order + 1):
                if i - k + 1 < 0:
                    break
                counts[k][tuple(toks[i - k + 1:i + 1])] += 1
    return counts


def witten_bell(counts, order):
    """log10 probabilities of every seen n-gram and log10 backoff weights of every context."""
    # per context h (order k-1): its total count c(h) and distinct followers N1+(h·)
    ctx_total = [None] + [defaultdict(int) for _ in range(order)]
    ctx_types = [None] + [defaultdict(int) for _ in range(order)]
    for k in range(1, order + 1):
        for g, c in counts[k].items():
            ctx_total[k][g[:-1]] += c
            ctx_types[k][g[:-1]] += 1
    vocab = [g[0] for g in counts[1] if g[0] != BOS]
    prob = [None] + [{} for _ in range(order)]
    bow = [None] + [{} for _ in range(order)]
    # unigrams: Witten-Bell against the uniform distribution over the vocabulary
    tot, typ = ctx_total[1][()], ctx_types[1][()]
    uni = 1.0 / len(vocab)
    for g, c in counts[1].items():
        if g[0] != BOS:
            prob[1][g] = (c + typ * uni) / (tot + typ)

    def p(g):
        """Interpolated probability of g's last token after the rest (any length ≥ 1)."""
        k = len(g)
        if g in prob[k]:
            return prob[k][g]
        if k == 1:
            return uni * typ / (tot + typ)
        return bow_lin(g[:-1]) * p(g[1:])

    def bow_lin(h):
        k = len(h) + 1
        t = ctx_total[k].get(h, 0)
        return 1.0 if t == 0 else ctx_types[k][h] / (t + ctx_types[k][h])

    for k in range(2, order + 1):
        for g, c in counts[k].items():
            h = g[:-1]
            t, n = ctx_total[k][h], ctx_types[k][h]
            prob[k][g] = (c + n * p(g[1:])) / (t + n)
    for k in range(1, order):
        for h in ctx_total[k + 1]:  # every context seen, <s> alone too
            bow[k][h] = bow_lin(h)
    return prob, bow


def open_out(path):
    if not path.endswith(".gz"):
        return open(path, "w")
    raw = open(path, "wb")
    return io.TextIOWrapper(gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9), encoding="utf-8")


def write_arpa(path, prob, bow, order):
    with open_out(path) as f:
        f.write("\\data\\\n")
        n1 = len(prob[1]) + 1  # <s> has a line of its own
        f.write(f"ngram 1={n1}\n")
        for k in range(2, order + 1):
            f.write(f"ngram {k}={len(prob[k])}\n")
        for k in range(1, order + 1):
            f.write(f"\n\\{k}-grams:\n")
            if k == 1:
                f.write(f"-99\t{BOS}\t{math.log10(bow[1].get((BOS,), 1.0)):.5f}\n")
            for g in sorted(prob[k]):
                line = f"{math.log10(prob[k][g]):.5f}\t{' '.join(g)}"
                if k < order and g in bow[k]:
                    line += f"\t{math.log10(bow[k][g]):.5f}"
                f.write(line + "\n")
        f.write("\n\\end\\\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--order", type=int, default=6)
    ap.add_argument("--sentences", type=int, default=make_data.N_CORPUS, help="corpus sentences drawn (make_data.py draws 23,000)")
    ap.add_argument("--seed", type=int, default=21)
    ap.add_argument("--words", action="store_true", help="a word n-gram (words.arpa, generation_config.json word_lm) instead of "
                    "the character one: the same text, lower-case words as WER counts them")
    ap.add_argument("--normtext", default="/tmp/asr/normtext")
    ap.add_argument("--lm-weight", type=float, default=0, help="> 0: set generation_config.json's lm_weight (and with --words "
                    "word_lm true) in --out's folder "
                    "(beam search's weight of the LM; run after train.py --export-only, which rewrites that file)")
    a = ap.parse_args()
    lines = training_text(a.sentences, a.seed, a.normtext)
    counts = count(lines, a.order, a.words)
    prob, bow = witten_bell(counts, a.order)
    write_arpa(a.out, prob, bow, a.order)
    if a.lm_weight > 0:
        gpath = os.path.join(os.path.dirname(os.path.abspath(a.out)), "generation_config.json")
        gen = json.load(open(gpath))
        gen["lm_weight"] = a.lm_weight
        if a.words:
            gen["word_lm"] = True
        with open(gpath, "w") as f:
            json.dump(gen, f, indent=1)
            f.write("\n")
    n_tok = sum(len(make_data.words(l)) + 1 if a.words else len(l) + 2 for l in lines)  # </s> (and the space) counted
    print(json.dumps({"out": a.out, "sentences": len(lines), "tokens": n_tok,
                      "ngrams": [len(prob[k]) for k in range(1, a.order + 1)], "bytes": os.path.getsize(a.out)}))


if __name__ == "__main__":
    main()
