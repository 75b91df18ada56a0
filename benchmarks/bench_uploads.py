"""Measurement: the cost of the largest judge-audit upload the app accepts (ARENA_UPLOAD_MAX_MB / _MAX_ROWS).

Each file is read and audited exactly as the app does it (leaderboard.io.read_battles with the app's default
ReadLimits, then audit_judges with 200 bootstrap rounds), in a fresh child process, so its peak resident memory
is the file's own; the baseline is a child that only imports the same modules. Shapes at the limits: a CSV of
2,000,000 minimal rows (the row limit binds first), and JSON Lines, JSON and CSV files of just under 50 MB (the
size limit binds first), the first two with short answer texts. The table goes into RELIABILITY.md.

    python -m benchmarks.bench_uploads
    python -m benchmarks.bench_uploads --no-write
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.report import write_section
from leaderboard.io import ReadLimits

SECTION = "## 5. The largest accepted upload (judge audit)"
REPO = Path(__file__).resolve().parent.parent
LIMITS = ReadLimits()
MODELS = [f"model-{i}" for i in range(12)]
SOURCES = ["human", "human", "judge:gpt-4"]

_CHILD = """
import json, resource, sys, time
from pathlib import Path
from leaderboard.io import ReadLimits, read_battles
from leaderboard.judge_audit import audit_judges, render_markdown
path = sys.argv[1]
started, cpu = time.perf_counter(), time.process_time()
rows = 0
if path != "-":
    frame = read_battles(Path(path), limits=ReadLimits(), name=Path(path).name)
    rows = len(frame)
    render_markdown(audit_judges(frame, rounds=200))
print(json.dumps({"rows": rows, "seconds": time.perf_counter() - started, "cpu": time.process_time() - cpu,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def _row(rng: random.Random, number: int, text: bool) -> dict[str, object]:
    a, b = rng.sample(MODELS, 2)
    row: dict[str, object] = {
        "battle_id": f"b{number // 2}",
        "model_a": a,
        "model_b": b,
        "winner": rng.choice(["model_a", "model_b", "tie"]),
        "source": rng.choice(SOURCES),
    }
    if text:
        row["answer_a"] = "An answer of a realistic length. " * rng.randint(1, 3)
        row["answer_b"] = "Another answer. " * rng.randint(1, 5)
    return row


def write_files(folder: Path) -> dict[str, Path]:
    rng = random.Random(0)
    budget = LIMITS.max_bytes - 64 * 1024
    files: dict[str, Path] = {}

    minimal = folder / "rows-at-the-limit.csv"
    with minimal.open("w") as out:
        out.write("model_a,model_b,winner\n")
        for _ in range(LIMITS.max_rows):
            a, b = rng.sample(MODELS, 2)
            out.write(f"{a},{b},{rng.choice(['model_a', 'model_b', 'tie'])}\n")
    files[f"CSV, {LIMITS.max_rows:,} minimal rows"] = minimal

    for suffix, text in ((".jsonl", True), (".json", True), (".csv", False)):
        path = folder / f"size-at-the-limit{suffix}"
        size, number = 0, 0
        with path.open("w") as out:
            if suffix == ".json":
                out.write("[\n")
            elif suffix == ".csv":
                out.write("battle_id,model_a,model_b,winner,source\n")
            while size < budget and number < LIMITS.max_rows:
                row = _row(rng, number, text)
                if suffix == ".csv":
                    line = ",".join(str(v) for v in row.values()) + "\n"
                else:
                    line = ("," if suffix == ".json" and number else "") + json.dumps(row) + "\n"
                out.write(line)
                size += len(line)
                number += 1
            if suffix == ".json":
                out.write("]\n")
        label = {".jsonl": "JSON Lines", ".json": "JSON", ".csv": "CSV"}[suffix]
        texts = " with answer texts" if text else ""
        files[f"{label}{texts}, {path.stat().st_size / 1024 / 1024:.1f} MB"] = path
    return files


def measure(path: Path | None) -> dict[str, float]:
    result = subprocess.run(
        [sys.executable, "-c", _CHILD, str(path) if path else "-"], cwd=REPO, capture_output=True, text=True, check=True
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-write", action="store_true", help="print the table only")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        files = write_files(Path(folder))
        baseline = measure(None)
        lines = [
            SECTION,
            "",
            "Command: `python -m benchmarks.bench_uploads`. Each file read with the app's limits (50 MB, 2,000,000",
            "rows) and audited (200 bootstrap rounds) in a fresh process; memory is that process's peak RSS minus a",
            f"process that only imported the same modules ({baseline['peak_mb']:.0f} MB).",
            "",
            "| file | rows | read + audit, wall s | CPU s | peak RSS above baseline, MB | MB per MB of file |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for label, path in files.items():
            figures = measure(path)
            extra = figures["peak_mb"] - baseline["peak_mb"]
            size_mb = path.stat().st_size / 1024 / 1024
            lines.append(
                f"| {label} | {int(figures['rows']):,} | {figures['seconds']:.1f} | {figures['cpu']:.1f} "
                f"| {extra:,.0f} | {extra / size_mb:.1f} |"
            )
    lines += [
        "",
        "Uploads are audited one at a time (arena/upload_audits.py), so this is the most an upload adds at once. The",
        "audit's per-turn tables, not the reading, take most of it: memory grows with rows, which",
        "`ARENA_UPLOAD_MAX_ROWS` bounds. Before the limits, one 150 MB CSV of 5 million rows took the app from 2.4 to",
        "9.2 GB, and several at once would have exhausted the machine.",
    ]
    section = "\n".join(lines) + "\n"
    print(section)
    if not args.no_write:
        write_section(REPO / "RELIABILITY.md", SECTION, section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
