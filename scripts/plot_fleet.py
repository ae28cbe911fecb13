"""Plots the fleet simulation's per-second provider calls (bench/fleet_sim.ts --json) as a PNG.

Usage: .venv/bin/python scripts/plot_fleet.py FLEET.json OUT.png
"""
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main(src: str, out: str) -> None:
    data = json.load(open(src))
    s = data["scenario"]
    per_second = data["perSecond"]
    minutes = [i / 60 for i in range(len(per_second))]
    window = 10
    smooth = [
        sum(per_second[max(0, i - window + 1): i + 1]) / min(window, i + 1)
        for i in range(len(per_second))
    ]
    fig, ax = plt.subplots(figsize=(10, 4.2), dpi=110)
    ax.plot(minutes, per_second, color="#c9d6e8", linewidth=0.6, label="calls per second")
    ax.plot(minutes, smooth, color="#1f5fa8", linewidth=1.4, label="10 s mean")
    ax.axhline(40, color="#b03a2e", linestyle="--", linewidth=1, label="40/s target")
    rot = s["rotationAtMs"] / 60000
    out_start = s["outageStartMs"] / 60000
    out_end = (s["outageStartMs"] + s["outageMs"]) / 60000
    ax.axvline(rot, color="#7d3c98", linewidth=1)
    ax.text(rot + 0.1, ax.get_ylim()[1] * 0.92, "rotation", color="#7d3c98")
    ax.axvspan(out_start, out_end, color="#f5b7b1", alpha=0.5, label="provider outage")
    ax.set_xlabel("minutes")
    ax.set_ylabel("provider calls per second")
    ttl = s["policy"]["ttlMs"] / 1000
    ax.set_title(
        f"{s['jobs']:,} jobs, TTL {ttl:.0f} s: calls reaching the secret store "
        f"(peak 10 s mean {data['peak10s']:.0f}/s)"
    )
    ax.legend(loc="upper left", fontsize=8)
    ax.set_xlim(0, s["durationMs"] / 60000)
    ax.set_ylim(0, max(per_second) * 1.1)
    fig.tight_layout()
    fig.savefig(out)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
