"""Temporary files the app leaves for the browser to fetch (uploads, CSV downloads): deleted once old enough.

Gradio deletes the files its own process created (`delete_cache` on the Blocks), but not what a process that was
killed left behind; this removes anything older than the same age, at start-up and whenever a download is made.
"""

from __future__ import annotations

import time
from pathlib import Path

MAX_AGE_SECONDS = 3600.0


def prune(folder: Path, max_age: float = MAX_AGE_SECONDS, pattern: str = "*") -> int:
    """Delete files under `folder` matching `pattern` not modified for `max_age` seconds, then the folders this
    leaves empty; returns how many files went. Files that vanish meanwhile (another process pruning) are fine."""
    if not folder.is_dir():
        return 0
    cutoff = time.time() - max_age
    removed = 0
    for path in folder.rglob(pattern):
        try:
            if path.is_file() and path.stat().st_mtime < cutoff:
                path.unlink()
                removed += 1
        except OSError:
            continue
    for sub in sorted((p for p in folder.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
        try:
            sub.rmdir()  # only succeeds when empty
        except OSError:
            continue
    return removed
