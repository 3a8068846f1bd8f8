#!/usr/bin/python3
"""Makes the TTS training set from espeak-ng (Debian's, the teacher; used only
here, never at serve time): each corpus line is normalised by Loom's own front
end (tools/tts/normtext → core/textnorm, so training sees exactly what the
server will), spoken by one of several English espeak-ng voices (the speakers),
and aligned to its characters.

Alignment. espeak-ng is driven through its C library (libespeak-ng.so.1, via
ctypes) with phoneme events on: every phoneme event carries its exact sample
position and the word event before it the word's character span, so phoneme
boundaries are exact, not estimated. Phonemes are then assigned to characters
by one monotonic dynamic programme over the whole utterance that scores
character/phoneme pairs (b↔b, c↔k/s, th↔T/D, vowel letters ↔ vowel phonemes,
pauses ↔ punctuation or spaces, a bonus inside the espeak-ng word's span,
which is occasionally off by a word) and lets spaces and silent letters take
none; a character's duration is the sum of its phonemes'. Leading silence is
cut; the trailing pause goes to the final punctuation mark (the front end
always ends a text with one). Sample boundaries become frame boundaries by rounding the
cumulative positions, so durations always sum to the mel length. Zero-length
characters (spaces between words, silent letters) are legal: the length
regulator simply skips them.

Output: OUT/shard_NNN.pt (lists of dicts: id, speaker, norm, ids int16 (N),
durations int16 (N), mel float16 (T, 80), energy float32 (N, per character),
wav int16 (T·256)), OUT/meta.json (voices, symbols, energy stats, counts) and a
few OUT/sample_*.wav to listen to.

  go build -o /tmp/tts/normtext ./tools/tts/normtext
  /usr/bin/python3 tools/tts/make_data.py --corpus /tmp/tts/corpus.txt --out /tmp/tts/data \\
      --normtext /tmp/tts/normtext --workers 2"""
import argparse
import ctypes
import json
import multiprocessing as mp
import os
import subprocess
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(__file__))
import audio  # noqa: E402

from voices import VOICES, espeak_data  # noqa: E402

ESPEAK_PATH = None  # set by main before the workers fork: the data copy with Loom's variants

# ---- espeak-ng through its library ----


class _ID(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8)]


class _Event(ctypes.Structure):  # espeak_EVENT (speak_lib.h)
    _fields_ = [("type", ctypes.c_int), ("unique_identifier", ctypes.c_uint), ("text_position", ctypes.c_int),
                ("length", ctypes.c_int), ("audio_position", ctypes.c_int), ("sample", ctypes.c_int),
                ("user_data", ctypes.c_void_p), ("id", _ID)]


_CB = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event))
EV_WORD, EV_PHONEME = 1, 7
AUDIO_OUTPUT_SYNCHRONOUS, INIT_PHONEME_EVENTS, POS_CHARACTER, CHARS_UTF8 = 2, 1, 1, 1


class Espeak:
    def __init__(self):
        self.lib = ctypes.CDLL("libespeak-ng.so.1")
        sr = self.lib.espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 0, ESPEAK_PATH, INIT_PHONEME_EVENTS)
        if sr != audio.SR:
            raise RuntimeError(f"espeak-ng runs at {sr} Hz, want {audio.SR}")
        self.samples, self.events = [], []
        self._cb = _CB(self._callback)  # kept alive on self
        self.lib.espeak_SetSynthCallback(self._cb)
        self.voice = None

    def _callback(self, wav, n, ev):
        if n > 0:
            self.samples.append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
        i = 0
        while ev[i].type != 0:
            e = ev[i]
            if e.type in (EV_WORD, EV_PHONEME):
                self.events.append((e.type, e.text_position, e.length, e.sample,
                                    e.id.string.decode("ascii", "replace") if e.type == EV_PHONEME else ""))
            i += 1
        return 0

    def speak(self, text, voice):
        """→ samples float32, events [(type, text_pos 1-based, length, sample, phoneme)]."""
        if voice != self.voice:
            if self.lib.espeak_SetVoiceByName(voice.encode()) != 0:
                raise RuntimeError(f"espeak-ng has no voice {voice}")
            self.voice = voice
        self.samples, self.events = [], []
        b = text.encode()
        self.lib.espeak_Synth(b, len(b) + 1, 0, POS_CHARACTER, 0, CHARS_UTF8, None, None)
        self.lib.espeak_Synchronize()
        wav = np.concatenate(self.samples).astype(np.float32) / 32768.0 if self.samples else np.zeros(0, np.float32)
        return wav, self.events


# ---- character/phoneme alignment ----

VOWEL_PH = set("aeiouAEIOUV03@")
LETTER_PH = {"a": "a A e E @ V O 0 3", "b": "b", "c": "k s S tS", "d": "d t dZ", "e": "e E i I @ 3", "f": "f",
             "g": "g dZ Z", "h": "h", "i": "i I aI @ 3", "j": "dZ j", "k": "k", "l": "l", "m": "m", "n": "n N",
             "o": "o O 0 u U V @ 3 aU", "p": "p f", "q": "k", "r": "r 3 @", "s": "s z S Z", "t": "t T D S tS",
             "u": "u U V j @ 3", "v": "v", "w": "w u U", "x": "k s z", "y": "j i I aI", "z": "z s", "'": ""}
LETTER_PH = {k: set(v.split()) for k, v in LETTER_PH.items()}
PUNCT = ",.?!"


def pair_score(ch, ph):
    """How well character ch explains espeak-ng phoneme ph (Kirshenbaum-style
    mnemonics: T/D = th, S = sh, @ = schwa, 3 = r-coloured vowel, ...)."""
    pause = ph.startswith("_")
    if ch in PUNCT:
        return 4.0 if pause else -6.0
    if ch == " ":
        return 1.0 if pause else -6.0
    if pause:
        return -5.0
    base = ph.rstrip(":2;#")
    cands = LETTER_PH.get(ch, ())
    if base in cands or ph[:1] in cands or ph[:1] == ch:
        return 3.0
    if (ch in "aeiouy") == (ph[:1] in VOWEL_PH):
        return 1.0
    return -2.0


def align(text, phonemes, word_of, skip=0.4, word_bonus=1.5):
    """Assigns every phoneme to one character, monotonically (dynamic
    programming over (phoneme, character)); characters may take none (spaces,
    silent letters), skipping a letter costs `skip`. word_of[j] is the
    (start, end) character span of the espeak-ng word event phoneme j came
    with, a soft prior (+word_bonus inside it): espeak-ng's positions are
    occasionally off by a word, so they guide rather than decide.
    Returns the character index of each phoneme."""
    n, m = len(text), len(phonemes)
    S = np.array([[pair_score(c, p) for p in phonemes] for c in text])  # (n, m)
    for j, (a, b) in enumerate(word_of):
        if a is not None:
            S[a:b, j] += word_bonus
    pen = np.array([skip if c not in PUNCT + " " else 0.0 for c in text])
    C = np.concatenate([[0.0], np.cumsum(pen)])  # C[i] = cost of skipping chars 0..i-1
    dp = np.empty((m, n))
    dp[0] = S[:, 0] - C[:n]
    for j in range(1, m):
        A = dp[j - 1] + C[1:]  # leave char i2, skip the chars up to i
        pm = np.concatenate([[-1e18], np.maximum.accumulate(A)[:-1]])
        dp[j] = S[:, j] + np.maximum(dp[j - 1], pm - C[:n])
    i = int(np.argmax(dp[m - 1] - (C[n] - C[1:])))
    out = [0] * m
    for j in range(m - 1, 0, -1):
        out[j] = i
        stay = dp[j - 1, i]
        if i > 0:
            A = dp[j - 1, :i] + C[1:i + 1]
            k = int(np.argmax(A))
            if A[k] - C[i] > stay:
                i = k
    out[0] = i
    return out


def char_durations(text, events, total):
    """Per-character durations in samples and the [start, end) sample span
    they cover, from espeak-ng's word and phoneme events."""
    phon, span = [], (None, None)  # phon: (name, start sample, word span)
    for typ, pos, length, sample, ph in events:
        if typ == EV_WORD:
            if length > 0:  # zero-length word events mark sentence ends
                span = (pos - 1, min(pos - 1 + length, len(text)))
        else:
            phon.append((ph, sample, span))
    first = next((k for k, p in enumerate(phon) if not p[0].startswith("_")), None)
    if first is None:
        return None
    phon = phon[first:]  # leading silence is cut
    starts = [p[1] for p in phon] + [total]
    if any(b < a for a, b in zip(starts, starts[1:])):
        return None
    assign = align(text, [p[0] for p in phon], [p[2] for p in phon])
    dur = np.zeros(len(text), dtype=np.float64)
    for k, c in enumerate(assign):
        dur[c] += starts[k + 1] - starts[k]
    return dur, starts[0], total


def process(job):
    """One utterance: (index, norm, ids, speaker index, voice) → dict or None."""
    global _ESPEAK
    idx, norm, ids, spk, voice = job
    if "_ESPEAK" not in globals():
        _ESPEAK = Espeak()
    wav, events = _ESPEAK.speak(norm, voice)
    r = char_durations(norm, events, len(wav))
    if r is None:
        return None
    dur, start, end = r
    hop = audio.HOP
    # Cumulative sample boundaries → frame boundaries (rounded), so the
    # durations sum to the frame count exactly.
    bounds = np.concatenate([[0.0], np.cumsum(dur)])
    if abs(bounds[-1] - (end - start)) > 1:
        return None
    fb = np.round(bounds / hop).astype(np.int64)
    frames = int(fb[-1])
    if frames < 4 or frames > 1200:
        return None
    seg = wav[start:start + frames * hop]
    if len(seg) < frames * hop:
        seg = np.pad(seg, (0, frames * hop - len(seg)))
    y = torch.from_numpy(seg)[None]
    mel = audio.log_mel(y)[0].T  # (T, 80)
    en = audio.frame_energy(y)[0]  # (T)
    d = np.diff(fb)
    cs = np.concatenate([[0], np.cumsum(d)])
    e_char = np.array([float(en[cs[i]:cs[i + 1]].mean()) if d[i] > 0 else 0.0 for i in range(len(d))], np.float32)
    return {"id": idx, "speaker": spk, "norm": norm, "ids": np.asarray(ids, np.int16), "durations": d.astype(np.int16),
            "mel": mel.numpy().astype(np.float16), "energy": e_char,
            "wav": (np.clip(seg, -1, 1) * 32767).astype(np.int16)}


def normalise(lines, normtext):
    out = subprocess.run([normtext], input="\n".join(lines) + "\n", capture_output=True, text=True, check=True).stdout
    return [json.loads(l) for l in out.splitlines()]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--normtext", default="/tmp/tts/normtext", help="binary built from ./tools/tts/normtext")
    ap.add_argument("--voices", default=",".join(VOICES), help="espeak-ng voices; speaker i = voice i")
    ap.add_argument("--limit", type=int, default=0, help="use only the first N lines (smoke tests)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--shard", type=int, default=500)
    ap.add_argument("--minutes", type=float, default=60, help="stop making data after this long")
    a = ap.parse_args()
    t0 = time.time()
    voices = a.voices.split(",")
    global ESPEAK_PATH
    ESPEAK_PATH = espeak_data(os.path.join(a.out, "espeak")).encode()
    lines = [l.strip() for l in open(a.corpus) if l.strip()]
    if a.limit:
        lines = lines[:a.limit]
    recs = [r for r in normalise(lines, a.normtext) if len(r["ids"]) >= 2]
    jobs = [(i, r["norm"], r["ids"], i % len(voices), voices[i % len(voices)]) for i, r in enumerate(recs)]
    os.makedirs(a.out, exist_ok=True)
    kept, dropped, shard, n_shard = 0, 0, [], 0
    e_all = []
    frames = 0

    def flush():
        nonlocal shard, n_shard
        if shard:
            torch.save(shard, os.path.join(a.out, f"shard_{n_shard:03d}.pt"))
            n_shard += 1
            shard = []

    with mp.Pool(a.workers) as pool:
        for u in pool.imap(process, jobs, chunksize=4):
            if u is None:
                dropped += 1
                continue
            if kept < 4:
                audio.write_wav(os.path.join(a.out, f"sample_{kept}.wav"), u["wav"].astype(np.float32) / 32767)
            kept += 1
            frames += int(u["durations"].astype(np.int64).sum())
            e_all.append(u["energy"][u["durations"] > 0])
            shard.append(u)
            if len(shard) >= a.shard:
                flush()
            if time.time() - t0 > a.minutes * 60:
                print("time budget reached", file=sys.stderr)
                pool.terminate()
                break
    flush()
    e = np.concatenate(e_all) if e_all else np.zeros(1)
    symbols = json.loads(subprocess.run([a.normtext, "-symbols"], capture_output=True, text=True, check=True).stdout)
    meta = {"voices": voices, "symbols": symbols, "n_vocab": len(symbols), "utterances": kept, "dropped": dropped, "frames": frames,
            "hours": frames * audio.HOP / audio.SR / 3600, "shards": n_shard,
            "energy": [float(e.min()), float(e.max()), float(e.mean()), float(e.std())],
            "audio": {"sr": audio.SR, "n_fft": audio.N_FFT, "hop": audio.HOP, "win": audio.WIN, "n_mels": audio.N_MELS,
                      "fmin": audio.FMIN, "fmax": audio.FMAX}}
    json.dump(meta, open(os.path.join(a.out, "meta.json"), "w"), indent=1)
    print(json.dumps(meta), f"{time.time() - t0:.0f}s")


if __name__ == "__main__":
    main()
