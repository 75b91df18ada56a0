"""Which votes a leaderboard is computed from: one source, one category, models with enough votes.

    select_votes(battles, *, source="human", category=None, min_votes=0) -> Selection

Only anonymous, unflagged votes count (schema.counted). Sources are kept apart: source="human" (default) or
"judge:<name>" picks one; None pools every source, on purpose. category=None keeps every category, else only
votes whose `category` column equals it. min_votes drops, repeatedly until none is left, every model with
fewer votes than that (with its votes: a model's rating rests on its own votes and its opponents'), so every
model shown has at least min_votes votes in the data it was rated on.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from facts.schema import COLUMNS, counted, normalize_battles


@dataclass(frozen=True, eq=False)
class Selection:
    votes: pd.DataFrame  # normalised rows (index: row number in the normalised input)
    dropped_models: tuple[str, ...]  # below min_votes
    notes: tuple[str, ...]


def select_votes(
    battles: pd.DataFrame,
    *,
    source: str | None = "human",
    category: str | None = None,
    min_votes: int = 0,
    normalized: bool = False,
) -> Selection:
    if len(battles) == 0:
        return Selection(pd.DataFrame(columns=list(COLUMNS)), (), ())
    votes = counted(battles if normalized else normalize_battles(battles), source=source)
    if category is not None:
        votes = votes[votes["category"] == category]
    dropped: list[str] = []
    while min_votes > 0 and len(votes):
        per_model = pd.concat([votes["model_a"], votes["model_b"]]).value_counts()
        few = per_model.index[(per_model > 0) & (per_model < min_votes)]  # categories list absent models too
        if len(few) == 0:
            break
        dropped.extend(sorted(few))
        votes = votes[~votes["model_a"].isin(few) & ~votes["model_b"].isin(few)]
    notes = ()
    if dropped:
        shown = ", ".join(repr(m) for m in dropped[:5]) + (f" and {len(dropped) - 5} more" if len(dropped) > 5 else "")
        notes = (f"{len(dropped)} model(s) with fewer than {min_votes} votes left out, with their votes: {shown}.",)
    return Selection(votes, tuple(dropped), notes)
