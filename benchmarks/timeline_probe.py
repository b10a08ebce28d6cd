"""Where a batch of SpMV calls spends its GPU time: every kernel on the device
(ours through MLX, torch.sparse's cuSPARSE) recorded by torch.profiler's CUPTI
trace, at the clocks the suite runs at (Nsight Compute fixes them lower):

    python -m benchmarks.timeline_probe [--out trace.json]

Prints per library and case: kernels per call, kernel time per call, the
batch's span per call (first kernel start to last kernel end, divided by the
calls) and its wall time per call (host start of the batch to the end of its
synchronisation), so wall - span is what the framework costs around the
kernels.
"""
import argparse
import json
from collections import defaultdict

import numpy as np
import mlx.core as mx

import mlx_scipy_sparse as sp
from benchmarks.run import laplace2d, power_law, uniform

CALLS = 10


def main():
    import torch
    from torch.profiler import ProfilerActivity, profile
    ap = argparse.ArgumentParser()
    ap.add_argument("--out")
    args = ap.parse_args()
    mx.set_default_device(mx.gpu)
    rng = np.random.default_rng(0)
    cases = {"uniform": uniform(1_000_000, 16, rng), "powerlaw": power_law(1_000_000, 16, rng),
             "laplace": laplace2d(1000)}
    runs = []
    for name, A in cases.items():
        A = A.astype(np.float32)
        As = sp.csr_array(A)
        xn = rng.standard_normal(A.shape[1]).astype(np.float32)
        x = mx.array(xn)
        At = torch.sparse_csr_tensor(torch.from_numpy(A.indptr.astype(np.int64)).cuda(),
                                     torch.from_numpy(A.indices.astype(np.int64)).cuda(),
                                     torch.from_numpy(A.data).cuda(), size=A.shape)
        xt = torch.from_numpy(xn).cuda()
        for _ in range(3):                              # plans, compiles, allocator
            mx.eval([As @ x for _ in range(CALLS)])
            [At @ xt for _ in range(CALLS)]
        mx.synchronize()
        torch.cuda.synchronize()
        runs.append((name, As, x, At, xt))
    marks = []
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        for name, As, x, At, xt in runs:
            for lib in ("ours", "torch"):
                for rep in range(3):
                    with torch.profiler.record_function(f"{name}|{lib}|{rep}"):
                        if lib == "ours":
                            mx.eval([As @ x for _ in range(CALLS)])
                            mx.synchronize()
                        else:
                            [At @ xt for _ in range(CALLS)]
                            torch.cuda.synchronize()
                    marks.append(f"{name}|{lib}|{rep}")
    path = args.out or "/tmp/timeline.json"
    prof.export_chrome_trace(path)
    summarise(path, marks)


def summarise(path, marks):
    with open(path) as f:
        ev = json.load(f)["traceEvents"]
    spans = {e["name"]: (e["ts"], e["ts"] + e["dur"]) for e in ev     # the host-side marks
             if e.get("ph") == "X" and e.get("cat") == "user_annotation" and e["name"] in marks}
    kernels = [e for e in ev if e.get("ph") == "X" and e.get("cat") in ("kernel", "gpu_memset",
                                                                         "gpu_memcpy")]
    rows = defaultdict(list)
    for m in marks:
        t0, t1 = spans[m]
        ks = sorted((k for k in kernels if t0 <= k["ts"] <= t1), key=lambda k: k["ts"])
        if not ks:
            continue
        busy = sum(k["dur"] for k in ks)
        span = ks[-1]["ts"] + ks[-1]["dur"] - ks[0]["ts"]
        names = sorted({k["name"][:60] for k in ks})
        case, lib, _ = m.split("|")
        rows[(case, lib)].append((len(ks) / CALLS, busy / CALLS, span / CALLS,
                                  (t1 - t0) / CALLS, names))
    print(f"{'case':10} {'lib':6} {'kern/call':>9} {'busy us':>8} {'span us':>8} {'wall us':>8}"
          "  kernels")
    for (case, lib), r in rows.items():
        kc, busy, span, wall = (np.median([x[i] for x in r]) for i in range(4))
        print(f"{case:10} {lib:6} {kc:9.1f} {busy:8.1f} {span:8.1f} {wall:8.1f}  "
              f"{'; '.join(r[0][4])}")


if __name__ == "__main__":
    main()
