"""Whether a vote counts in ratings (and in training, export and the retrain trigger): the one rule.

A vote does not count when its battle was not anonymous (the names were shown), when the conversation named a
model or vendor, when someone asked a model who it is (its answer could name it), or when a model failed to
answer. These are facts about the battle, so every vote on a battle shares its verdict, and a battle flagged
after it was voted on takes its votes out with it. The store writes the verdict with each vote and rewrites
it, in the same transaction, whenever the battle's flags change; readers never recompute it.

Two reasons are about where the vote came from, not the battle (`VoterFacts`, kept with the vote as its own
reasons so that a battle's rewrite keeps them): the address had already had its day's share of counted votes
(a cap per address and UTC day, as Chatbot Arena's analysis caps votes per IP), or the address or its network
was found stuffing votes (leaderboard.stuffing: many sessions voting one way for one model).

The verdict is the reasons joined by "; " (None: the vote counts), as stored in `votes.excluded_reason`.
"""

from __future__ import annotations

from dataclasses import dataclass

from facts.vocabulary import ANONYMOUS

# Prefixes of a battle's flag notes (one line per finding): they tell a probe from a named model.
LEAK_NOTE = "identity words: "
PROBE_NOTE = "identity probe: "

NOT_ANONYMOUS = "the models were not anonymous"
NAMED = "a model or vendor was named in the conversation"
PROBED = "a model was asked who it is (identity probe)"
FAILED = "a model failed to answer"
OVER_DAILY_CAP = "its address had already cast the day's share of counted votes"
STUFFING = "vote stuffing suspected from its address or network"
REASONS = (NOT_ANONYMOUS, NAMED, PROBED, FAILED, OVER_DAILY_CAP, STUFFING)
SEPARATOR = "; "


@dataclass(frozen=True)
class BattleFacts:
    """What the rule reads of a battle."""

    mode: str
    flag_identity_leak: bool = False
    flag_error: bool = False
    flag_notes: str = ""


def exclusion_reasons(battle: BattleFacts) -> tuple[str, ...]:
    """Why votes on this battle must not count, in a fixed order (empty: they count)."""
    reasons: list[str] = []
    if battle.mode != ANONYMOUS:
        reasons.append(NOT_ANONYMOUS)
    if battle.flag_identity_leak:
        notes = battle.flag_notes or ""
        probed = PROBE_NOTE in notes
        # A leak flag without notes (rows from before the notes existed) reads as a named model.
        if LEAK_NOTE in notes or not probed:
            reasons.append(NAMED)
        if probed:
            reasons.append(PROBED)
    if battle.flag_error:
        reasons.append(FAILED)
    return tuple(reasons)


@dataclass(frozen=True)
class VoterFacts:
    """What the rule reads of where a vote came from."""

    over_daily_cap: bool = False
    stuffing: bool = False


def voter_reasons(voter: VoterFacts) -> tuple[str, ...]:
    """Why a vote must not count whatever its battle, in a fixed order (empty: nothing against it)."""
    found = ((OVER_DAILY_CAP, voter.over_daily_cap), (STUFFING, voter.stuffing))
    return tuple(reason for reason, present in found if present)


def verdict(battle: BattleFacts, voter: VoterFacts | str | None = None) -> str | None:
    """The stored form: the battle's reasons then the voter's (facts, or the stored voter reasons), joined, or
    None when the vote counts."""
    own = voter_reasons(voter) if isinstance(voter, VoterFacts) else reasons_of(voter)
    return SEPARATOR.join((*exclusion_reasons(battle), *own)) or None


def joined(reasons: tuple[str, ...]) -> str | None:
    """Reasons in their stored form."""
    return SEPARATOR.join(reasons) or None


def reasons_of(stored: str | None) -> tuple[str, ...]:
    """The reasons in a stored verdict."""
    return tuple(reason for reason in (stored or "").split(SEPARATOR) if reason)
