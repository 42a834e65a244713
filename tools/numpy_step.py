#!/usr/bin/env python3
"""The μPC training step of DESIGN §3 in plain NumPy float32: the comparison
baseline for `mupc bench` (issue: the jpc example's median step time must be
at most this script's, same machine, same session).

    tools/numpy_step.py [--depth 30] [--width 128] [--batch 64] [--infer-steps 30]
                        [--steps 10] [--warmup 2] [--json]

Layer by layer, as a straightforward implementation would write it: no
wavefront, no batching across layers. ReLU, μPC scalings, skips, MSE, GD on
activities (lr 0.5), Adam on weights (lr 0.1)."""
import argparse
import json
import os
import statistics
import time

import numpy as np


def blas_info():
    """Which BLAS NumPy's matmul runs, and its kernel: Debian's python3-numpy
    takes whatever libblas.so.3 points to (the reference BLAS unless an
    optimised one such as libopenblas0 is installed), and OpenBLAS reads
    OPENBLAS_CORETYPE and OPENBLAS_NUM_THREADS when it loads."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return 'unknown (no threadpoolctl)'
    pools = [p for p in threadpool_info() if p.get('user_api') == 'blas']
    if not pools:
        return 'no BLAS thread pool found (the reference BLAS?)'
    p = pools[0]
    desc = (f"{p.get('internal_api')} {p.get('version')}, {p.get('architecture')} kernels, "
            f"{p.get('num_threads')} threads")
    forced = [f'{k}={os.environ[k]}' for k in ('OPENBLAS_CORETYPE', 'OPENBLAS_L2_SIZE')
              if k in os.environ]
    return desc + (f" ({', '.join(forced)})" if forced else '')


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--depth', type=int, default=30)
    ap.add_argument('--width', type=int, default=128)
    ap.add_argument('--batch', type=int, default=64)
    ap.add_argument('--infer-steps', type=int, default=30)
    ap.add_argument('--input-dim', type=int, default=784)
    ap.add_argument('--classes', type=int, default=10)
    ap.add_argument('--steps', type=int, default=10)
    ap.add_argument('--warmup', type=int, default=2)
    ap.add_argument('--json', action='store_true')
    a = ap.parse_args()

    L, N, B, D, C, T = a.depth, a.width, a.batch, a.input_dim, a.classes, a.infer_steps
    f32 = np.float32
    rng = np.random.default_rng(0)
    shapes = [(N, D)] + [(N, N)] * (L - 2) + [(C, N)]
    W = [rng.standard_normal(s).astype(f32) for s in shapes]
    scale = [f32(1 / np.sqrt(D))] + [f32(1 / np.sqrt(N * L))] * (L - 2) + [f32(1 / N)]
    skip = [f32(0)] + [f32(1)] * (L - 2) + [f32(0)]
    m = [np.zeros_like(w) for w in W]
    v = [np.zeros_like(w) for w in W]
    x = rng.uniform(-1, 1, (B, D)).astype(f32)
    y = np.eye(C, dtype=f32)[np.arange(B) % C]
    relu = lambda u: np.maximum(u, f32(0))
    drelu = lambda u: (u > 0).astype(f32)
    eta, lr, b1, b2, eps = f32(0.5), f32(0.1), f32(0.9), f32(0.999), f32(1e-8)

    def f(l, zin):  # DESIGN's f_{l+1} for 0-based l
        if l == 0:
            return scale[0] * (zin @ W[0].T)
        out = scale[l] * (relu(zin) @ W[l].T)
        return out + skip[l] * zin if l < L - 1 else out  # no skip into the readout

    def errors(z):
        e = [z[0] - f(0, x)]
        for l in range(1, L - 1):
            e.append(z[l] - f(l, z[l - 1]))
        e.append(y - f(L - 1, z[L - 2]))
        return e

    def step(t):
        z = []
        h = x
        for l in range(L - 1):
            h = f(l, h)
            z.append(h)
        for _ in range(T):
            e = errors(z)
            for l in range(L - 1):
                g = e[l] - drelu(z[l]) * (scale[l + 1] * (e[l + 1] @ W[l + 1]))
                if l + 1 < L - 1:  # the readout has no skip
                    g = g - skip[l + 1] * e[l + 1]
                z[l] = z[l] - eta * g / f32(B)
        e = errors(z)
        ins = [x] + [relu(zl) for zl in z]
        for l in range(L):
            g = -(scale[l] / f32(B)) * (e[l].T @ ins[l])
            m[l] = b1 * m[l] + (1 - b1) * g
            v[l] = b2 * v[l] + (1 - b2) * g * g
            mh = m[l] / f32(1 - b1 ** t)
            vh = v[l] / f32(1 - b2 ** t)
            W[l] -= lr * mh / (np.sqrt(vh) + eps)

    for t in range(1, a.warmup + 1):
        step(t)
    times = []
    for t in range(a.warmup + 1, a.warmup + a.steps + 1):
        t0 = time.perf_counter()
        step(t)
        times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    if a.json:
        print(json.dumps({'seconds_per_step_median': med, 'seconds_per_step_min': min(times),
                          'seconds_per_step_max': max(times), 'numpy': np.__version__,
                          'blas': blas_info()}))
    else:
        print(f'numpy {np.__version__} ({blas_info()}): median {med:.4f} s per step '
              f'(min {min(times):.4f}, max {max(times):.4f}, {a.steps} steps)')


if __name__ == '__main__':
    main()
