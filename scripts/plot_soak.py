"""Plots a soak run (bench/soak.ts --json) as a PNG: the proxy's RSS and open descriptors, the
clients' latency percentiles per period, rotations and the provider outage. Prints the
per-period table (Markdown) on stdout, for docs/soak.md.

Usage: .venv/bin/python scripts/plot_soak.py SOAK.json OUT.png
"""
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def mark_events(ax, data, label=False):
    s = data["setup"]
    start = s["outageAtMs"] / 60000
    end = (s["outageAtMs"] + s["outageForMs"]) / 60000
    ax.axvspan(start, end, color="#f5b7b1", alpha=0.5, label="provider outage" if label else None)
    seen = set()
    for e in data["events"]:
        t = e["t"] / 60000
        if e["kind"] == "rotation-grace":
            lab = "rotation (grace)" if label and "g" not in seen else None
            seen.add("g")
            ax.axvline(t, color="#7d3c98", linewidth=0.9, linestyle=":", label=lab)
        elif e["kind"] == "rotation-strict":
            lab = "rotation (strict: 401, refresh, replay)" if label and "s" not in seen else None
            seen.add("s")
            ax.axvline(t, color="#7d3c98", linewidth=0.9, label=lab)
    warm = s["warmupMs"] / 60000
    ax.axvspan(0, warm, color="#eeeeee", alpha=0.6, label="warm-up" if label else None)


def main(src: str, out: str) -> None:
    data = json.load(open(src))
    s = data["setup"]
    v = data["verdict"]
    t = data["totals"]
    samples = data["samples"]
    rows = data["rows"]
    minutes = [x["t"] / 60 for x in samples]
    fig, (ax1, ax3) = plt.subplots(2, 1, figsize=(10, 6.4), dpi=110, sharex=True)

    ax1.plot(minutes, [x["rssKiB"] / 1024 for x in samples], color="#1f5fa8", linewidth=1.3,
             label="RSS (MiB)")
    ax1.plot(minutes, [x["hwmKiB"] / 1024 for x in samples], color="#9cb8dc", linewidth=1,
             linestyle="--", label="peak RSS (MiB)")
    mark_events(ax1, data, label=True)
    ax1.set_ylabel("MiB")
    ax1.set_ylim(0, max(x["hwmKiB"] for x in samples) / 1024 * 1.25)
    ax2 = ax1.twinx()
    ax2.plot(minutes, [x["fds"] for x in samples], color="#1e8449", linewidth=1.2,
             label="open descriptors")
    ax2.set_ylabel("descriptors", color="#1e8449")
    ax2.set_ylim(0, max(x["fds"] for x in samples) * 1.6)
    h1, l1 = ax1.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    ax1.legend(h1 + h2, l1 + l2, loc="lower right", fontsize=7, ncol=2)
    ax1.set_title(
        f"proxy under {s['clients']} clients, {t['requests']:,} requests, "
        f"{sum(t['failures'].values())} failed; RSS after warm-up "
        f"{v['rssBaselineMiB']} -> {v['rssFinalMiB']} MiB ({v['rssGrowthPercent']:+} %), "
        f"descriptors {v['fdBaseline']:g} -> {v['fdFinal']:g}",
        fontsize=10,
    )

    rt = [r["t"] / 60 for r in rows]
    for key, color, name in (("p50Ms", "#1f5fa8", "p50"), ("p95Ms", "#d68910", "p95"),
                             ("p99Ms", "#b03a2e", "p99")):
        ax3.plot(rt, [r[key] for r in rows], color=color, marker="o", markersize=3,
                 linewidth=1.2, label=name)
    mark_events(ax3, data)
    ax3.set_ylabel("client latency per period (ms)")
    ax3.set_xlabel("minutes")
    ax3.set_ylim(0, max(r["p99Ms"] for r in rows) * 1.2)
    ax3.legend(loc="upper left", fontsize=8)
    ax3.set_xlim(0, s["durationMs"] / 60000)
    fig.tight_layout()
    fig.savefig(out)
    print_table(data)


EVENT_NAMES = {
    "rotation-grace": "rotation (grace)",
    "rotation-strict": "rotation (strict)",
    "rotation-skipped": "rotation skipped (outage)",
    "outage-start": "outage starts",
    "outage-end": "outage ends",
}


def print_table(data) -> None:
    print("| t (s) | RSS MiB | peak MiB | fds | requests | req/s | p50 ms | p95 ms | p99 ms "
          "| failed | 401s at server | proxy replays (total) | events |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for r in data["rows"]:
        failed = sum(r["failures"].values())
        events = ", ".join(EVENT_NAMES.get(e, e) for e in r["events"])
        print(f"| {r['t']} | {r['rssMiB']:.1f} | {r['hwmMiB']:.1f} | {r['fds']} | "
              f"{r['requests']:,} | {r['rps']} | {r['p50Ms']:.1f} | {r['p95Ms']:.1f} | "
              f"{r['p99Ms']:.1f} | {failed} | {r['upstream401']} | {r['proxyRetriedTotal']:g} | "
              f"{events} |")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
