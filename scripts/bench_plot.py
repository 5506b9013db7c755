#!/usr/bin/env python3
"""Plots callgate's CPU per call and its added one-way latency (p99) against concurrency, for
passthrough and transcoding, from the JSON summaries `scripts/bench_load.sh` writes; one line
per scenario and per run directory (e.g. before and after a change).

    .venv/bin/python -m pip install matplotlib     # once (the tests do not need it)
    .venv/bin/python scripts/bench_plot.py target/loadtest-before:before target/loadtest:after \\
        docs/benchmarks-load.png
"""
import json
import math
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def load(directory):
    """Scenario -> summaries sorted by concurrency (the set-up rate run left out)."""
    runs = {}
    for path in sorted(Path(directory).glob("*.json")):
        if path.stem.startswith("setups"):
            continue
        s = json.loads(path.read_text())
        runs.setdefault(s["scenario"], []).append(s)
    for v in runs.values():
        v.sort(key=lambda s: s["target_calls"])
    return runs


def nan(v):
    return float("nan") if v is None else v


def main():
    args = sys.argv[1:] or ["target/loadtest:after", "docs/benchmarks-load.png"]
    *dirs, target = args
    fig, (cpu, lat) = plt.subplots(1, 2, figsize=(12, 4.6))
    for spec in dirs:
        directory, _, label = spec.partition(":")
        label = label or directory
        style = "--" if label == "before" else "-"
        for scenario, ss in load(directory).items():
            n = [s["target_calls"] for s in ss]
            ms = [nan(s["gateway"]["cpu_per_call_pct"]) * 10 for s in ss]
            cpu.plot(n, ms, style, marker="o", label=f"{scenario} ({label})")
            for key, marker in (("latency_to_pbx", "o"), ("latency_to_wa", "s")):
                arrow = "WA->PBX" if key.endswith("pbx") else "PBX->WA"
                p99 = [s[key]["p99_ms"] if s[key]["samples"] else math.nan for s in ss]
                lat.plot(n, p99, style, marker=marker, label=f"{scenario} {arrow} ({label})")
    cpu.set_xlabel("concurrent calls")
    cpu.set_ylabel("callgate CPU per call (ms of CPU per second)")
    cpu.set_title("CPU per call, from /proc/<pid>/stat of callgate")
    cpu.set_ylim(bottom=0)
    cpu.grid(alpha=0.3)
    cpu.legend(fontsize=8)
    lat.set_xlabel("concurrent calls")
    lat.set_ylabel("added one-way latency, p99 (ms, log scale)")
    lat.set_title("Latency added by callgate, p99")
    lat.set_yscale("log")
    lat.grid(alpha=0.3, which="both")
    lat.legend(fontsize=7, ncol=2)
    fig.suptitle("callgate loadtest, 2-core AMD EPYC (KVM); 500 transcoded calls saturate the "
                 "machine (generator on the same cores)", fontsize=9)
    fig.tight_layout()
    fig.savefig(target, dpi=110)
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
