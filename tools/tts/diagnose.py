#!/usr/bin/python3
"""Where a speech model loses words: the first N held-out sentences
(wer_sentences.txt) for one speaker, each rendered several ways through the
PyTorch reference modules and scored with wer.py's decoder (pocketsphinx_batch,
16 kHz, 0.3 s padding):

  teacher        the espeak-ng teacher's audio
  gt_voc, gt_gl  the teacher's log-mel through the vocoder / Griffin-Lim
  pd_voc, pd_gl  the acoustic model's mel (its own durations)
  td_voc, td_gl  the acoustic model's mel with the teacher's durations
  tde_voc, tde_gl  ... with the teacher's durations and energies

  go build -o /tmp/tts/normtext ./tools/tts/normtext
  /usr/bin/python3 tools/tts/diagnose.py --acoustic models/loom-tts/acoustic --vocoder models/loom-tts/vocoder \\
      --speaker 0 --n 10 --out /tmp/tts/diag"""
import argparse
import json
import os
import subprocess
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import audio  # noqa: E402
import common  # noqa: E402
import make_data as MD  # noqa: E402
import model as M  # noqa: E402
import synth  # noqa: E402
import voices  # noqa: E402
import wer  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--acoustic", required=True)
    ap.add_argument("--vocoder", required=True)
    ap.add_argument("--speaker", type=int, default=0)
    ap.add_argument("--n", type=int, default=10)
    ap.add_argument("--normtext", default="/tmp/tts/normtext")
    ap.add_argument("--out", default="/tmp/tts/diag")
    a = ap.parse_args()
    torch.set_num_threads(1)
    os.makedirs(a.out, exist_ok=True)
    MD.ESPEAK_PATH = voices.espeak_data(os.path.join(a.out, "espeak")).encode()
    sents = [l.strip() for l in open(os.path.join(HERE, "wer_sentences.txt")) if l.strip()][:a.n]
    norm = subprocess.run([a.normtext], input="\n".join(sents) + "\n", capture_output=True, text=True, check=True).stdout
    recs = [json.loads(l) for l in norm.splitlines()]
    cfg = json.load(open(os.path.join(a.acoustic, "config.json")))
    net = common.load_export(M.FastSpeech2(cfg), a.acoustic).eval()
    voc = common.load_export(M.load_vocoder(json.load(open(os.path.join(a.vocoder, "config.json")))), a.vocoder).eval()
    e_mean, e_std = cfg["stats"]["energy"][2], cfg["stats"]["energy"][3]
    voice = cfg["speakers"][a.speaker]
    wavs = {}
    for i, r in enumerate(recs):
        u = MD.process((i, r["norm"], r["ids"], a.speaker, voice))
        if u is None:
            raise SystemExit(f"sentence {i}: the teacher's alignment failed")
        ids, lens, spk = torch.tensor([r["ids"]]), torch.tensor([len(r["ids"])]), torch.tensor([a.speaker])
        dur = torch.from_numpy(u["durations"].astype(np.int64))[None]
        energy = torch.from_numpy((u["energy"] - e_mean) / e_std).float()[None]
        mels = {"gt": torch.from_numpy(u["mel"].astype(np.float32)).T}
        with torch.no_grad():
            for tag, kw in [("pd", {}), ("td", {"d_target": dur}), ("tde", {"d_target": dur, "e_target": energy})]:
                mels[tag] = net(ids, lens, spk, **kw)[1][0].T
            renders = {"teacher": u["wav"].astype(np.float32) / 32767}
            for tag, mel in mels.items():
                renders[tag + "_voc"] = voc(mel[None])[0, 0].numpy()
                renders[tag + "_gl"] = synth.griffin_lim(mel)
        for tag, w in renders.items():
            path = os.path.join(a.out, f"{tag}_{i:03d}.wav")
            audio.write_wav(path, w)
            wavs.setdefault(tag, []).append(path)
    refs = [wer.words(r["norm"]) for r in recs]
    n_ref = sum(map(len, refs))
    out = {}
    for tag, paths in wavs.items():
        hyp = wer.recognise_batch(paths, a.out)
        out[tag] = round(sum(wer.edits(r, wer.words(h)) for r, h in zip(refs, hyp)) / n_ref, 3)
        print(f"{tag:8s} WER {out[tag]:.3f}", flush=True)
    print(json.dumps({"speaker": a.speaker, "voice": voice, "sentences": len(recs), "wer": out}))


if __name__ == "__main__":
    main()
