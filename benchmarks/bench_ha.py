"""Event-loop cost of the integration in Home Assistant at 1, 32 and 247 devices on a line.

Runs ``benchmarks/test_bench_ha.py`` (a real test-harness Home Assistant, an in-process
terminal that answers at once) in a pytest subprocess and prints a markdown section.

    python -m benchmarks.bench_ha          # about a minute and a half

Figures are CPU time of the event-loop thread per full update (fast + slow refresh and the
state writes that follow), the median of 5 updates; the ratios come from the same run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
FAST_INTERVAL_S = 10  # the default fast poll interval


def run() -> list[dict[str, float]]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "bench_ha.jsonl"
        env = {**os.environ, "BENCH_HA_OUT": str(out)}
        command = [
            sys.executable,
            "-m",
            "pytest",
            str(HERE / "test_bench_ha.py"),
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:logging",
            "--no-cov",
        ]
        done = subprocess.run(
            command,
            check=False,
            cwd=HERE.parent,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if done.returncode != 0:
            sys.stderr.write(done.stdout[-4000:] + done.stderr[-4000:])
            raise SystemExit(done.returncode)
        return [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]


def markdown(results: list[dict[str, float]]) -> str:
    lines = [
        "## Home Assistant event loop per full update",
        "",
        "One line entry, one subentry per Modbus device (shipped profiles in turn), an",
        "in-process terminal that answers at once: only Home Assistant's side is measured",
        "(both coordinators' refresh, energy guard, listeners, state writes). CPU time of the",
        "event-loop thread, median of 5 updates. *Steady*: every value as before (each poll",
        "still brings new snapshots); *all changed*: every value of every device changed.",
        "",
        "*Of which HA's writes*: the all-changed update again with the state writes held back",
        "(the integration's own work), then those writes alone (Home Assistant writing that many",
        "states, a floor no integration can go under): the last column is the integration's",
        "own share.",
        "",
        "| devices | entities (enabled) | steady ms | all changed ms | states written "
        "| of which HA's writes ms | integration's own ms | own ÷ HA's writes "
        f"| steady share of a {FAST_INTERVAL_S} s poll |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r['devices']:.0f} | {r['entities']:.0f} ({r['enabled']:.0f}) "
            f"| {r['unchanged_ms']:.1f} | {r['changed_ms']:.1f} "
            f"| {r['changed_writes']:.0f} | {r['changed_ha_writes_ms']:.1f} "
            f"| {r['changed_ours_ms']:.1f} "
            f"| {r['changed_ours_ms'] / r['changed_ha_writes_ms']:.2f} "
            f"| {r['unchanged_ms'] / (FAST_INTERVAL_S * 1000):.2%} |"
        )
    small, large = results[-2], results[-1]
    added = (large["bytes"] - small["bytes"]) / (large["entities"] - small["entities"])
    lines += [
        "",
        f"Memory: {added / 1024:.1f} KiB per entity, what tracemalloc sees the setup allocate",
        "(registries, states, entities, the integration's data) from the "
        f"{small['devices']:.0f}- to the {large['devices']:.0f}-device line, fixed costs left out.",
    ]
    lines += [
        "",
        "Reproduce: `python -m benchmarks.bench_ha` (or `python -m pytest -p no:logging "
        "benchmarks/test_bench_ha.py -s` for the raw figures; `BENCH_HA_PROFILE=1` adds a",
        "profile of the measured updates, `BENCH_HA_MEMORY=1` the largest allocations).",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    sys.stdout.write(markdown(run()))


if __name__ == "__main__":
    main()
