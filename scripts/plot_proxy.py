"""Plots the proxy load benchmark (bench/proxy_load.ts --json) as a PNG: requests per second at 16
connections, p50 latency at one connection, and the large transfers, for each variant, with the
targets of issue 15 (0.5 × nginx's throughput, at most 0.2 ms over nginx at one connection).

Usage: .venv/bin/python scripts/plot_proxy.py PROXY.json OUT.png
"""
import json
import statistics
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

PALETTE = ["#7f8c8d", "#d68910", "#5dade2", "#1f5fa8"]


def short(name: str) -> str:
    return (
        name.replace("nginx, static header", "nginx\n(static header)")
        .replace("Deno.serve + fetch (old path)", "Deno.serve\n+ fetch")
        .replace("mlflow-secrets-auth proxy", "the proxy")
        .replace("proxy, baseline checkout", "proxy\n(baseline)")
    )


def main(src: str, out: str) -> None:
    data = json.load(open(src))
    variants = data["variants"]
    labels = [short(v["name"]) for v in variants]
    colors = [PALETTE[i % len(PALETTE)] if i < 2 else PALETTE[-1] for i in range(len(variants))]
    if len(variants) > 3:
        colors[2] = PALETTE[2]
    xs = list(range(len(variants)))
    fig, (ax1, ax2, ax3) = plt.subplots(1, 3, figsize=(13, 4.4), dpi=110)

    nginx_rps = variants[0]["medianRps16"]
    rps = [v["medianRps16"] / 1000 for v in variants]
    ax1.bar(xs, rps, color=colors, width=0.6, alpha=0.85)
    for x, v in zip(xs, variants):
        ax1.scatter([x] * len(v["rps16"]), [r / 1000 for r in v["rps16"]], color="black", s=9,
                    zorder=3)
        ax1.text(x, v["medianRps16"] / 1000, f"{v['medianRps16'] / 1000:.1f}k\n"
                 f"×{v['medianRps16'] / nginx_rps:.2f}", ha="center", va="bottom", fontsize=8)
    ax1.axhline(nginx_rps / 2000, color="#b03a2e", linestyle="--", linewidth=1,
                label="target: 0.5 × nginx")
    ax1.set_xticks(xs, labels, fontsize=8)
    ax1.set_ylabel("thousand requests/s (wrk, 16 connections)")
    ax1.set_ylim(0, max(max(v["rps16"]) for v in variants) / 1000 * 1.2)
    ax1.legend(loc="upper right", fontsize=8)
    ax1.set_title("Throughput", fontsize=10)

    nginx_p50 = variants[0]["medianP50at1us"]
    p50 = [v["medianP50at1us"] for v in variants]
    ax2.bar(xs, p50, color=colors, width=0.6, alpha=0.85)
    for x, v in zip(xs, variants):
        ax2.scatter([x] * len(v["p50at1us"]), v["p50at1us"], color="black", s=9, zorder=3)
        ax2.text(x, v["medianP50at1us"], f"{v['medianP50at1us']:.0f} µs", ha="center",
                 va="bottom", fontsize=8)
    ax2.axhline(nginx_p50 + 200, color="#b03a2e", linestyle="--", linewidth=1,
                label="target: nginx + 0.2 ms")
    ax2.set_xticks(xs, labels, fontsize=8)
    ax2.set_ylabel("p50 latency, µs (wrk, 1 connection)")
    ax2.set_ylim(0, max(max(v["p50at1us"]) for v in variants + [{"p50at1us": [nginx_p50 + 200]}])
                 * 1.2)
    ax2.legend(loc="upper left", fontsize=8)
    ax2.set_title("Latency", fontsize=10)

    transfers = list(variants[0]["transfersS"].keys())
    width = 0.8 / len(variants)
    for i, v in enumerate(variants):
        vals = [statistics.median(v["transfersS"][t]) for t in transfers]
        pos = [j + (i - (len(variants) - 1) / 2) * width for j in range(len(transfers))]
        ax3.bar(pos, vals, width, color=colors[i], alpha=0.85, label=labels[i].replace("\n", " "))
    ax3.set_xticks(range(len(transfers)),
                   [t.replace(", ", "\n").replace(" MiB", " MiB") for t in transfers], fontsize=8)
    ax3.set_ylabel("seconds (curl, median)")
    ax3.legend(loc="upper left", fontsize=7.5)
    ax3.set_title("Large transfers", fontsize=10)

    m = data["machine"]
    c = data["config"]
    fig.suptitle(
        f"Proxy on loopback, a Deno upstream, {c['rounds']} interleaved rounds × {c['seconds']} s; "
        f"{m['cpus']} CPUs, load {m['loadavgBefore'].split()[0]}→{m['loadavgAfter'].split()[0]}; "
        f"{data['date'][:10]}",
        fontsize=10.5,
    )
    fig.tight_layout()
    fig.savefig(out)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
