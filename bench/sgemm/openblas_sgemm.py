# OpenBLAS side of GoCoOp's sgemm comparison (bench/sgemm, package main).
#
# numpy's float32 matmul calls OpenBLAS sgemm. The Go driver starts one
# process per thread count with OPENBLAS_NUM_THREADS and OPENBLAS_CORETYPE
# set, then sends one request per line on stdin:
#
#     m k n seconds [T]  -> prints "GFLOP/s" (best batch within the time budget);
#                           with T, B is stored n×k and the product is a @ b.T
#     quit               -> exits
#
# The first line printed is "ready <numpy version> <openblas config>".
import ctypes
import sys
import time

import numpy as np


def openblas_config():
    """Return openblas_get_config() of the loaded OpenBLAS, if any."""
    try:
        with open("/proc/self/maps") as maps:
            libs = {l.split()[-1] for l in maps if "openblas" in l.lower() and "/" in l}
        for path in sorted(libs):
            lib = ctypes.CDLL(path)
            for name in ("openblas_get_config", "openblas_get_config64_"):
                fn = getattr(lib, name, None)
                if fn is not None:
                    fn.restype = ctypes.c_char_p
                    core = ""
                    cn = getattr(lib, "openblas_get_corename", None)
                    if cn is not None:
                        cn.restype = ctypes.c_char_p
                        core = " core=" + cn().decode()
                    return fn().decode().replace(" ", "_") + core.replace(" ", "_")
    except OSError:
        pass
    return "unknown"


def time_matmul(a, b, c, budget, trans_b):
    if trans_b:
        b = b.T  # a view: numpy passes the transposition to sgemm
    np.matmul(a, b, out=c)  # warm up (thread start, page faults)
    t = time.perf_counter()
    np.matmul(a, b, out=c)
    one = time.perf_counter() - t
    reps = max(1, int(0.05 / max(one, 1e-9)))
    best = float("inf")
    deadline = time.perf_counter() + budget
    while True:
        t = time.perf_counter()
        for _ in range(reps):
            np.matmul(a, b, out=c)
        best = min(best, (time.perf_counter() - t) / reps)
        if time.perf_counter() > deadline:
            return best


def main():
    rng = np.random.default_rng(1)
    key, arrays = None, None
    print("ready", np.__version__, openblas_config(), flush=True)
    for line in sys.stdin:
        f = line.split()
        if not f:
            continue
        if f[0] == "quit":
            return
        m, k, n = int(f[0]), int(f[1]), int(f[2])
        trans_b = len(f) > 4 and f[4] == "T"
        if key != (m, k, n, trans_b):
            key = (m, k, n, trans_b)
            a = rng.standard_normal((m, k), dtype=np.float32)
            b = rng.standard_normal((n, k) if trans_b else (k, n), dtype=np.float32)
            arrays = (a, b, np.empty((m, n), dtype=np.float32))
        best = time_matmul(*arrays, float(f[3]), trans_b)
        print(f"{2 * m * k * n / best / 1e9:.2f}", flush=True)


if __name__ == "__main__":
    main()
