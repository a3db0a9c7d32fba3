#!/usr/bin/env python3
"""Draw the CSV written by `scripts/bench.sh --csv FILE` as a PNG bar chart.

Usage: scripts/plot.py results.csv [-o results.png]

One panel per metric (rps, server CPU us/request, p99 latency), one bar group per
(test, pipeline, size) cell, one bar per server (scaling runs included when present), using the
round=median rows. Cells a server could not run (n/a) get no bar.
"""
import argparse
import csv
import sys

try:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError:
    sys.exit("plot.py needs matplotlib: pip install matplotlib")

METRICS = [
    ("rps", "requests/s (higher is better)"),
    ("cpu_us_per_req", "server CPU us/request (lower is better)"),
    ("p99_ms", "p99 latency ms (lower is better)"),
]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("csv")
    ap.add_argument("-o", "--output", help="PNG file (default: the CSV name with .png)")
    args = ap.parse_args()
    out = args.output or args.csv.rsplit(".", 1)[0] + ".png"

    with open(args.csv, newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["round"] == "median"]
    if not rows:
        sys.exit(f"{args.csv}: no median rows")

    cells, servers, value = [], [], {}
    for r in rows:
        cell = f"{r['test']}\nP{r['pipeline']} {r['size']}B"
        if cell not in cells:
            cells.append(cell)
        if r["server"] not in servers:
            servers.append(r["server"])
        if r["status"] == "ok":
            for m, _ in METRICS:
                if r[m]:
                    value[(r["server"], cell, m)] = float(r[m])

    width = 0.8 / len(servers)
    fig_w = max(6, 1.2 * len(cells) * len(servers) ** 0.5 + 2)
    fig, axes = plt.subplots(len(METRICS), 1, figsize=(fig_w, 3.2 * len(METRICS)), squeeze=False)
    for ax, (m, title) in zip(axes[:, 0], METRICS):
        for s_i, server in enumerate(servers):
            xs, ys = [], []
            for c_i, cell in enumerate(cells):
                x = c_i + (s_i - (len(servers) - 1) / 2) * width
                v = value.get((server, cell, m))
                if v is None:
                    ax.text(x, 0, "n/a", ha="center", va="bottom", fontsize=7, rotation=90)
                else:
                    xs.append(x)
                    ys.append(v)
            ax.bar(xs, ys, width, label=server, color=f"C{s_i}")
        ax.set_title(title, fontsize=10)
        ax.set_xticks(range(len(cells)))
        ax.set_xticklabels(cells, fontsize=8)
        ax.grid(axis="y", alpha=0.3)
    axes[0, 0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
