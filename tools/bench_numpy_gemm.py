#!/usr/bin/python3
"""Peer benchmark for `loom bench gemm`: numpy float32 matmul (OpenBLAS).

Prints one JSON object per line in the same shape as `loom bench gemm --json`:
{"op":"gemm","m","n","k","trans","threads","impl","gflops","ns_per_op","cpu_ns_per_op","iters"}
(cpu_ns_per_op: process CPU time per call, all threads, for shared machines)
where impl names the BLAS and the OpenBLAS core type that actually ran.

Each thread count runs in a fresh child process, because OpenBLAS reads
OPENBLAS_NUM_THREADS only when it is loaded. The child's environment drops
OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE so OpenBLAS picks its kernels for this
CPU, as a user's numpy would.

  /usr/bin/python3 tools/bench_numpy_gemm.py --m 1024 --n 1024 --k 1024 --threads 1,2 [--trans]
"""
import argparse
import ctypes
import json
import os
import subprocess
import sys
import time


def blas_core():
    """Name the BLAS library numpy loaded and, for OpenBLAS, its core type."""
    try:
        import threadpoolctl  # noqa: F401  (optional; not in Debian's base)
        for info in threadpoolctl.threadpool_info():
            if info.get("user_api") == "blas":
                return "%s-%s" % (info.get("internal_api"), info.get("architecture"))
    except ImportError:
        pass
    with open("/proc/self/maps") as f:
        libs = sorted({ln.split()[-1] for ln in f if "blas" in ln.lower() and ".so" in ln})
    for path in libs:
        lib = ctypes.CDLL(path)
        if hasattr(lib, "openblas_get_corename"):
            lib.openblas_get_corename.restype = ctypes.c_char_p
            return "openblas-" + lib.openblas_get_corename().decode()
    return "blas:" + ",".join(os.path.basename(p) for p in libs) if libs else "unknown"


def child(args):
    import numpy as np

    rng = np.random.default_rng(1)
    a = rng.uniform(-1, 1, (args.m, args.k)).astype(np.float32)
    if args.trans:
        w = rng.uniform(-1, 1, (args.n, args.k)).astype(np.float32)
        b = w.T  # a view: numpy hands OpenBLAS a transposed operand, no copy
    else:
        b = rng.uniform(-1, 1, (args.k, args.n)).astype(np.float32)
    c = np.empty((args.m, args.n), dtype=np.float32)
    np.matmul(a, b, out=c)  # warm up
    best_ns, best_iters = None, 0
    for _ in range(args.repeat):
        iters, start, cpu0 = 0, time.perf_counter(), time.process_time()
        while True:
            np.matmul(a, b, out=c)
            iters += 1
            el = time.perf_counter() - start
            if el >= args.min_time:
                break
        ns = el * 1e9 / iters
        if best_ns is None or ns < best_ns:
            best_ns, best_iters = ns, iters
            best_cpu = (time.process_time() - cpu0) * 1e9 / iters
    print(json.dumps({
        "op": "gemm", "m": args.m, "n": args.n, "k": args.k, "trans": args.trans,
        "threads": args.child, "impl": "numpy-" + blas_core(),
        "gflops": round(2.0 * args.m * args.n * args.k / best_ns, 2),
        "ns_per_op": round(best_ns, 1), "cpu_ns_per_op": round(best_cpu, 1), "iters": best_iters,
    }), flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--m", type=int, default=1024)
    p.add_argument("--n", type=int, default=1024)
    p.add_argument("--k", type=int, default=1024)
    p.add_argument("--threads", default="1,2", help="comma-separated thread counts")
    p.add_argument("--trans", action="store_true", help="A·Wᵀ with W stored (n, k)")
    p.add_argument("--min-time", type=float, default=1.0, help="seconds per measurement")
    p.add_argument("--repeat", type=int, default=1, help="measurements; the best is printed")
    p.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = p.parse_args()
    if min(args.m, args.n, args.k) < 1 or args.repeat < 1:
        p.error("--m, --n, --k and --repeat must be >= 1")
    if args.child is not None:
        child(args)
        return
    for t in args.threads.split(","):
        env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
        env["OPENBLAS_NUM_THREADS"] = str(int(t))
        env["OMP_NUM_THREADS"] = str(int(t))
        cmd = [sys.executable, os.path.abspath(__file__), "--child", str(int(t)),
               "--m", str(args.m), "--n", str(args.n), "--k", str(args.k),
               "--min-time", str(args.min_time), "--repeat", str(args.repeat)]
        if args.trans:
            cmd.append("--trans")
        subprocess.run(cmd, env=env, check=True)


if __name__ == "__main__":
    main()
