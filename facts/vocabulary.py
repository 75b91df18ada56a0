"""The words every package uses for votes: winners, strengths, sources, battle modes. Defined once."""

from __future__ import annotations

MODEL_A, MODEL_B = "model_a", "model_b"
TIE, BOTH_BAD = "tie", "tie (bothbad)"
WINNERS = (MODEL_A, MODEL_B, TIE, BOTH_BAD)
DECISIVE = (MODEL_A, MODEL_B)
TIES = (TIE, BOTH_BAD)
STRENGTHS = ("slightly", "clearly", "much")

HUMAN = "human"
JUDGE_PREFIX = "judge:"
SOURCE_MAX_LENGTH = 64

ANONYMOUS, SIDE_BY_SIDE, DIRECT = "anonymous", "side_by_side", "direct"
BATTLE_MODES = (ANONYMOUS, SIDE_BY_SIDE, DIRECT)


def is_source(source: object) -> bool:
    """Whether `source` names who voted: "human" or "judge:<name>" (at most 64 characters)."""
    if not isinstance(source, str) or len(source) > SOURCE_MAX_LENGTH:
        return False
    return source == HUMAN or (source.startswith(JUDGE_PREFIX) and len(source) > len(JUDGE_PREFIX))


def judge_name(source: str) -> str:
    """The judge's name in a "judge:<name>" source ("" for a human vote)."""
    return source.removeprefix(JUDGE_PREFIX) if source.startswith(JUDGE_PREFIX) else ""
