"""Temporary files the app leaves for the browser to fetch (uploads, CSV downloads): deleted once old enough.

Gradio deletes the files its own process created (`delete_cache` on the Blocks), but not what a process that was
killed left behind; this removes anything older than the same age, at start-up and whenever a download is made.
"""

from __future__ import annotations

import fnmatch
import os
import time
from pathlib import Path

MAX_AGE_SECONDS = 3600.0


def prune(folder: Path, max_age: float = MAX_AGE_SECONDS, pattern: str = "*") -> int:
    """Delete files under `folder` whose names match `pattern` and that were not modified for `max_age` seconds,
    then the folders this leaves empty; returns how many files went. Files and folders that vanish meanwhile
    (another replica or Gradio pruning the same folder) are skipped: os.walk ignores folders it cannot list."""
    cutoff = time.time() - max_age
    removed = 0
    for parent, folders, files in os.walk(folder, topdown=False):
        for name in fnmatch.filter(files, pattern):
            path = os.path.join(parent, name)
            try:
                if os.stat(path).st_mtime < cutoff:
                    os.unlink(path)
                    removed += 1
            except OSError:
                continue
        for name in folders:
            try:
                os.rmdir(os.path.join(parent, name))  # only succeeds when empty
            except OSError:
                continue
    return removed
