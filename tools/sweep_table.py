#!/usr/bin/env python3
"""Reads the metrics files (JSON lines, `mupc train --metrics`) of the sweeps
in tools/depth_sweep.sh and tools/lr_transfer.sh and writes their tables and
plot data. Standard library only.

  sweep_table.py device < devices.json
      "platform / device" of the one device in `mupc devices --json` output
      (the default one when several are listed).
  sweep_table.py count DIR
      the number of training samples in DIR/train-labels-idx1-ubyte[.gz].
  sweep_table.py sp-best RUNS H "LRS" "ALRS" "SEEDS"
      the best standard-PC grid point at H hidden layers, by final test
      accuracy (mean over SEEDS; ties: lower test loss, then grid order):
      prints "LR ALR", or "none" when every point diverged or is missing.
  sweep_table.py algos RUNS "ALGOS" "DEPTHS"
      the algorithms the depth table shows: those of ALGOS and those with
      metrics in RUNS at any of DEPTHS, in table order (mupc jpc sp bp).
  sweep_table.py depth RUNS CURVES "ALGOS" "DEPTHS" "SEEDS" "LRS" "ALRS" "SELECT_SEEDS"
      the markdown table of the depth sweep on stdout (ALGOS: of mupc jpc sp
      bp, together with those `algos` adds); the mean test accuracy curves as
      CURVES/H{h}_{algo}.dat (step, mean, std, runs).
  sweep_table.py transfer RUNS HEAT "WIDTHS" "DEPTHS" "LRS" "ALRS" SEED LAST
      the markdown summary of the lr-transfer grid on stdout; per panel
      HEAT/N{n}_H{h}.dat (alr index, lr index, loss, label) and
      HEAT/N{n}_H{h}.div (the diverged cells), HEAT/range (min max).

  sweep_table.py curves RUNS CURVES "PARAMS" "WIDTHS" WDEPTH "DEPTHS" DWIDTH "LRS" "ALRS" LR ALR "SEEDS" LAST
      the markdown summary of tools/lr_curves.sh on stdout; per curve
      CURVES/{param}_{lr|alr}_{width|depth}_{value}.dat (lr, mean, std) of
      the points where every seed converged.

Run names (RUNS/NAME.jsonl, RUNS/NAME.rc holds mupc's exit status):
  depth:    mupc_H{h}_s{seed}, jpc_H{h}_s{seed} (tools/jpc_train.py), bp_H{h}_s{seed},
            sp_H{h}_lr{lr}_alr{alr}_s{seed}
  transfer: N{n}_H{h}_lr{lr}_alr{alr}_s{seed}
  curves:   {param}_N{n}_H{h}_lr{lr}_alr{alr}_s{seed}
"""
import gzip
import json
import math
import os
import re
import statistics
import struct
import sys


class Run:
    """One run: its finished state, final test accuracy and loss, the test
    accuracy curve and the training losses."""

    def __init__(self, runs, name):
        self.name = name
        self.done = False
        self.diverged = False
        self.acc = None
        self.test_loss = None
        self.seconds = None
        self.curve = {}  # step -> test accuracy
        self.train_loss = []  # per step, None where not finite
        path = os.path.join(runs, name + ".jsonl")
        self.exists = os.path.exists(path)
        if self.exists:
            with open(path) as f:
                for line in f:
                    line = line.strip()
                    if not line:
                        continue
                    try:
                        d = json.loads(line)
                    except ValueError:
                        break  # a line cut short by a killed run
                    if d.get("final"):
                        self.done = True
                        self.acc = d.get("test_acc")
                        self.test_loss = d.get("test_loss")
                        self.seconds = d.get("seconds")
                        if self.acc is not None:
                            self.curve[d["step"]] = self.acc
                        continue
                    if "train_loss" in d:
                        self.train_loss.append(d["train_loss"])
                    if d.get("seconds") is not None:
                        self.seconds = d["seconds"]
                    if d.get("test_acc") is not None:
                        self.curve[d["step"]] = d["test_acc"]
        rc = None
        try:
            with open(os.path.join(runs, name + ".rc")) as f:
                rc = int(f.read().strip() or "-1")
        except (OSError, ValueError):
            pass
        # mupc (and jpc_train.py) exit 3 on a NaN or infinite loss, energy or
        # final test loss.
        if rc == 3 and not self.done:
            self.diverged = True
            self.exists = True


def words(s):
    return s.split()


def mean_std(xs):
    m = statistics.fmean(xs)
    sd = statistics.stdev(xs) if len(xs) > 1 else 0.0
    return m, sd


def cmd_device():
    devs = json.load(sys.stdin)
    if len(devs) > 1:
        devs = [d for d in devs if d.get("default")] or devs[:1]
    d = devs[0]
    print("%s / %s (%s, OpenCL %s)" % (d["platform"], d["device"], d["index"], d["driver_version"]))


def cmd_count(directory):
    for name, opener in (("train-labels-idx1-ubyte", open), ("train-labels-idx1-ubyte.gz", gzip.open)):
        p = os.path.join(directory, name)
        if os.path.exists(p):
            with opener(p, "rb") as f:
                magic, n = struct.unpack(">II", f.read(8))
            if magic != 0x801:
                sys.exit("sweep_table.py: %s is not an IDX label file" % p)
            print(n)
            return
    sys.exit("sweep_table.py: no train-labels-idx1-ubyte[.gz] in %s" % directory)


def sp_name(h, lr, alr, seed):
    return "sp_H%s_lr%s_alr%s_s%s" % (h, lr, alr, seed)


def sp_rank(runs, h, lrs, alrs, seeds):
    """Grid points at depth h, best first: (key, lr, alr, mean acc, runs),
    only points whose runs all finished (a diverged run counts as 0)."""
    ranked = []
    order = 0
    for lr in lrs:
        for alr in alrs:
            rs = [Run(runs, sp_name(h, lr, alr, s)) for s in seeds]
            order += 1
            if not all(r.done or r.diverged for r in rs):
                continue
            accs = [r.acc if r.done and r.acc is not None else 0.0 for r in rs]
            losses = [r.test_loss if r.done and r.test_loss is not None else math.inf for r in rs]
            if all(r.diverged for r in rs):
                continue
            key = (-statistics.fmean(accs), statistics.fmean(losses), order)
            ranked.append((key, lr, alr, statistics.fmean(accs), rs))
    ranked.sort(key=lambda t: t[0])
    return ranked


def cmd_sp_best(runs, h, lrs, alrs, seeds):
    ranked = sp_rank(runs, h, words(lrs), words(alrs), words(seeds))
    print("%s %s" % (ranked[0][1], ranked[0][2]) if ranked else "none")


def cell(rs, nseeds):
    """'77.3 ± 0.4' over the finished runs, with what is missing."""
    done = [r for r in rs if r.done and r.acc is not None]
    div = sum(1 for r in rs if r.diverged)
    missing = nseeds - len(done) - div
    if not done:
        if div:
            return "diverged" + ("" if div == nseeds else " (%d/%d)" % (div, nseeds))
        return "—"
    m, sd = mean_std([100.0 * r.acc for r in done])
    s = "%.1f ± %.1f" % (m, sd) if len(done) > 1 else "%.1f" % m
    notes = []
    if div:
        notes.append("%d diverged" % div)
    if missing:
        notes.append("%d missing" % missing)
    if notes:
        s += " (" + ", ".join(notes) + ")"
    return s


def write_curve(path, rs):
    steps = sorted({s for r in rs if r.done for s in r.curve})
    with open(path, "w") as f:
        f.write("# step mean_test_acc_percent std runs\n")
        for s in steps:
            xs = [100.0 * r.curve[s] for r in rs if r.done and s in r.curve]
            if not xs:
                continue
            m, sd = mean_std(xs)
            f.write("%d %.4f %.4f %d\n" % (s, m, sd, len(xs)))
    return len(steps)


def mean_acc(rs):
    xs = [100.0 * r.acc for r in rs if r.done and r.acc is not None]
    return statistics.fmean(xs) if xs else None


ALGO_ORDER = ("mupc", "jpc", "sp", "bp")
ALGO_RUN = re.compile(r"^(mupc|jpc|bp|sp)_H(\d+)_.*\.(jsonl|rc)$")


def shown_algos(runs, algos, depths):
    """ALGOS and the algorithms with runs at DEPTHS, in table order."""
    have = set(words(algos))
    if os.path.isdir(runs):
        for f in os.listdir(runs):
            m = ALGO_RUN.match(f)
            if m and m.group(2) in depths:
                have.add(m.group(1))
    return [a for a in ALGO_ORDER if a in have]


def cmd_algos(runs, algos, depths):
    print(" ".join(shown_algos(runs, algos, words(depths))))


def cmd_depth(runs, curves, algos, depths, seeds, lrs, alrs, select_seeds):
    depths, seeds = words(depths), words(seeds)
    algos = shown_algos(runs, algos, depths)
    lrs, alrs, select_seeds = words(lrs), words(alrs), words(select_seeds)
    os.makedirs(curves, exist_ok=True)
    head = ["hidden layers H"]
    head += [t for a, t in (("mupc", "μPC"), ("jpc", "jpc (μPC)"), ("sp", "standard PC (best grid point)"),
                            ("bp", "BP")) if a in algos]
    if "mupc" in algos and "jpc" in algos:
        head.append("μPC − jpc (points)")
    if "mupc" in algos and "bp" in algos:
        head.append("μPC − BP (points)")
    if "sp" in algos:
        head.append("SP point (lr, activity lr)")
    out = ["| " + " | ".join(head) + " |", "|---:" * (len(head) - ("sp" in algos)) + "|---" * ("sp" in algos) + "|"]
    grid_rows = []
    for h in depths:
        mu = [Run(runs, "mupc_H%s_s%s" % (h, s)) for s in seeds]
        jp = [Run(runs, "jpc_H%s_s%s" % (h, s)) for s in seeds]
        bp = [Run(runs, "bp_H%s_s%s" % (h, s)) for s in seeds]
        ranked = sp_rank(runs, h, lrs, alrs, select_seeds)
        if ranked:
            lr, alr = ranked[0][1], ranked[0][2]
            sp = [Run(runs, sp_name(h, lr, alr, s)) for s in seeds]
            sp_cell, point = cell(sp, len(seeds)), "%s, %s" % (lr, alr)
        else:
            grid = [Run(runs, sp_name(h, lr, alr, s)) for lr in lrs for alr in alrs for s in select_seeds]
            sp = []
            if grid and all(r.diverged for r in grid):
                sp_cell, point = "diverged", "every grid point diverged"
            else:
                sp_cell, point = "—", "grid not finished"
        row = [h]
        for algo, rs, c in (("mupc", mu, cell(mu, len(seeds))), ("jpc", jp, cell(jp, len(seeds))),
                            ("sp", sp, sp_cell), ("bp", bp, cell(bp, len(seeds)))):
            if algo in algos:
                write_curve(os.path.join(curves, "H%s_%s.dat" % (h, algo)), rs)
                row.append(c)
        if "mupc" in algos and "jpc" in algos:
            m, j = mean_acc(mu), mean_acc(jp)
            row.append("%+.1f" % (m - j) if m is not None and j is not None else "—")
        if "mupc" in algos and "bp" in algos:
            m, b = mean_acc(mu), mean_acc(bp)
            row.append("%+.1f" % (m - b) if m is not None and b is not None else "—")
        if "sp" in algos:
            row.append(point)
        out.append("| " + " | ".join(row) + " |")
        # the whole grid, as measured on the selection seeds
        grid_rows.append((h, [cell([Run(runs, sp_name(h, lr, alr, s)) for s in select_seeds], len(select_seeds))
                              for lr in lrs for alr in alrs]))
    seen = set()
    total, nruns = 0.0, 0
    per_algo = {}
    for f in sorted(os.listdir(runs)):
        m = ALGO_RUN.match(f)
        if not m or m.group(2) not in depths or f.rsplit(".", 1)[0] in seen:
            continue
        seen.add(f.rsplit(".", 1)[0])
        r = Run(runs, f.rsplit(".", 1)[0])
        if r.seconds is not None:
            total += r.seconds
            nruns += 1
            n_s = per_algo.setdefault(m.group(1), [0, 0.0])
            n_s[0] += 1
            n_s[1] += r.seconds
    out.append("")
    names = {"mupc": "μPC", "jpc": "jpc", "sp": "standard PC", "bp": "BP"}
    split = ""
    if len(per_algo) > 1:
        split = ": " + ", ".join("%s %d in %.0f s" % (names[a], per_algo[a][0], per_algo[a][1])
                                 for a in ALGO_ORDER if a in per_algo)
    out.append("The %d runs took %.0f s together (their own times, each from its start to "
               "its last line)%s." % (nruns, total, split))
    if "sp" in algos:
        out.append("")
        out.append("Standard PC grid: final test accuracy (%%) at every point, seed%s %s "
                   "(the best point is taken for the table above):" %
                   ("s" if len(select_seeds) > 1 else "", ", ".join(select_seeds)))
        out.append("")
        out.append("| H | " + " | ".join("lr %s, act %s" % (lr, alr) for lr in lrs for alr in alrs) + " |")
        out.append("|---:|" + "---:|" * (len(lrs) * len(alrs)))
        for h, row in grid_rows:
            out.append("| %s | %s |" % (h, " | ".join(row)))
    print("\n".join(out))


def final_loss(run, last):
    """(mean of the last `last` training losses, diverged?)"""
    if run.diverged:
        return None, True
    xs = run.train_loss[-last:]
    if not run.done or not xs:
        return None, False
    if any(x is None or not math.isfinite(x) for x in xs):
        return None, True
    m = statistics.fmean(xs)
    first = run.train_loss[0]
    return m, first is None or m > first


def cmd_transfer(runs, heat, widths, depths, lrs, alrs, seed, last):
    widths, depths, lrs, alrs = words(widths), words(depths), words(lrs), words(alrs)
    last = int(last)
    os.makedirs(heat, exist_ok=True)
    panels = []
    lo, hi = math.inf, -math.inf
    for n in widths:
        for h in depths:
            grid = {}
            for i, lr in enumerate(lrs):
                for j, alr in enumerate(alrs):
                    r = Run(runs, "N%s_H%s_lr%s_alr%s_s%s" % (n, h, lr, alr, seed))
                    loss, div = final_loss(r, last)
                    grid[(i, j)] = (loss, div)
                    if loss is not None and not div:
                        lo, hi = min(lo, loss), max(hi, loss)
            panels.append((n, h, grid))
    best = {}
    for n, h, grid in panels:
        ok = [(v[0], i, j) for (i, j), v in grid.items() if v[0] is not None and not v[1]]
        best[(n, h)] = min(ok) if ok else None
        with open(os.path.join(heat, "N%s_H%s.dat" % (n, h)), "w") as f, \
                open(os.path.join(heat, "N%s_H%s.div" % (n, h)), "w") as fd:
            f.write("# alr_index lr_index loss label best\n")
            fd.write("# alr_index lr_index\n")
            for (i, j), (loss, div) in sorted(grid.items()):
                if div:
                    fd.write("%d %d\n" % (j, i))
                elif loss is not None:
                    b = 1 if best[(n, h)] and (best[(n, h)][1], best[(n, h)][2]) == (i, j) else 0
                    f.write("%d %d %.6g %.3f %d\n" % (j, i, loss, loss, b))
            # gnuplot needs at least one point per file
            f.write("-10 -10 nan 0 0\n")
            fd.write("-10 -10\n")
    with open(os.path.join(heat, "range"), "w") as f:
        if lo == math.inf:
            lo, hi = 0.01, 1.0
        if hi <= lo:
            hi = lo * 1.01
        f.write("%.6g %.6g\n" % (lo, hi))

    out = []
    out.append("Final training loss = mean `train_loss` of the last %d steps; "
               "diverged = stopped on NaN/inf, or a final loss above the step-1 loss. "
               "Seed %s." % (last, seed))
    out.append("")
    out.append("| width N | hidden layers H | best lr | best activity lr | its final loss | diverged runs | finished runs |")
    out.append("|---:|---:|---:|---:|---:|---:|---:|")
    for n, h, grid in panels:
        ndiv = sum(1 for v in grid.values() if v[1])
        nok = sum(1 for v in grid.values() if v[0] is not None or v[1])
        b = best[(n, h)]
        if b:
            out.append("| %s | %s | %s | %s | %.4f | %d | %d/%d |" %
                       (n, h, lrs[b[1]], alrs[b[2]], b[0], ndiv, nok, len(grid)))
        else:
            out.append("| %s | %s | — | — | — | %d | %d/%d |" % (n, h, ndiv, nok, len(grid)))
    out.append("")
    # transfer: how good each panel's loss is at the first panel's optimum
    ref = panels[0]
    rb = best[(ref[0], ref[1])]
    if rb:
        rlr, ralr = lrs[rb[1]], alrs[rb[2]]
        same = all(best[(n, h)] and best[(n, h)][1:] == rb[1:] for n, h, _ in panels)
        out.append("Optimum of the smallest panel (N %s, H %s): lr %s, activity lr %s. "
                   "The same point is %s." % (ref[0], ref[1], rlr, ralr,
                                                "best in every panel" if same else "not best in every panel"))
        out.append("")
        out.append("| width N | hidden layers H | loss at (lr %s, act %s) | panel best | ratio |" % (rlr, ralr))
        out.append("|---:|---:|---:|---:|---:|")
        for n, h, grid in panels:
            loss, div = grid[(rb[1], rb[2])]
            b = best[(n, h)]
            if div:
                at = "diverged"
            elif loss is None:
                at = "—"
            else:
                at = "%.4f" % loss
            pb = "%.4f" % b[0] if b else "—"
            ratio = "%.2f" % (loss / b[0]) if (b and loss is not None and not div and b[0] > 0) else "—"
            out.append("| %s | %s | %s | %s | %s |" % (n, h, at, pb, ratio))
    else:
        out.append("No run of the smallest panel finished without diverging: no optimum to transfer.")
    out.append("")
    out.append("Every grid point (final loss; ✗ diverged, — missing):")
    for n, h, grid in panels:
        out.append("")
        out.append("N %s, H %s:" % (n, h))
        out.append("")
        out.append("| lr \\ activity lr | " + " | ".join(alrs) + " |")
        out.append("|---:|" + "---:|" * len(alrs))
        for i, lr in enumerate(lrs):
            cells = []
            for j in range(len(alrs)):
                loss, div = grid[(i, j)]
                cells.append("✗" if div else ("—" if loss is None else "%.4f" % loss))
            out.append("| %s | %s |" % (lr, " | ".join(cells)))
    print("\n".join(out))


def curve_point(runs, name, seeds, last):
    """(mean, std, state) of one lr point over seeds: state "ok" when every
    seed finished and converged, "diverged" when any diverged, else
    "missing"."""
    losses = []
    for seed in seeds:
        loss, div = final_loss(Run(runs, "%s_s%s" % (name, seed)), last)
        if div:
            return None, None, "diverged"
        if loss is None:
            return None, None, "missing"
        losses.append(loss)
    m, sd = mean_std(losses)
    return m, sd, "ok"


def cmd_curves(runs, curves, params, widths, wdepth, depths, dwidth, lrs, alrs, lr, alr, seeds,
               last):
    params, widths, depths = words(params), words(widths), words(depths)
    lrs, alrs, seeds, last = words(lrs), words(alrs), words(seeds), int(last)
    os.makedirs(curves, exist_ok=True)
    names = {"mupc": "μPC", "sp": "SP (no skips)"}
    out = []
    for param in params:
        for what, grid in (("lr", lrs), ("alr", alrs)):
            for across, values in (("width", widths), ("depth", depths)):
                key = "N" if across == "width" else "H"
                fixed = ("H = %s" % wdepth) if across == "width" else ("N = %s" % dwidth)
                swept = "weight lr (activity lr %s)" % alr if what == "lr" else \
                    "activity lr (weight lr %s)" % lr
                out.append("## %s: %s across %ss, %s" % (names[param], swept, across, fixed))
                out.append("")
                out.append("| %s | best | inside the grid | loss at best | %s |" %
                           (key, " | ".join(grid)))
                out.append("|---|---|---|---|%s" % ("---|" * len(grid)))
                best_index = {}
                for v in values:
                    n, h = (v, wdepth) if across == "width" else (dwidth, v)
                    cells, best = [], None
                    path = os.path.join(curves, "%s_%s_%s_%s.dat" % (param, what, across, v))
                    with open(path, "w") as f:
                        f.write("# %s  mean  std (over seeds %s)\n" % (what, " ".join(seeds)))
                        for i, x in enumerate(grid):
                            a, b = (x, alr) if what == "lr" else (lr, x)
                            m, sd, state = curve_point(
                                runs, "%s_N%s_H%s_lr%s_alr%s" % (param, n, h, a, b), seeds, last)
                            if state == "ok":
                                f.write("%s %.6g %.6g\n" % (x, m, sd))
                                cells.append("%.4g ± %.2g" % (m, sd))
                                if best is None or m < best[1]:
                                    best = (i, m)
                            else:
                                cells.append("x" if state == "diverged" else "–")
                    if best is None:
                        out.append("| %s | none | | | %s |" % (v, " | ".join(cells)))
                        continue
                    best_index[v] = best[0]
                    inside = "yes" if 0 < best[0] < len(grid) - 1 else "no (edge)"
                    out.append("| %s | %s | %s | %.4g | %s |" %
                               (v, grid[best[0]], inside, best[1], " | ".join(cells)))
                out.append("")
                if values[0] in best_index and values[-1] in best_index:
                    moved = best_index[values[-1]] - best_index[values[0]]
                    ratio = int(values[-1]) / int(values[0])
                    out.append("Optimum moves %d grid point(s) (factor 2 each) from %s = %s to "
                               "%s = %s (%gx %s)." % (moved, key, values[0], key, values[-1],
                                                      ratio, across))
                else:
                    out.append("Optimum: not found at both ends of the %s range." % across)
                out.append("")
    out.append("x: diverged on some seed; –: not run yet. Means ± std over seeds %s."
               % " ".join(seeds))
    print("\n".join(out))


def main():
    a = sys.argv[1:]
    cmds = {
        "device": (0, cmd_device),
        "count": (1, cmd_count),
        "sp-best": (5, cmd_sp_best),
        "algos": (3, cmd_algos),
        "depth": (8, cmd_depth),
        "transfer": (8, cmd_transfer),
        "curves": (13, cmd_curves),
    }
    if not a or a[0] not in cmds or len(a) - 1 != cmds[a[0]][0]:
        sys.exit(__doc__.strip())
    cmds[a[0]][1](*a[1:])


if __name__ == "__main__":
    main()
