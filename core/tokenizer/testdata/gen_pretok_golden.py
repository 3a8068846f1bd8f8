#!/usr/bin/env python3
"""Generates pretok_golden.json: the splits that the GPT-2, Llama-3 and Qwen2
pre-tokenizer regexes (as written in their tokenizer.json files) produce with
Python's `regex` module (Unicode properties, lookahead), for hand-picked and
seeded random strings. core/tokenizer's hand-written splitters must match.
Run: python3 gen_pretok_golden.py > pretok_golden.json"""
import json
import random
import regex

PATTERNS = {
    "gpt2": r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""",
    "llama3": r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+""",
    "qwen2": r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+""",
}

FIXED = [
    "Hello world", "I'm here, aren't you? We'LL see.", "  leading and trailing  ", "a\n\nb", "x \n y",
    "tabs\tand\t\tmore", "numbers 1234567 and 12.5%", "日本語のテキスト", "naïve café", "emoji 🙂🙂 ok",
    "line\r\nbreak", "   \n\n   end", "'s 'S 'Re 'vE", "(hello) [world]!", "a  b   c", "\u00a0nbsp\u3000ideo",
    "٣٤٥ arabic digits ½", "end with space ", "?!? ... --", "x'y", "don't", "\n", " ", "",
]

ALPHABET = list("abcXYZsStTrReEvVlLmMdD") + ["é", "日", "Σ", "ß"] + list("0123") + ["٣", "½"] + \
    [" ", " ", " ", "\t", "\n", "\r", "\u00a0", "\u3000"] + list("'.,!-()") + ["🙂", "—"]

def main():
    rnd = random.Random(7)
    cases = list(FIXED)
    for _ in range(600):
        cases.append("".join(rnd.choice(ALPHABET) for _ in range(rnd.randint(1, 24))))
    out = []
    for s in cases:
        out.append({"text": s, **{k: regex.findall(p, s) for k, p in PATTERNS.items()}})
    print("[\n" + ",\n".join(json.dumps(c, ensure_ascii=False) for c in out) + "\n]")

main()
