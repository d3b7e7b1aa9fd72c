#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""report.py RESULTS.tsv NOTES.md OUT.md: docs/performance.md from the
RESULT lines the benchmarks printed (tests/bench/lib/bench.sh, bn_result):
  ID BENCH CONTENDER UNIT MEDIAN MIN MAX RATIO RMIN RMAX TARGET MET
NOTES.md (the run's facts: machine, date, durations) goes under the title."""
import sys


def num(s):
    try:
        v = float(s)
    except ValueError:
        return s
    if v >= 100:
        return "%.0f" % v
    if v >= 10:
        return "%.1f" % v
    if v >= 1:
        return "%.2f" % v
    return "%.3g" % v


def speedup(ratio):
    try:
        r = float(ratio)
    except ValueError:
        return ""
    if r <= 0:
        return ""
    return " (%.0f× faster)" % (1 / r) if r < 0.5 else ""


def main(argv):
    rows, seen = [], set()
    with open(argv[1]) as f:
        for line in f:
            p = line.rstrip("\n").split("\t")
            if len(p) != 13 or p[0] != "RESULT":
                continue
            # An anchor shared by several comparisons is printed once per
            # comparison: keep the first.
            if (p[1], p[3]) in seen and p[8] == "-":
                continue
            seen.add((p[1], p[3]))
            rows.append(p[1:])
    with open(argv[2]) as f:
        notes = f.read()

    out = []
    w = out.append
    w("# Performance\n")
    w("Written by `tests/bench/run.sh` (`./dev bench`); do not edit by hand.\n")
    w(notes.rstrip() + "\n")
    w("## Results\n")
    w("Contenders ran alternately, round after round, in one process tree inside")
    w("private network namespaces. *median (min–max)* over the rounds; **ratio** is")
    w("the median of the per-round ratios ptap / anchor (the row above it in the same")
    w("benchmark): below 1 ptap is faster. For ops/s rows the ratio is throughput")
    w("(higher is better). Machines here are noisy: the ratios are the result.\n")
    w("| Benchmark | Contender | Median (min–max) | Ratio (min–max) | Target | Met |")
    w("|---|---|---|---|---|---|")
    missed = []
    last_id = None
    for (rid, bench, cont, unit, med, mn, mx, ratio, rmin, rmax, target, met) in rows:
        name = bench if rid != last_id else ""
        last_id = rid
        if med == "-":
            medtxt = "—"
        elif unit == "-":
            medtxt = med
        elif mn == "-":
            medtxt = "%s %s" % (num(med), unit)
        else:
            medtxt = "%s %s (%s–%s)" % (num(med), unit, num(mn), num(mx))
        if ratio == "-":
            rtxt = ""
        elif rmin == "-":
            rtxt = "%s%s" % (num(ratio), speedup(ratio))
        else:
            rtxt = "**%s**%s (%s–%s)" % (num(ratio), speedup(ratio), num(rmin), num(rmax))
        ttxt = "" if target == "-" else target.replace("<=", "≤").replace(">=", "≥")
        mtxt = {"yes": "✅ yes", "no": "❌ **no**", "-": ""}.get(met, met)
        if met in ("no", "not run"):
            missed.append((bench, cont, ratio, target, met, medtxt))
        w("| %s | %s | %s | %s | %s | %s |" % (name, cont, medtxt, rtxt, ttxt, mtxt))
    w("")
    if missed:
        w("## Targets missed in this run\n")
        for (bench, cont, ratio, target, met, medv) in missed:
            if met == "not run":
                w("- **%s**: not run (%s)." % (bench, cont))
            elif ratio == "-":
                w("- **%s** — %s: %s, target %s." % (bench, cont, medv, target))
            else:
                w("- **%s** — %s: ratio %s, target %s." % (bench, cont, num(ratio), target))
        w("")
    with open(argv[3], "w") as f:
        f.write("\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
