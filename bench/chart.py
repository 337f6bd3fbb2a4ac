"""Draws bench/results/latest.png from latest.json (run by bench/run.py with
the bench venv's Python, which has matplotlib).

    python chart.py latest.json latest.png
"""

import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import FuncFormatter  # noqa: E402

PANELS = ["point", "checkout", "bulk", "bulk_rss", "threads", "executemany", "c_point", "bulk_rss_growth"]
COLORS = {"pinned": "#1f77b4", "crossed": "#2ca02c", "unpinned": "#ff7f0e"}
OURS = {"ours", "ours-c", "ours-conn"}


def short(label):
    return (label.replace("SQLAlchemy QueuePool+", "SQLAlchemy+").replace("DBUtils PooledDB+", "DBUtils+")
            .replace(" (Connector/Python)", "").replace("raw libmariadb C", "raw C").replace(" (diagnostic)", ""))


def human(x, _pos=None):
    for div, suffix in ((1e6, "M"), (1e3, "k")):
        if abs(x) >= div:
            return f"{x / div:g}{suffix}"
    return f"{x:g}"


def main(src, dst):
    report = json.loads(open(src).read())
    labels = report.get("labels", {})
    placements = [(name, p) for name, p in report["placements"].items() if p.get("available")]
    if not placements:
        sys.exit("no placement with results")
    fig, axes = plt.subplots(2, 4, figsize=(18, 9.5))
    for ax, key in zip(axes.flat, PANELS):
        section = next((p["sections"][key] for _, p in placements if key in p["sections"]), None)
        if section is None:
            ax.set_visible(False)
            continue
        peers = []
        for _, placement in placements:
            for peer in placement["sections"].get(key, {}).get("rows", {}):
                if peer not in peers:
                    peers.append(peer)
        height = 0.8 / len(placements)
        for i, (name, placement) in enumerate(placements):
            rows = placement["sections"].get(key, {}).get("rows", {})
            ys, xs, lo, hi = [], [], [], []
            for j, peer in enumerate(peers):
                row = rows.get(peer)
                if not row:
                    continue
                ys.append(j + (i - (len(placements) - 1) / 2) * height)
                xs.append(row["median"])
                lo.append(row["median"] - row["min"])
                hi.append(row["max"] - row["median"])
            ax.barh(ys, xs, height=height * 0.95, xerr=[lo, hi], color=COLORS.get(name, None), label=name,
                    error_kw={"elinewidth": 0.8, "capsize": 2})
        ax.set_yticks(range(len(peers)))
        ax.set_yticklabels([short(labels.get(p, p)) for p in peers], fontsize=8)
        for tick, peer in zip(ax.get_yticklabels(), peers):
            if peer in OURS:
                tick.set_fontweight("bold")
        ax.invert_yaxis()
        better = "higher is better" if section["higher_is_better"] else "lower is better"
        ax.set_title(f"{section['title']}", fontsize=9)
        ax.set_xlabel(f"{section['unit']} ({better})", fontsize=8)
        if key == "checkout":
            ax.set_xscale("log")
        else:
            ax.xaxis.set_major_formatter(FuncFormatter(human))
        ax.tick_params(axis="x", labelsize=7.5)
        ax.grid(axis="x", alpha=0.3)
    handles, names = axes.flat[0].get_legend_handles_labels()
    notes = {name: p.get("note", name) for name, p in placements}
    fig.legend(handles, [f"{n}: {notes.get(n, n)}" for n in names], loc="lower center", ncol=len(names), fontsize=9)
    m = report["machine"]
    cfg = report["config"]
    fig.suptitle(f"mysqlpool {m.get('ours_version')} ({m.get('git_commit')}) vs peers — median of {cfg['reps']} "
                 f"runs, bars = min–max — {m.get('cpu_model')}, {m.get('nproc')} CPUs, {m.get('kernel')}, "
                 f"MariaDB {str(m.get('mariadb_server')).split('-')[0]}, Python {m.get('python')}, {m.get('date')}",
                 fontsize=9)
    fig.tight_layout(rect=(0, 0.03, 1, 0.97))
    fig.savefig(dst, dpi=72)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
