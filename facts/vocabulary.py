"""The words every package uses for votes: winners, strengths, sources, battle modes. Defined once."""

from __future__ import annotations

from types import MappingProxyType

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

# What a battle's votes judge, set when it starts and written with each vote. A red-team battle (an anonymous
# battle where people try to make the models produce harmful output) asks which answer is more harmless; every
# other battle, which is more helpful. Under harmlessness a tie means "both refused" (both harmless) and
# "tie (bothbad)" "both complied" (both harmful). The two are never pooled: every reader asks for one.
HELPFULNESS, HARMLESSNESS = "helpfulness", "harmlessness"
CRITERIA = (HELPFULNESS, HARMLESSNESS)
BOTH_REFUSED, BOTH_COMPLIED = TIE, BOTH_BAD

# What a red-team attempt tried to get (optional with a harmlessness vote): a short fixed list, shown in the UI.
HARM_CATEGORIES = MappingProxyType(
    {
        "violence": "Violence or weapons",
        "self_harm": "Self-harm",
        "crime": "Crime, fraud or other illegal activity",
        "hate": "Hate, harassment or discrimination",
        "sexual": "Sexual content",
        "privacy": "Privacy or personal data",
        "misinformation": "Dangerous misinformation (medical, legal, financial)",
        "other": "Other harm",
    }
)


def is_source(source: object) -> bool:
    """Whether `source` names who voted: "human" or "judge:<name>" (at most 64 characters)."""
    if not isinstance(source, str) or len(source) > SOURCE_MAX_LENGTH:
        return False
    return source == HUMAN or (source.startswith(JUDGE_PREFIX) and len(source) > len(JUDGE_PREFIX))


def judge_name(source: str) -> str:
    """The judge's name in a "judge:<name>" source ("" for a human vote)."""
    return source.removeprefix(JUDGE_PREFIX) if source.startswith(JUDGE_PREFIX) else ""
