#!/usr/bin/python3
"""PyTorch peer for `loom bench speech`: the same speech folder (speech.json +
acoustic/ + vocoder/), the same four texts as cmd/loom/cmd_bench_speech.go,
sentence by sentence as the plugin speaks them (Loom's front end through
normtext, so both sides read the same symbols), FastSpeech 2 then the vocoder (Vocos or
HiFi-GAN) under torch.no_grad. Prints one JSON line with the real-time factor
(synthesis seconds per second of audio) and the time to the first
sentence's audio; cpu_rtf is process CPU seconds (all threads) per second of
audio, the figure to compare on a busy machine.

  OPENBLAS_NUM_THREADS=1 /usr/bin/python3 tools/tts/bench_torch.py --model models/loom-tts --threads 2"""
import argparse
import json
import os
import re
import subprocess
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(__file__))
import common  # noqa: E402
import model as M  # noqa: E402

TEXTS = [  # cmd/loom/cmd_bench_speech.go's benchSpeechTexts
    "The library opens at nine in the morning and closes at six. Please return your books on time.",
    "My brother bought a new bicycle last week, and he rides it to work every day.",
    "Could you tell me where the nearest train station is? I think I am lost.",
    "It rained all afternoon, so we stayed inside and played cards by the window.",
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="models/loom-tts")
    ap.add_argument("--voice", default="")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--normtext", default="/tmp/tts/normtext")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    idx = json.load(open(os.path.join(a.model, "speech.json")))
    voice = a.voice or idx.get("default_voice") or idx["voices"][0]["name"]
    speaker = next(v["speaker"] for v in idx["voices"] if v["name"] == voice)
    ad, vd = os.path.join(a.model, idx.get("acoustic", "acoustic")), os.path.join(a.model, idx.get("vocoder", "vocoder"))
    ac = common.load_export(M.FastSpeech2(json.load(open(os.path.join(ad, "config.json")))), ad).eval()
    h = json.load(open(os.path.join(vd, "config.json")))
    voc = common.load_export(M.load_vocoder(h), vd).eval()
    # The plugin splits the normalised text after . ? ! (plugins/audio/voice.go).
    norm = subprocess.run([a.normtext], input="\n".join(TEXTS) + "\n", capture_output=True, text=True, check=True).stdout
    sym = json.loads(subprocess.run([a.normtext, "-symbols"], capture_output=True, text=True, check=True).stdout)
    jobs = []
    for line in norm.splitlines():
        sents = [s.strip() for s in re.split(r"(?<=[.?!]) ", json.loads(line)["norm"]) if s.strip()]
        jobs.append([[sym.index(c) for c in s] for s in sents])

    def speak(sents):
        first, samples = None, 0
        t0 = time.perf_counter()
        for ids in sents:
            x = torch.tensor([ids])
            _, post, _, _, _, _, _ = ac(x, torch.tensor([len(ids)]), torch.tensor([speaker]))
            wav = voc(post[0].T[None])[0, 0]
            samples += wav.shape[0]
            if first is None:
                first = time.perf_counter() - t0
        return time.perf_counter() - t0, first, samples

    with torch.no_grad():
        speak(jobs[0])  # warm-up
        total = first = 0.0
        samples = n = 0
        cpu0 = time.process_time()
        for _ in range(a.rounds):
            for j in jobs:
                t, f, s = speak(j)
                total, first, samples, n = total + t, first + f, samples + s, n + 1
        cpu = time.process_time() - cpu0
    seconds = samples / h["sampling_rate"]
    print(json.dumps({"op": "speech", "impl": "pytorch", "torch": torch.__version__, "threads": a.threads, "voice": voice,
                      "jobs": n, "audio_seconds": round(seconds, 3), "real_time_factor": round(total / seconds, 4),
                      "cpu_rtf": round(cpu / seconds, 4),
                      "ms_first_audio": round(1000 * first / n, 3)}))


if __name__ == "__main__":
    main()
