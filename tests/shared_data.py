"""Where the tests find ../shared/data (beside the checkout; ARENA_SHARED_DATA overrides).

The app never needs these files; tests that read them skip with a loud reason when they are absent.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED_DATA = Path(os.environ.get("ARENA_SHARED_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data")
LLMFAO = SHARED_DATA / "llmfao"


def require_llmfao() -> Path:
    """The LLMFAO folder, or a skip that says where it was looked for."""
    if not (LLMFAO / "crowd-comparisons.csv").exists():
        pytest.skip(f"LLMFAO DATA NOT FOUND at {LLMFAO}: set ARENA_SHARED_DATA to the shared/data folder")
    return LLMFAO
