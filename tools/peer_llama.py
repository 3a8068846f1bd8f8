#!/usr/bin/python3
"""Peer benchmark for `loom bench generate`: llama.cpp's llama-bench on the same
GGUF files, in interleaved rounds (Loom, llama.cpp, Loom, …), same threads.

For each model and thread count it runs --rounds rounds of
  loom bench generate --model M --prompt-tokens 128 --gen-tokens 64 --threads T --json
  llama-bench -m M -mmp 0 -t T -p 128 -n 0 -r 1 -o jsonl          (prefill)
  llama-bench -m M -mmp 0 -t T -p 0 -n 64 -d 128 -r 1 -o jsonl    (decode after 128 positions)
and prints, per (model, threads), the median prefill and decode tokens/s of
each side and their ratio Loom ÷ llama.cpp (> 1: Loom faster), then one JSON
line per round with the raw figures. Peak RSS of both (Loom's own report; for
llama-bench, each process's own maximum resident set from wait4, the larger of
its prefill and decode runs) is printed beside the model's file size.

Both decode 64 tokens after 128 cached positions (llama-bench's -d fills
the cache untimed), so both attend over the same context.

The machine must be quiet (uptime's 1-minute load average < 1.5); the script
says so and stops otherwise, unless --force.

--cpu-time compares CPU time instead (one thread only, runs at any load):
Loom's prefill_cpu_ms and decode_cpu_ms_per_tok, and llama-bench's process
CPU time by difference, so that loading, warm-up and the untimed depth fill
cancel out:
  prefill = (CPU of -p 128 -n 0 -r 5  −  CPU of -p 128 -n 0 -r 1) / 4 runs
  decode  = (CPU of -p 0 -n 144 -d 128  −  CPU of -p 0 -n 16 -d 128) / 128 tokens
On a busy machine both sides lose caches and memory bandwidth to the
neighbours: indicative ratios, not the issue's quiet wall-time figures.

  go build -o bin/loom ./cmd/loom
  /usr/bin/python3 tools/peer_llama.py --loom bin/loom \
      --llama-bench /work/llama.cpp/build/bin/llama-bench \
      --models /tmp/llama134m-f32.gguf,/tmp/llama134m-q8_0.gguf,/tmp/llama134m-q4_0.gguf,\
/tmp/llama134m-q4_K_M.gguf,/tmp/moe166m-q4_K_M.gguf --threads 1,2 --rounds 3

The models come from tools/mkllama and llama.cpp's llama-quantize (see
docs/BENCHMARKS.md, "Text generation against llama.cpp").
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys


def load1():
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


def run_loom(loom, model, threads, prompt, gen):
    out = subprocess.run([loom, "bench", "generate", "--model", model, "--prompt-tokens", str(prompt),
                          "--gen-tokens", str(gen), "--threads", str(threads), "--json"],
                         check=True, capture_output=True, text=True).stdout
    r = json.loads(out)
    return {"prefill": r["prefill_tok_s"], "decode": r["decode_tok_s"], "rss_mib": r.get("peak_rss_mib"),
            "file_mib": r.get("model_file_mib")}


def run_peak(cmd):
    """Runs cmd; returns its stdout and its own peak RSS in MiB (wait4's rusage for that child alone)."""
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    out = p.stdout.read()
    p.stdout.close()
    _, status, ru = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        raise subprocess.CalledProcessError(p.returncode, cmd)
    return out, ru.ru_maxrss / 1024  # Linux reports KiB


def run_llama(bench, model, threads, prompt, gen):
    res = {"rss_mib": 0.0}
    for key, args in (("prefill", ["-p", str(prompt), "-n", "0"]), ("decode", ["-p", "0", "-n", str(gen), "-d", str(prompt)])):
        out, rss = run_peak([bench, "-m", model, "-mmp", "0", "-t", str(threads), "-r", "1", "-o", "jsonl"] + args)
        res["rss_mib"] = max(res["rss_mib"], rss)
        for line in out.splitlines():
            if line.strip().startswith("{"):
                res[key] = json.loads(line)["avg_ts"]
    return res


def llama_cpu_s(bench, model, args):
    """CPU seconds (user + system) of one one-thread llama-bench run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([bench, "-m", model, "-mmp", "0", "-t", "1", "-o", "jsonl"] + args,
                   check=True, capture_output=True, text=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime


def run_cpu(a, model, prompt, gen):
    """One round of tok/s of CPU time at one thread, Loom and llama.cpp."""
    out = subprocess.run([a.loom, "bench", "generate", "--model", model, "--prompt-tokens", str(prompt),
                          "--gen-tokens", str(gen), "--threads", "1", "--json"],
                         check=True, capture_output=True, text=True).stdout
    r = json.loads(out)
    loom = {"prefill": prompt / (r["prefill_cpu_ms"] / 1000), "decode": 1000 / r["decode_cpu_ms_per_tok"],
            "rss_mib": r.get("peak_rss_mib"), "file_mib": r.get("model_file_mib")}
    p = ["-p", str(prompt), "-n", "0"]
    pre = (llama_cpu_s(a.llama_bench, model, p + ["-r", "5"]) - llama_cpu_s(a.llama_bench, model, p + ["-r", "1"])) / 4
    d = ["-p", "0", "-d", str(prompt), "-r", "1"]
    dec = (llama_cpu_s(a.llama_bench, model, d + ["-n", "144"]) - llama_cpu_s(a.llama_bench, model, d + ["-n", "16"])) / 128
    return loom, {"prefill": prompt / pre, "decode": 1 / dec}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--loom", default="bin/loom")
    ap.add_argument("--llama-bench", default="/work/llama.cpp/build/bin/llama-bench")
    ap.add_argument("--models", required=True, help="comma-separated GGUF files")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--prompt-tokens", type=int, default=128)
    ap.add_argument("--gen-tokens", type=int, default=64)
    ap.add_argument("--force", action="store_true", help="run even when the machine is busy")
    ap.add_argument("--cpu-time", action="store_true", help="compare CPU time at one thread, at any load (see above)")
    a = ap.parse_args()
    if a.cpu_time:
        a.threads = "1"
    elif load1() >= 1.5 and not a.force:
        sys.exit(f"load average {load1():.2f} ≥ 1.5: peer figures would measure the neighbours (--force to run anyway)")
    rows = []
    for model in a.models.split(","):
        for t in (int(x) for x in a.threads.split(",")):
            loom, llama = [], []
            for i in range(a.rounds):
                if a.cpu_time:
                    lo, ll = run_cpu(a, model, a.prompt_tokens, a.gen_tokens)
                else:
                    lo = run_loom(a.loom, model, t, a.prompt_tokens, a.gen_tokens)
                    ll = run_llama(a.llama_bench, model, t, a.prompt_tokens, a.gen_tokens)
                loom.append(lo)
                llama.append(ll)
                print(json.dumps({"model": os.path.basename(model), "threads": t, "round": i, "load1": load1(),
                                  "loom": loom[-1], "llama": llama[-1]}), flush=True)
            med = lambda xs, k: statistics.median(x[k] for x in xs)
            rows.append((os.path.basename(model), t, med(loom, "prefill"), med(llama, "prefill"),
                         med(loom, "decode"), med(llama, "decode"), max(x["rss_mib"] or 0 for x in loom),
                         max(x.get("rss_mib", 0) for x in llama), loom[0]["file_mib"] or 0))
    print()
    if a.cpu_time:
        print("tok/s of CPU time, one thread:")
    print("| model | threads | prefill tok/s Loom / llama.cpp | ratio | decode tok/s Loom / llama.cpp | ratio | "
          "peak RSS MiB Loom / llama.cpp / file |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for m, t, lp, cp, ld, cd, rss, lrss, fm in rows:
        print(f"| {m} | {t} | {lp:.1f} / {cp:.1f} | {lp / cp:.2f} | {ld:.1f} / {cd:.1f} | {ld / cd:.2f} | "
              f"{rss:.0f} / {lrss:.0f} / {fm:.0f} |")


if __name__ == "__main__":
    main()
