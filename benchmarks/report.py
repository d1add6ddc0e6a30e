"""Turn a pytest-benchmark JSON file into the figure tables of benchmarks/RESULTS.md.

    python -m pytest benchmarks --benchmark-only --benchmark-json runs/benchmarks.json
    python benchmarks/report.py runs/benchmarks.json > runs/benchmark_tables.md
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict


def flatten(info: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in info.items():
        if key == "machine":
            continue
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def markdown(path: str) -> str:
    data = json.load(open(path))
    groups: dict[str, list[dict]] = defaultdict(list)
    machine = None
    for bench in data["benchmarks"]:
        info = bench.get("extra_info", {})
        machine = machine or info.get("machine")
        groups[bench["name"].split("[")[0]].append(flatten(info))
    lines = [f"machine: {json.dumps(machine)}", f"run: {data.get('datetime', '')}", ""]
    for name, rows in groups.items():
        keys = list(dict.fromkeys(k for row in rows for k in row))
        lines += [f"### {name}", "", "| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
        lines += ["| " + " | ".join(str(row.get(k, "")) for k in keys) + " |" for row in rows]
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.stdout.write(markdown(sys.argv[1]))
