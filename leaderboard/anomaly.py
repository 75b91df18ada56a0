"""Anomalous voters: people whose votes disagree with everyone else's far beyond chance (pure: battles in).

    detect_anomalous_voters(battles, *, alpha=0.01, min_votes=10, prior=1.0, mid_p=True) -> AnomalyReport
    exclude_anomalous(battles, report) -> battles      (their votes get excluded_reason "anomalous voter")
    chi2_logsf_even(x, df) / chi2_sf_even(x, df)      (chi-square survival function, even degrees of freedom)

The method is Chatbot Arena's (Chiang et al. 2024, section 5.1), done offline over all the votes:
- Who: human votes that count (schema.counted), attributed by the `judge` column, which holds the voter's
  salted hash (store.votes). Judges are separate sources and never tested; votes without a voter id are
  history for the others but are not tested.
- One vote's p-value: outcomes are taken per model, not per side (which model won, or a tie; both tie labels
  are one outcome), because the arena puts models on random sides and "A won" means nothing across votes.
  The outcome is compared with the votes of every OTHER voter on the same pair of models, past and future:
  the leaderboard is refitted on all the votes, so all of them are the reference, and leaving the voter out
  keeps a prolific adversary from becoming their own evidence. The outcome distribution is the others'
  counts plus `prior` pseudo-votes per outcome, so a pair with little history is close to uniform and says
  little. The p-value is the probability of an outcome less likely than the one observed, plus half that of
  outcomes exactly as likely (the mid-p value; `mid_p=False` gives the whole of it). With three outcomes the
  plain p-value is 1 for any vote for the favourite, so honest voters pile up at p = 1 and Fisher's
  statistic grows at a third of its null rate: valid but blind to anyone who only sometimes deviates. The
  mid-p value is centred at 1/2 like a uniform p-value; it is slightly liberal for a single rare vote and
  conservative in sums, which is where it is used (min_votes of them at least).
- One voter: the votes in time order (tstamp, then row order), Fisher's statistic -2 sum log p after each
  vote, whose null distribution is chi-square with 2k degrees of freedom after k votes (closed form below).
  The sequential test looks after each vote from the `min_votes`-th on and flags at the first look whose
  combined p-value is below alpha / (number of looks) for that voter: Bonferroni over the looks, so an
  honest voter is flagged with probability at most alpha whatever their number of votes. `alpha` is thus the
  expected share of honest voters flagged, not a family-wise rate over all voters: a per-voter rate keeps the
  power independent of how many people vote. Voters with fewer than `min_votes` votes are never flagged.
- Why a voter was flagged: the report gives the combined p-value over all their votes, the vote at which the
  test crossed, and the share of their votes that went against the other voters' most common outcome.
  A voter id is a hash of IP and browser session, so one person with many sessions is many voters: this
  finds persistent voters, not session-hopping ones.

Cost: a few group-bys and one pass of cumulative sums over the votes, no Python loop per vote; exact
p-values are only computed at the looks a Chernoff bound cannot rule out, up to each voter's first crossing
(in rounds), and each costs O(sqrt(votes)). About 0.2 s for 100,000 votes here. Per-vote temporaries are
made in blocks of votes, so memory beyond a few integer arrays per vote does not grow with the votes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from facts.schema import counted, normalize_battles
from leaderboard.outcomes import model_codes, winner_sides

EXCLUDED_REASON = "anomalous voter"
ALPHA = 0.01
MIN_VOTES = 10
PRIOR = 1.0
SHOWN_PREFIX = 8  # characters of a voter hash shown on the page: enough to tell voters apart, not to find them
_OUTCOMES = 3  # first model (by name) won, second won, tie
_CHUNK = 2_000_000  # terms per block when summing the chi-square series, to bound memory
_BLOCK = 1 << 20  # votes per block of per-vote temporaries
_COLUMNS = ("model_a", "model_b", "winner", "judge", "tstamp", "anony", "excluded_reason", "source")


@dataclass(frozen=True)
class AnomalousVoter:
    """One flagged voter. `voter` is the full id: keep it in-process; `short` is what may be shown."""

    voter: str
    votes: int
    p_value: float  # Fisher's combined p-value over all their votes
    flagged_at: int  # the vote (1-based, time order) at which the sequential test crossed its threshold
    p_value_at_flag: float
    threshold: float  # alpha / number of looks for this voter
    disagreement: float  # share of their votes (on pairs others voted on) against the others' majority; NaN: none

    @property
    def short(self) -> str:
        return self.voter[:SHOWN_PREFIX] + "…"

    def to_dict(self) -> dict[str, Any]:
        return {
            "voter": self.short,
            "votes": self.votes,
            "p_value": self.p_value,
            "flagged_at": self.flagged_at,
            "p_value_at_flag": self.p_value_at_flag,
            "threshold": self.threshold,
            "disagreement": _number(self.disagreement),
        }


@dataclass(frozen=True)
class AnomalyReport:
    voters: tuple[AnomalousVoter, ...]  # flagged voters, most significant first
    alpha: float
    min_votes: int
    prior: float
    mid_p: bool
    human_votes: int  # counted human votes
    voters_tested: int  # voters with at least min_votes votes
    votes_tested: int  # their votes
    unattributed: int  # counted human votes without a voter id: history only
    votes_flagged: int  # counted human votes of the flagged voters
    typical_disagreement: float  # median share against the majority among the tested voters not flagged
    flagged: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "flagged", frozenset(v.voter for v in self.voters))

    def summary(self, *, excluded: bool = True) -> str:
        """What was found and what happened to it."""
        if not self.voters:
            return (
                f"No anomalous voters among the {self.voters_tested:,} with at least {self.min_votes} votes; "
                f"all {self.human_votes:,} human votes count."
            )
        fate = "are excluded from the ratings" if excluded else "still count (kept on request)"
        return (
            f"{len(self.voters)} of {self.voters_tested:,} voters with at least {self.min_votes} votes voted unlike "
            f"everyone else; their {self.votes_flagged:,} of {self.human_votes:,} human votes {fate}."
        )

    def rule(self) -> str:
        typical = (
            f" (a typical voter: {self.typical_disagreement:.0%})" if math.isfinite(self.typical_disagreement) else ""
        )
        return (
            f"A voter's votes are compared with everyone else's on the same pairs of models; flagged when Fisher's "
            f"combined p-value, tested after each vote from vote {self.min_votes} on, falls below {self.alpha:g} / "
            f"number of tests. Against the majority: the share of the voter's votes unlike the others' most common "
            f"vote on that pair{typical}."
        )

    def lines(self, *, excluded: bool = True) -> list[str]:
        """The summary, one line per flagged voter, and the rule, for a terminal."""
        rows = [
            f"  {v.short:<{SHOWN_PREFIX + 1}}  {v.votes:>5} votes  p {v.p_value:.1e}  flagged at vote {v.flagged_at}"
            f"  against the majority {_percent(v.disagreement)}"
            for v in self.voters
        ]
        return [self.summary(excluded=excluded), *rows, self.rule()]

    def markdown(self, *, excluded: bool = True) -> str:
        lines = [self.summary(excluded=excluded)]
        if self.voters:
            lines += [
                "",
                "| voter | votes | p-value | flagged at vote | against the majority |",
                "|---|---:|---:|---:|---:|",
            ]
            lines += [
                f"| {v.short} | {v.votes} | {v.p_value:.1e} | {v.flagged_at} | {_percent(v.disagreement)} |"
                for v in self.voters
            ]
        return "\n".join([*lines, "", self.rule()])

    def to_dict(self, *, excluded: bool = True) -> dict[str, Any]:
        """Plain JSON for the page; voter ids only as a short prefix."""
        return {
            "text": self.markdown(excluded=excluded),
            "excluded": excluded,
            "alpha": self.alpha,
            "min_votes": self.min_votes,
            "prior": self.prior,
            "mid_p": self.mid_p,
            "human_votes": self.human_votes,
            "voters_tested": self.voters_tested,
            "votes_tested": self.votes_tested,
            "unattributed": self.unattributed,
            "voters_flagged": len(self.voters),
            "votes_flagged": self.votes_flagged,
            "typical_disagreement": _number(self.typical_disagreement),
            "voters": [v.to_dict() for v in self.voters],
        }


def _number(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _percent(value: float) -> str:
    return f"{value:.0%}" if math.isfinite(value) else "n/a"


def detect_anomalous_voters(
    battles: pd.DataFrame,
    *,
    alpha: float = ALPHA,
    min_votes: int = MIN_VOTES,
    prior: float = PRIOR,
    mid_p: bool = True,
) -> AnomalyReport:
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be within (0, 1), got {alpha}")
    if min_votes < 1:
        raise ValueError(f"min_votes must be at least 1, got {min_votes}")
    if not prior > 0.0:
        # with no prior an outcome nobody else chose has probability 0 and one vote would flag its voter
        raise ValueError(f"prior must be positive, got {prior}")
    # Only the columns the test reads, and only counted human votes: a narrow copy of millions of rows.
    votes = counted(normalize_battles(battles)[list(_COLUMNS)], source="human")
    voter, names = voter_codes(votes["judge"])
    attributed = voter >= 0
    p_value, against = _vote_evidence(votes, voter, prior=prior, mid_p=mid_p)
    sizes = np.bincount(voter[attributed], minlength=len(names))
    eligible = sizes >= min_votes
    tested = np.flatnonzero(attributed & eligible[np.maximum(voter, 0)])
    known = tested[against[tested] >= 0]
    opposed = np.bincount(voter[known], weights=against[known], minlength=len(names))
    judged = np.bincount(voter[known], minlength=len(names))
    with np.errstate(invalid="ignore", divide="ignore"):
        shares = np.where(judged > 0, opposed / np.maximum(judged, 1), np.nan)
    flagged = _sequential_test(
        tested, voter, votes["tstamp"].to_numpy(dtype=float), p_value, shares, sizes, names, alpha=alpha,
        min_votes=min_votes,
    )  # fmt: skip
    ordered = tuple(sorted(flagged, key=lambda v: (v.p_value, v.voter)))
    typical_pool = eligible & ~np.isin(names, [v.voter for v in ordered]) & ~np.isnan(shares)
    typical = float(np.median(shares[typical_pool])) if typical_pool.any() else math.nan
    return AnomalyReport(
        voters=ordered,
        alpha=alpha,
        min_votes=min_votes,
        prior=prior,
        mid_p=mid_p,
        human_votes=len(votes),
        voters_tested=int(eligible.sum()),
        votes_tested=int(sizes[eligible].sum()),
        unattributed=int((~attributed).sum()),
        votes_flagged=sum(v.votes for v in ordered),
        typical_disagreement=typical,
    )


def exclude_anomalous(battles: pd.DataFrame, report: AnomalyReport) -> pd.DataFrame:
    """The battles with every human vote of a flagged voter excluded (rows kept, so totals still add up).

    A vote already excluded for another reason keeps that reason.
    """
    battles = normalize_battles(battles)
    if not report.flagged:
        return battles
    voter, names = voter_codes(battles["judge"])
    flagged = np.flatnonzero(np.isin(names, list(report.flagged)))
    hit = (
        (battles["source"] == "human").to_numpy()
        & np.isin(voter, flagged)
        & battles["excluded_reason"].isna().to_numpy()
    )
    reason = battles["excluded_reason"]
    if isinstance(reason.dtype, pd.CategoricalDtype):
        if EXCLUDED_REASON not in reason.cat.categories:
            reason = reason.cat.add_categories([EXCLUDED_REASON])
    else:
        reason = reason.astype(object)
    reason = reason.copy()
    reason[hit] = EXCLUDED_REASON
    battles["excluded_reason"] = reason
    return battles


def voter_codes(judge: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Each vote's voter (the `judge` column, blanks stripped) as an index into the sorted voter names; -1 for a
    vote without one. Works on a categorical column's categories, not on every row."""
    if isinstance(judge.dtype, pd.CategoricalDtype):
        stripped = np.array([str(name).strip() for name in judge.cat.categories], dtype=object)
        category_codes, names = pd.factorize(stripped, sort=True)
        codes = np.r_[category_codes, -1][judge.cat.codes.to_numpy()]  # code -1 (missing) stays -1
    else:
        codes, names = pd.factorize(judge.fillna("").astype(str).str.strip().to_numpy(dtype=object), sort=True)
    names = np.asarray(names, dtype=object)
    blank = np.flatnonzero(names == "")
    if len(blank):
        codes = np.where(codes == blank[0], -1, codes)
    return codes.astype(np.int64), names


def _vote_evidence(
    votes: pd.DataFrame, voter: np.ndarray, *, prior: float, mid_p: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Per vote: the p-value against the other voters on that pair, and whether it went against their majority
    (1 against, 0 not, -1 nobody else voted on the pair). Computed in blocks of votes, so the per-outcome
    temporaries stay a block's size."""
    n = len(votes)
    if n == 0:
        return np.zeros(0), np.zeros(0, dtype=np.int8)
    model_a, model_b, names = model_codes(votes)  # indices into sorted names: comparing them compares names
    side = winner_sides(votes["winner"])
    outcome = np.where((side < 2) & (model_a > model_b), 1 - side, side).astype(np.int64)
    pair, pairs = pd.factorize(np.minimum(model_a, model_b) * len(names) + np.maximum(model_a, model_b))
    del model_a, model_b, side
    # Unattributed votes (code -1) are different people: each is its own voter here.
    own_index, own_keys = pd.factorize(np.where(voter >= 0, voter * len(pairs) + pair, -1 - np.arange(n)))
    totals = _counts(pair * _OUTCOMES + outcome, len(pairs))
    own = _counts(own_index * _OUTCOMES + outcome, len(own_keys))
    p_value, against = np.empty(n), np.empty(n, dtype=np.int8)
    for start in range(0, n, _BLOCK):
        block = slice(start, start + _BLOCK)
        others = totals[pair[block]] - own[own_index[block]]
        seen = np.take_along_axis(others, outcome[block, None], axis=1)
        probability = (others + prior) / (others.sum(axis=1, keepdims=True) + _OUTCOMES * prior)
        # Counts share one prior, so comparing counts compares probabilities without rounding trouble.
        rarer = np.where(others < seen, probability, 0.0).sum(axis=1)
        as_rare = np.where(others == seen, probability, 0.0).sum(axis=1)
        p_value[block] = np.clip(rarer + (0.5 if mid_p else 1.0) * as_rare, np.finfo(float).tiny, 1.0)
        history = others.sum(axis=1) > 0
        against[block] = np.where(history, seen[:, 0] < others.max(axis=1), -1)
    return p_value, against


def _counts(codes: np.ndarray, groups: int) -> np.ndarray:
    return np.bincount(codes, minlength=groups * _OUTCOMES).reshape(groups, _OUTCOMES)


def _sequential_test(
    tested: np.ndarray,
    voter: np.ndarray,
    tstamp: np.ndarray,
    p_value: np.ndarray,
    shares: np.ndarray,
    sizes: np.ndarray,
    names: np.ndarray,
    *,
    alpha: float,
    min_votes: int,
) -> list[AnomalousVoter]:
    """`tested`: the rows of the voters tested; per voter (code): `shares` against the majority, `sizes` votes."""
    if len(tested) == 0:
        return []
    # Each voter's votes in time order (ties: row order). The store's votes come in time order, so a stable sort
    # by voter alone does it then.
    times = tstamp[tested]
    if (times[1:] < times[:-1]).any():
        rows = tested[np.lexsort((tested, times, voter[tested]))]
    else:
        rows = tested[np.argsort(voter[tested], kind="stable")]
    del times
    by_voter = voter[rows]
    statistic = np.cumsum(-2.0 * np.log(p_value[rows]))
    starts = np.flatnonzero(np.r_[True, by_voter[1:] != by_voter[:-1]])
    lengths = np.diff(np.r_[starts, len(rows)])
    owner = by_voter[starts]
    del rows, by_voter
    before = np.r_[0.0, statistic][starts]
    log_thresholds = np.log(alpha / (lengths - min_votes + 1))

    def looks(at: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """For sorted positions: the voter's group, the vote's rank k, Fisher's statistic, the log threshold."""
        group = np.searchsorted(starts, at, side="right") - 1
        return group, at - starts[group] + 1, statistic[at] - before[group], log_thresholds[group]

    # A Chernoff bound rules out most looks for nothing: log sf(x; 2k) <= -k (z - 1 - log z), z = x / 2k > 1.
    # Screened in blocks of votes, so its temporaries stay a block's size.
    screened: list[np.ndarray] = []
    for start in range(0, len(statistic), _BLOCK):
        at = np.arange(start, min(start + _BLOCK, len(statistic)))
        _, k, fisher, log_threshold = looks(at)
        z = fisher / (2.0 * k)
        bound = np.where(z > 1.0, -k * (z - 1.0 - np.log(np.maximum(z, 1.0))), 0.0)
        screened.append(at[(k >= min_votes) & (bound < log_threshold)])
    candidate = np.concatenate(screened)
    if len(candidate) == 0:
        return []
    group, k, fisher, log_threshold = looks(candidate)
    # Only each voter's first crossing matters: test the candidates in rounds of doubling size, in time order,
    # and drop a voter once crossed, so a bot with 20,000 votes costs a few hundred exact tails, not 20,000.
    rank = np.arange(len(candidate)) - np.searchsorted(group, group)
    done = np.zeros(len(starts), dtype=bool)
    firsts: list[np.ndarray] = []
    low, width = 0, 64
    while low <= rank.max():
        pick = np.flatnonzero((rank >= low) & (rank < low + width))
        pick = pick[~done[group[pick]]]
        crossed = pick[chi2_logsf_even(fisher[pick], 2 * k[pick]) < log_threshold[pick]] if len(pick) else pick
        first_here = crossed[np.r_[True, group[crossed][1:] != group[crossed][:-1]]] if len(crossed) else crossed
        firsts.append(first_here)
        done[group[first_here]] = True
        low, width = low + width, 2 * width
    first = np.sort(np.concatenate(firsts))
    if len(first) == 0:
        return []
    groups = group[first]
    last = starts[groups] + lengths[groups] - 1
    at_flag = chi2_sf_even(fisher[first], 2 * k[first])
    overall = chi2_sf_even(statistic[last] - before[groups], 2 * lengths[groups])
    return [
        AnomalousVoter(
            voter=str(names[owner[g]]),
            votes=int(sizes[owner[g]]),
            p_value=float(overall[i]),
            flagged_at=int(k[row]),
            p_value_at_flag=float(at_flag[i]),
            threshold=float(alpha / (lengths[g] - min_votes + 1)),
            disagreement=float(shares[owner[g]]),
        )
        for i, (row, g) in enumerate(zip(first, groups, strict=True))
    ]


def chi2_logsf_even(x: np.ndarray | float, df: np.ndarray | int) -> np.ndarray:
    """log P(X > x) for X chi-square with an even number of degrees of freedom df = 2k, exactly.

    sf(x; 2k) = exp(-x/2) * sum_{i<k} (x/2)^i / i!, the chance that a Poisson(x/2) count is below k. Its
    terms peak at i = min(k - 1, x/2) and fall off like a Gaussian of sd sqrt(x/2) around the peak, so only
    the terms within 12 sd (+20) of it are summed (the rest are below 1e-30 of the peak), in log space.
    """
    y = np.asarray(x, dtype=float) / 2.0
    dof = np.asarray(df)
    y, dof = np.broadcast_arrays(y, dof)
    if np.any(dof < 2) or np.any(dof % 2):
        raise ValueError("df must be a positive even integer")
    if np.any(y < 0) or np.any(np.isnan(y)):
        raise ValueError("x must be a non-negative number")
    y = y.ravel()
    k = (dof.ravel() // 2).astype(np.int64)
    result = np.zeros(len(y))
    peak = np.minimum(k - 1, np.floor(y)).astype(np.int64)
    width = np.ceil(12.0 * np.sqrt(y) + 20.0).astype(np.int64)
    low = np.maximum(0, peak - width)
    high = np.minimum(k - 1, peak + width)
    count = high - low + 1
    log_y = np.log(np.maximum(y, np.finfo(float).tiny))
    # lgamma per integer, not a running sum of logs, whose rounding drifts by 1e-11 over thousands of terms
    log_factorial = np.array([math.lgamma(i + 1.0) for i in range(int(high.max(initial=0)) + 1)])
    begin = 0
    while begin < len(y):
        # blocks of whole series, each block at most _CHUNK terms (or one series longer than that)
        end = begin + max(1, int(np.searchsorted(np.cumsum(count[begin:]), _CHUNK, side="right")))
        block = slice(begin, end)
        sizes = count[block]
        offsets = np.r_[0, np.cumsum(sizes)[:-1]]
        series = np.repeat(np.arange(end - begin), sizes)
        i = low[block][series] + np.arange(int(sizes.sum())) - offsets[series]
        terms = i * log_y[block][series] - log_factorial[i]
        top = np.maximum.reduceat(terms, offsets)
        total = np.add.reduceat(np.exp(terms - top[series]), offsets)
        result[block] = -y[block] + top + np.log(total)
        begin = end
    return np.minimum(result, 0.0).reshape(dof.shape)


def chi2_sf_even(x: np.ndarray | float, df: np.ndarray | int) -> np.ndarray:
    return np.exp(chi2_logsf_even(x, df))
