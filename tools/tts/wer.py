#!/usr/bin/python3
"""Intelligibility of a Loom speech model, measured the way issue 7 asks: an
offline recogniser from Debian (pocketsphinx 0.8 with the pocketsphinx-en-us
model and its generic language model) transcribes Loom's speech of ordinary English
sentences that are not in the training text (wer_sentences.txt), and the same
recogniser transcribes espeak-ng's own rendering of them (the teacher, each
Loom voice against the espeak-ng voice it learnt from). Word error rate =
word-level edit distance / reference words, summed over the sentences.

Sentences: heldout_eval.txt by default (issue 24's held-out set: 120 everyday
sentences with numbers, names, dates and questions, in no training corpus —
check_heldout.py checks); heldout_dev.txt (40 more of the same kind) is the one
to choose checkpoints on; wer_sentences.txt holds the 30 sentences of the
earlier tables. Lines starting with # are comments.

References are the sentences in spoken form (Loom's own front end, through
tools/tts/normtext, so "9" is "nine" for both sides), lower case, without
punctuation; hypotheses likewise. The teacher speaks that spoken form too, as
it did for the training data (make_data.py): given the raw sentence, espeak-ng
reads "2015" as "two thousand fifteen" and "$250" with an "and", and loses
words to the reference that Loom's speech never had to say (--teacher-text
raw: the figures before issue 24, same on sentences without digits).

Decoding (the same for both sides): every clip is resampled to 16 kHz mono,
padded with 0.3 s of silence at each end, and decoded by pocketsphinx_batch,
which normalises each utterance by its own cepstral mean as the model's
feat.params asks. --decoder continuous gives the older pocketsphinx_continuous
figure (live cepstral mean from a fixed start), which costs every voice a third
or more of its words on clips this short.

  apt-get install -y pocketsphinx pocketsphinx-en-us sox espeak-ng
  make build && go build -o /tmp/tts/normtext ./tools/tts/normtext
  /usr/bin/python3 tools/tts/wer.py --models models --model loom-tts [--voices alloy,nova]
  make wer-tts        # the same, held-out split, after building what it needs

Prints a line per sentence, then the table (per voice: WER of Loom's speech
and of its teacher's, side by side, and their ratio) and a JSON summary line;
--out DIR keeps the WAVs and transcripts; --side loom decodes only Loom's
speech (checkpoint sweeps), --side teacher only the teacher's. Needs about 1.5 s of CPU per sentence and voice; the
voices (--jobs) and each voice's two sides are decoded at once."""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import voices as teacher_voices  # noqa: E402


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


PAD_S = 0.3  # seconds of silence sox adds before and after every clip, for both sides


def to16k(wav, dst):
    """A 16 kHz mono 16-bit copy of wav with PAD_S of silence on each side: the
    recogniser's voice-activity detector and cepstral statistics need some
    non-speech at the edges, and clips from the two synthesisers start and end
    with different amounts of it. -R: repeatable dither — sox dithers with
    random noise seeded from the clock by default, which moved a 10-sentence
    WER by up to 0.05 between two runs on the same audio. The dither itself
    stays: without it the padding is digital silence and the recogniser reads
    the teacher far worse (alloy, 10 sentences: 0.40 against 0.18)."""
    subprocess.run(["sox", "-R", wav, "-r", "16000", "-c", "1", "-b", "16", dst, "pad", str(PAD_S), str(PAD_S)], check=True)


def recognise_batch(wavs, tmp):
    """pocketsphinx_batch over all clips at once. Batch decoding normalises each
    utterance by its own cepstral mean, as the en-us model's feat.params asks
    (-cmn batch); pocketsphinx_continuous has to start every clip from a fixed
    initial mean and adapt live, which on clips of a few seconds costs a third
    of the words for any voice."""
    ids = []
    for i, w in enumerate(wavs):
        ids.append(f"u{i:04d}")
        to16k(w, os.path.join(tmp, ids[-1] + ".wav"))
    ctl, hyp = os.path.join(tmp, "ctl.txt"), os.path.join(tmp, "hyp.txt")
    open(ctl, "w").write("\n".join(ids) + "\n")
    subprocess.run(["pocketsphinx_batch", "-adcin", "yes", "-adchdr", "44", "-cepdir", tmp, "-cepext", ".wav",
                    "-ctl", ctl, "-hyp", hyp, "-logfn", "/dev/null"], check=True, capture_output=True)
    got = {}
    for line in open(hyp):
        m = re.match(r"^(.*?)\s*\((u\d{4})(?:\s+-?\d+)?\)\s*$", line)
        if m:
            got[m.group(2)] = " ".join(m.group(1).split())
    for i in ids:
        os.remove(os.path.join(tmp, i + ".wav"))
    return [got.get(i, "") for i in ids]


def recognise_continuous(wavs, tmp):
    """pocketsphinx_continuous on each clip (live cepstral mean; the figure the
    model card reported before batch decoding)."""
    out = []
    for w in wavs:
        w16 = os.path.join(tmp, "rec16.wav")
        to16k(w, w16)
        r = subprocess.run(["pocketsphinx_continuous", "-infile", w16, "-logfn", "/dev/null"],
                           capture_output=True, text=True, check=True).stdout
        out.append(" ".join(r.split()))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sentences", default=os.path.join(HERE, "heldout_eval.txt"))
    ap.add_argument("--loom", default=os.path.join(ROOT, "bin", "loom"))
    ap.add_argument("--plugins", default=os.path.join(ROOT, "bin"))
    ap.add_argument("--models", default=os.path.join(ROOT, "models"))
    ap.add_argument("--model", default="loom-tts")
    ap.add_argument("--voices", default="", help="comma-separated voice names (default: every voice of the model)")
    ap.add_argument("--normtext", default="/tmp/tts/normtext")
    ap.add_argument("--out", default="", help="keep WAVs and transcripts here")
    ap.add_argument("--decoder", choices=["batch", "continuous"], default="batch")
    ap.add_argument("--side", choices=["both", "loom", "teacher"], default="both",
                    help="decode both sides, or only Loom's speech (checkpoint sweeps), or only the teacher's")
    ap.add_argument("--teacher-text", choices=["norm", "raw"], default="norm",
                    help="the teacher speaks Loom's front end's spoken form (as in training) or the raw sentence")
    ap.add_argument("--jobs", type=int, default=4, help="voices scored at once (each decodes its two sides at once)")
    ap.add_argument("--chunks", type=int, default=1, help="decoders per side and voice")
    a = ap.parse_args()
    sents = [l.strip() for l in open(a.sentences) if l.strip() and not l.startswith("#")]
    norm = subprocess.run([a.normtext], input="\n".join(sents) + "\n", capture_output=True, text=True, check=True).stdout
    spoken = [json.loads(l)["norm"] for l in norm.splitlines()]
    refs = [words(t) for t in spoken]
    idx = json.load(open(os.path.join(a.models, a.model, "speech.json")))
    voices = {v["name"]: v for v in idx["voices"]}
    names = a.voices.split(",") if a.voices else list(voices)
    out = a.out or tempfile.mkdtemp(prefix="loom-wer-")
    summary = {"sentences": len(sents), "decoder": a.decoder, "voices": {}}
    tot = {"ref": 0, "loom": 0, "espeak": 0}
    espeak_path = teacher_voices.espeak_data(os.path.join(out, "espeak"))
    recognise = recognise_batch if a.decoder == "batch" else recognise_continuous
    loom_side, teacher_side = a.side in ("both", "loom"), a.side in ("both", "teacher")

    def decode(wavs, side_dir):
        """recognise in --chunks pieces at once (batch decoding normalises each utterance on its own, so the
        hypotheses do not depend on how the clips are grouped)."""
        k = max(1, min(a.chunks, len(wavs)))
        parts = [wavs[i::k] for i in range(k)]
        dirs = [side_dir if k == 1 else os.path.join(side_dir, str(i)) for i in range(k)]
        for d in dirs:
            os.makedirs(d, exist_ok=True)
        with ThreadPoolExecutor(k) as pool:
            hyps = list(pool.map(recognise, parts, dirs))
        out = [""] * len(wavs)
        for i in range(k):
            out[i::k] = hyps[i]
        return out

    def score_voice(name):
        """Both sides of one voice: Loom's speech and its teacher's, decoded concurrently."""
        teacher = voices[name].get("teacher")
        if not teacher:
            sys.exit(f"voice {name} names no espeak-ng teacher in speech.json")
        vdir = os.path.join(out, name)
        os.makedirs(vdir, exist_ok=True)
        texts = os.path.join(vdir, "texts.txt")
        open(texts, "w").write("\n".join(sents) + "\n")
        hyp_loom = hyp_esp = [""] * len(sents)
        with ThreadPoolExecutor(2) as pool:
            if loom_side:
                subprocess.run([a.loom, "speak", "--plugins", a.plugins, "--models", a.models, "--model", a.model,
                                "--voice", name, "--texts-file", texts, "--out-dir", vdir], check=True,
                               stdout=subprocess.DEVNULL)
                f_loom = pool.submit(decode, [os.path.join(vdir, f"{i:03d}.wav") for i in range(len(sents))],
                                     os.path.join(vdir, "dec_loom"))
            if teacher_side:
                esps = []
                for i, s in enumerate(spoken if a.teacher_text == "norm" else sents):
                    esps.append(os.path.join(vdir, f"espeak_{i:03d}.wav"))
                    subprocess.run(["espeak-ng", "--path=" + espeak_path, "-v", teacher, "-w", esps[-1], s], check=True)
                hyp_esp = decode(esps, os.path.join(vdir, "dec_espeak"))
            if loom_side:
                hyp_loom = f_loom.result()
        e_loom = e_esp = n_ref = 0
        rows, lines = [], []
        for i, (ref, h_loom, h_esp) in enumerate(zip(refs, hyp_loom, hyp_esp)):
            d_loom, d_esp = edits(ref, words(h_loom)), edits(ref, words(h_esp))
            e_loom, e_esp, n_ref = e_loom + d_loom, e_esp + d_esp, n_ref + len(ref)
            rows.append({"ref": " ".join(ref), "loom": h_loom, "espeak": h_esp, "loom_edits": d_loom, "espeak_edits": d_esp})
            lines.append(f"{name} {i:03d} loom {d_loom}/{len(ref)} espeak {d_esp}/{len(ref)} | {h_loom}")
        json.dump(rows, open(os.path.join(vdir, "transcripts.json"), "w"), indent=1)
        v = {"teacher": teacher, "words": n_ref}
        if loom_side:
            v["wer_loom"] = round(e_loom / n_ref, 4)
        if teacher_side:
            v["wer_espeak"] = round(e_esp / n_ref, 4)
        if loom_side and teacher_side:
            v["ratio"] = round(v["wer_loom"] / max(v["wer_espeak"], 1e-9), 3)
        return v, (n_ref, e_loom, e_esp), lines

    with ThreadPoolExecutor(max(1, a.jobs)) as pool:
        for name, (v, (n_ref, e_loom, e_esp), lines) in zip(names, pool.map(score_voice, names)):
            print("\n".join(lines), flush=True)
            summary["voices"][name] = v
            tot["ref"] += n_ref
            tot["loom"] += e_loom
            tot["espeak"] += e_esp
    if loom_side:
        summary["wer_loom"] = round(tot["loom"] / tot["ref"], 4)
    if teacher_side:
        summary["wer_espeak"] = round(tot["espeak"] / tot["ref"], 4)
    if loom_side and teacher_side:
        summary["ratio"] = round(summary["wer_loom"] / max(summary["wer_espeak"], 1e-9), 3)
    summary["out"] = out
    sentences = os.path.abspath(a.sentences)
    print_table(summary, os.path.relpath(sentences, ROOT) if sentences.startswith(ROOT + os.sep) else sentences)
    print(json.dumps(summary))


def print_table(summary, sentences):
    """The per-voice table, Loom beside its teacher (markdown, as the model card has it)."""
    cols = [(k, t) for k, t in (("wer_loom", "WER Loom"), ("wer_espeak", "WER espeak-ng"), ("ratio", "ratio")) if k in summary]
    print(f"\n{summary['sentences']} sentences of {sentences}, pocketsphinx_{summary['decoder']}\n")
    print("| voice | teacher | " + " | ".join(t for _, t in cols) + " |")
    print("| --- | --- | " + " | ".join("---:" for _ in cols) + " |")
    rows = [(n, v["teacher"], v) for n, v in summary["voices"].items()] + [("**all**", "", summary)]
    for name, t, v in rows:
        print(f"| {name} | {t} | " + " | ".join(f"{v[k]:.{2 if k == 'ratio' else 3}f}" for k, _ in cols) + " |")
    print(flush=True)


if __name__ == "__main__":
    main()
