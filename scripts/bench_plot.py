#!/usr/bin/env python3
"""Plots callgate's CPU per call and its added one-way latency against concurrency, for
passthrough and transcoding, from the JSON summaries `scripts/bench_load.sh` writes.

    .venv/bin/python -m pip install matplotlib     # once (not needed by the tests)
    .venv/bin/python scripts/bench_plot.py target/loadtest docs/benchmarks-load.png
"""
import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def load(directory):
    runs = {}
    for path in sorted(Path(directory).glob("*.json")):
        s = json.loads(path.read_text())
        if s.get("calls_attempted", 0) != s.get("target_calls") or "setups" in path.stem:
            continue
        runs.setdefault(s["scenario"], []).append(s)
    for v in runs.values():
        v.sort(key=lambda s: s["target_calls"])
    return runs


def main():
    directory = sys.argv[1] if len(sys.argv) > 1 else "target/loadtest"
    target = sys.argv[2] if len(sys.argv) > 2 else "docs/benchmarks-load.png"
    runs = load(directory)
    fig, (cpu, lat) = plt.subplots(1, 2, figsize=(11, 4.2))
    for scenario, ss in runs.items():
        n = [s["target_calls"] for s in ss]
        per_call = [s["gateway"]["cpu_per_call_pct"] or float("nan") for s in ss]
        cpu.plot(n, [p * 10 for p in per_call], marker="o", label=scenario)
        for key, style in (("latency_to_pbx", "-"), ("latency_to_wa", "--")):
            arrow = "WA->PBX" if key.endswith("pbx") else "PBX->WA"
            lat.plot(n, [s[key]["p99_ms"] for s in ss], style, marker="o",
                     label=f"{scenario} {arrow} p99")
    cpu.set_xlabel("concurrent calls")
    cpu.set_ylabel("callgate CPU per call (ms per second)")
    cpu.set_title("CPU per call (from /proc of callgate)")
    cpu.set_ylim(bottom=0)
    cpu.grid(alpha=0.3)
    cpu.legend()
    lat.set_xlabel("concurrent calls")
    lat.set_ylabel("added one-way latency, p99 (ms)")
    lat.set_title("Latency added by callgate, p99")
    lat.set_yscale("log")
    lat.grid(alpha=0.3, which="both")
    lat.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(target, dpi=110)
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
