"""Plots the end-to-end benchmark (bench/e2e.ts --json) as a PNG: each variant's job time (median,
quartiles, every job) with its ratio to the static token, then where the difference comes from:
wall time outside the job's own code (process start-up and exit, next to `exec -- true` alone) and
the time per request spent outside nginx (the client's time per log_metric call minus nginx's
$request_time for those requests).

Usage: .venv/bin/python scripts/plot_e2e.py E2E.json OUT.png
"""
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

COLORS = {
    "static": "#7f8c8d",
    "plugin": "#d68910",
    "exec": "#1f5fa8",
    "exec-no-preflight": "#5dade2",
}
SHORT = {
    "static": "static token",
    "plugin": "Python plugin\n0.2.0 (Vault)",
    "exec": "exec (Vault)",
    "exec-no-preflight": "exec --no-preflight\n(Vault)",
}


def main(src: str, out: str) -> None:
    data = json.load(open(src))
    variants = data["variants"]
    names = [v["variant"] for v in variants]
    labels = [SHORT.get(n, n) for n in names]
    colors = [COLORS.get(n, "#555") for n in names]
    xs = list(range(len(variants)))
    fig, (ax1, ax2, ax3) = plt.subplots(
        1, 3, figsize=(14, 4.8), dpi=110, gridspec_kw={"width_ratios": [1.4, 1, 1]}
    )

    medians = [v["medianMs"] / 1000 for v in variants]
    low = [m - v["p25Ms"] / 1000 for m, v in zip(medians, variants)]
    high = [v["p75Ms"] / 1000 - m for m, v in zip(medians, variants)]
    # Points, not bars: the axis does not start at zero, so bar heights would mislead.
    for x, m, lo, hi, col in zip(xs, medians, low, high, colors):
        ax1.errorbar([x], [m], yerr=[[lo], [hi]], fmt="D", color=col, markersize=9, capsize=8,
                     elinewidth=2, zorder=3)
    for x, v in zip(xs, variants):
        jobs = [w / 1000 for w in v["wallMs"]]
        ax1.scatter([x + 0.12] * len(jobs), jobs, color="black", s=10, zorder=4, alpha=0.7)
        ax1.text(
            x,
            max(jobs) + 0.02 * max(medians),
            f"{v['medianMs'] / 1000:.2f} s\n×{v['ratio']:.3f}",
            ha="center",
            va="bottom",
            fontsize=8.5,
        )
    base = medians[names.index("static")] if "static" in names else medians[0]
    ax1.axhline(base * 1.01, color="#b03a2e", linestyle="--", linewidth=1, label="1.01 × static")
    top = max(max(v["wallMs"]) for v in variants) / 1000
    ax1.set_ylim(min(min(v["wallMs"]) for v in variants) / 1000 * 0.95, top * 1.06)
    ax1.set_xticks(xs, labels, fontsize=8.5)
    ax1.set_xlim(-0.5, len(xs) - 0.5)
    ax1.set_ylabel("job wall time, s")
    ax1.text(0.01, 0.01, "◆ median, whiskers p25–p75, dots: every job", transform=ax1.transAxes,
             fontsize=7.5, va="bottom")
    c = data["config"]
    ax1.set_title(
        f"{c['params']} params, {c['metrics']} metrics, {c['artifactMiB']} MiB up and down "
        f"(~{variants[0]['requestsPerJob']:.0f} requests)",
        fontsize=10,
    )
    ax1.legend(loc="lower right", fontsize=8)

    outside = [v["outsideCodeMs"] / 1000 for v in variants]
    ax2.bar(xs, outside, color=colors, width=0.6, alpha=0.85)
    for x, v, o in zip(xs, variants, outside):
        ax2.text(x, o, f"{o:.2f} s", ha="center", va="bottom", fontsize=8)
        if v.get("execTrueMs") is not None:
            t = v["execTrueMs"] / 1000
            ax2.scatter([x], [t], marker="_", s=500, color="#b03a2e", zorder=3,
                        label="exec -- true alone" if x == xs[-1] else None)
    ax2.set_xticks(xs, labels, fontsize=8)
    ax2.set_ylabel("s per job (median)")
    ax2.set_ylim(0, max(outside) * 1.25)
    ax2.set_title("Start-up and exit: wall time\noutside the job's own code", fontsize=10)
    if any(v.get("execTrueMs") is not None for v in variants):
        ax2.legend(loc="upper left", fontsize=7.5)

    per = [v["metricOutsideNginxMs"] for v in variants]
    ax3.bar(xs, per, color=colors, width=0.6, alpha=0.85)
    for x, p in zip(xs, per):
        ax3.text(x, p, f"{p:.2f} ms", ha="center", va="bottom", fontsize=8)
    ax3.set_xticks(xs, labels, fontsize=8)
    ax3.set_ylabel("ms per log_metric call (median job)")
    ax3.set_ylim(0, max(per) * 1.25)
    ax3.set_title("Per request: client's time minus\nnginx's $request_time", fontsize=10)

    m = data["machine"]
    fig.suptitle(
        f"MLflow job through nginx (bearer) and MLflow, {c['rounds']} interleaved round(s); "
        f"{m['cpus']} CPUs, load {m['loadavgBefore'].split()[0]}→{m['loadavgAfter'].split()[0]}; "
        f"{data['date'][:10]}",
        fontsize=10.5,
    )
    fig.tight_layout()
    fig.savefig(out)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
