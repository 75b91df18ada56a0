"""Temporary files for the browser: old ones go, new ones stay, and a folder shared with other replicas may change
under the pruner without stopping the app."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from ui.tempfiles import prune


def _file(path: Path, age_seconds: float) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("x")
    then = time.time() - age_seconds
    os.utime(path, (then, then))
    return path


def test_old_files_and_the_folders_they_leave_empty_go_new_ones_stay(tmp_path: Path) -> None:
    old = _file(tmp_path / "a" / "b" / "old.csv", 7200)
    new = _file(tmp_path / "c" / "new.csv", 10)
    assert prune(tmp_path, 3600) == 1
    assert not old.exists() and not (tmp_path / "a").exists()
    assert new.exists()


def test_only_names_matching_the_pattern_are_pruned(tmp_path: Path) -> None:
    ours = _file(tmp_path / "leaderboard-1.csv", 7200)
    theirs = _file(tmp_path / "upload.csv", 7200)
    assert prune(tmp_path, 3600, "leaderboard-*") == 1
    assert not ours.exists() and theirs.exists()


def test_a_missing_folder_prunes_nothing(tmp_path: Path) -> None:
    assert prune(tmp_path / "absent") == 0


def test_a_folder_removed_by_another_process_meanwhile_is_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Another replica deletes a sub-folder between the listing and the visit (seen at start-up with two replicas).
    _file(tmp_path / "gone" / "x.csv", 7200)
    kept = _file(tmp_path / "kept" / "y.csv", 7200)
    real_scandir = os.scandir

    def racing_scandir(path: str | os.PathLike[str] = ".") -> object:
        if Path(path).name == "gone":
            raise FileNotFoundError(path)
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", racing_scandir)
    assert prune(tmp_path, 3600) == 1
    assert not kept.exists()
