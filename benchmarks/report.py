"""Writing one benchmark's section of BENCHMARKS.md without touching the others."""

from __future__ import annotations

import os
from pathlib import Path

INTRO = "# Benchmarks\n\nAll figures are ratios measured in one run on the same machine (2 CPU cores, no GPU).\n"


def write_section(path: Path, heading: str, section: str) -> None:
    """Replace the section starting at `heading` (or append it), keeping everything else as it is now."""
    current = path.read_text(encoding="utf-8") if path.exists() else INTRO
    start = current.find(heading)
    if start == -1:
        updated = current.rstrip("\n") + "\n\n" + section
    else:
        following = current.find("\n## ", start + len(heading))
        rest = current[following + 1 :] if following != -1 else ""
        updated = current[:start] + section + ("\n" + rest if rest else "")
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(updated, encoding="utf-8")
    os.replace(temporary, path)  # readers never see a half-written file
