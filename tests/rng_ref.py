#!/usr/bin/env python3
"""The seeded generator of mupc, written in Python from the mapping that
include/mupc.h documents ("seeded random numbers"), and checks on the initial
weights of saved checkpoints.

  rng_ref.py golden
      values the C tests compare with (tests/test_rng.c)
  rng_ref.py check FILE.safetensors [FILE ...]
      for each file (a checkpoint of a run that has not moved its weights,
      e.g. --optim sgd --lr 0): its layers 0, 1, 2, L/2 and L-1 equal the
      documented mapping bit for bit; every layer's mean and standard
      deviation within 5 standard errors of N(0, 1) (U(±1/sqrt(fan_in)) for
      sp); no two layers, of one file or of two, correlated above 0.2 at any
      shift -64 ... 64. Prints the figures; exits 1 if a check fails.
"""
import json
import math
import struct
import sys

M0, M1 = 0xD2511F53, 0xCD9E8D57
W0, W1 = 0x9E3779B9, 0xBB67AE85
MASK = 0xFFFFFFFF
DOMAIN_WEIGHTS, DOMAIN_SHUFFLE = 0, 1


def philox4x32_10(ctr, key):
    c0, c1, c2, c3 = ctr
    k0, k1 = key
    for r in range(10):
        if r:
            k0, k1 = (k0 + W0) & MASK, (k1 + W1) & MASK
        p0, p1 = M0 * c0, M1 * c2
        c0, c1, c2, c3 = ((p1 >> 32) ^ c1 ^ k0, p1 & MASK, (p0 >> 32) ^ c3 ^ k1, p0 & MASK)
    return c0, c1, c2, c3


def block(seed, domain, stream, j):
    key = (seed & MASK, seed >> 32)
    ctr = (j & MASK, stream & MASK, stream >> 32, domain + 256 * (j >> 32))
    return philox4x32_10(ctr, key)


def uniform(x):
    return ((x >> 8) + 0.5) * 2.0 ** -24


def f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


def weights(seed, param, layer, n, fan_in):
    """The first n weights of a layer, as Python floats holding float32s."""
    w = []
    for j in range((n + 3) // 4):
        x = block(seed, DOMAIN_WEIGHTS, layer, j)
        left = min(4, n - 4 * j)
        if param == "sp":
            w += [f32((2 * uniform(x[k]) - 1) * (1 / math.sqrt(fan_in))) for k in range(left)]
            continue
        for k in range(0, left, 2):
            r = math.sqrt(-2 * math.log(uniform(x[k])))
            t = 2 * math.pi * uniform(x[k + 1])
            w.append(f32(r * math.cos(t)))
            if k + 1 < left:
                w.append(f32(r * math.sin(t)))
    return w


def shuffle(n, seed, epoch):
    state = {"k": 0, "x": None}

    def draw():
        k = state["k"]
        state["k"] += 1
        if k % 2 == 0:
            state["x"] = block(seed, DOMAIN_SHUFFLE, epoch, k // 2)
        w = 2 * (k % 2)
        return state["x"][w] | state["x"][w + 1] << 32

    def bounded(m):
        threshold = (2 ** 64 - m) % m
        while True:
            x = draw()
            if x >= threshold:
                return x % m

    perm = list(range(n))
    for i in range(n - 1, 0, -1):
        j = bounded(i + 1)
        perm[i], perm[j] = perm[j], perm[i]
    return perm


def golden():
    print("normal, seed 7, layer 1 (5x5), first 5:", [float.hex(v) for v in weights(7, "mupc", 1, 5, 5)])
    print("normal, seed 7, layer 0 (5x3), element 14:", float.hex(weights(7, "mupc", 0, 15, 3)[14]))
    print("sp, seed 7, layer 2 (2x5), first 3:", [float.hex(v) for v in weights(7, "sp", 2, 3, 5)])
    for n, seed, epoch in ((10, 42, 0), (10, 0, 5), (16, 2 ** 64 - 1, 2 ** 64 - 2), (1000, 1234, 7)):
        print("shuffle", n, seed, epoch, shuffle(n, seed, epoch)[:16])


def read_st(path):
    import numpy as np

    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    meta = header.pop("__metadata__", {})
    body = raw[8 + n:]
    layers = {}
    for name, t in header.items():
        if name.startswith("layers.") and name.endswith(".weight"):
            lo, hi = t["data_offsets"]
            layers[int(name.split(".")[1])] = np.frombuffer(body[lo:hi], "<f4").reshape(t["shape"])
    return meta, [layers[i] for i in range(len(layers))]


def max_xcorr_all(mats, other=None):
    """Largest |correlation| at shifts -64 ... 64 over every pair of the
    flattened matrices (within mats, or between mats and other), computed
    by FFT over the overlap of each pair."""
    import numpy as np

    a_list = [m.ravel().astype(np.float64) for m in mats]
    b_list = a_list if other is None else [m.ravel().astype(np.float64) for m in other]
    worst, where = 0.0, None
    by_size = {}
    for i, a in enumerate(a_list):
        for j, b in enumerate(b_list):
            if other is None and j <= i:
                continue
            n = min(a.size, b.size)
            by_size.setdefault(n, []).append((i, j))
    for n, pairs in by_size.items():
        size = 1 << (2 * n - 1).bit_length()
        fa = {i: np.fft.rfft(a_list[i][:n], size) for i, _ in pairs}
        fb = {j: np.fft.rfft(b_list[j][:n], size) for _, j in pairs}
        for i, j in pairs:
            c = np.fft.irfft(np.conj(fa[i]) * fb[j], size)
            near = np.concatenate([c[:65], c[-64:]])
            norm = math.sqrt(float(a_list[i][:n] @ a_list[i][:n]) * float(b_list[j][:n] @ b_list[j][:n]))
            v = float(np.max(np.abs(near))) / norm
            if v > worst:
                worst, where = v, (i, j)
    return worst, where


def check(paths):
    import numpy as np

    failed = 0
    nets = []
    for path in paths:
        meta, mats = read_st(path)
        seed, param = int(meta.get("seed", "0")), meta.get("param", "mupc")
        rng = meta.get("rng", "splitmix64")
        L = len(mats)
        exact = "skipped (rng %s)" % rng
        if rng == "philox4x32-10":
            bad = []
            for l in sorted({0, 1, 2, L // 2, L - 1}):
                out, fan_in = mats[l].shape
                want = np.array(weights(seed, param, l, out * fan_in, fan_in), dtype=np.float32)
                if not np.array_equal(want, mats[l].ravel()):
                    bad.append(l)
            exact = "bit-exact" if not bad else "DIFFER at layers %s" % bad
            failed += bool(bad)
        worst_z = 0.0
        for l, m in enumerate(mats):
            x = m.ravel().astype(np.float64)
            var = 1.0 / (3.0 * m.shape[1]) if param == "sp" else 1.0
            se_mean = math.sqrt(var / x.size)
            m2 = float(np.mean(x * x))
            se_m2 = math.sqrt(max(float(np.mean(x ** 4)) - m2 * m2, 1e-30) / x.size)
            z = max(abs(float(x.mean())) / se_mean, abs(m2 - var) / se_m2)
            worst_z = max(worst_z, z)
        corr, where = max_xcorr_all(mats)
        ok = worst_z <= 5 and corr < 0.2
        failed += not ok
        print("%s: seed %d, %s, %d layers, weights vs mupc.h mapping: %s; worst moment z %.2f; "
              "largest |corr| between layers %.4f (layers %s)" % (path, seed, param, L, exact, worst_z, corr, where))
        nets.append((path, mats))
    for a in range(len(nets)):
        for b in range(a + 1, len(nets)):
            corr, where = max_xcorr_all(nets[a][1], nets[b][1])
            failed += corr >= 0.2
            print("%s vs %s: largest |corr| %.4f (layers %s)" % (nets[a][0], nets[b][0], corr, where))
    print("rng_ref check: %s" % ("FAILED" if failed else "all passed"))
    return 1 if failed else 0


def main():
    if len(sys.argv) >= 2 and sys.argv[1] == "golden":
        golden()
        return 0
    if len(sys.argv) >= 3 and sys.argv[1] == "check":
        return check(sys.argv[2:])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
