"""Vote stuffing: one address (or one /24 network) opening session after session to push one model (pure).

    screen_stuffing(votes, *, alpha=1e-3, min_sessions=3, burst_window=3600, burst_weight=10) -> StuffingReport
    stuffed_votes(votes, report) -> bool array     (the votes of a flagged source in battles of its model)
    StuffingReport.summary() / rule() / markdown() / to_dict()

`votes`: the counted human votes, one row each: model_a, model_b, winner (model_a | model_b | tie |
tie (bothbad)), voter (salted hash of address + browser session), client (salted hash of the address),
network (salted hash of the address's /24 or /48) and tstamp (unix seconds). client, network, voter and
tstamp may be missing or blank: a vote without a client is reference for the others and never screened.

Why: a voter id is one browser session, so anomaly.py, which tests a voter from its 10th vote, cannot see
one client opening 20 sessions of a few votes each. Here the votes are grouped by where they came from.

The method:
- Sources: each address (client), and each network holding at least two screened addresses (a network with
  one address is that address again), so an attacker rotating addresses within one /24 is one source.
  Sessions = distinct voter ids of the source; a burst = `min_sessions` sessions or more first seen within
  `burst_window` seconds.
- And one pool by session churn: the votes of every address that opened at least `min_sessions` sessions of
  at most CHURN_VOTES_PER_SESSION votes each on average (kind "churn"). An attacker spread over many addresses
  in many networks, a few throw-away sessions each, is too thin per address to be significant after the
  multiple-testing share of every address; pooled, the same votes are one strong finding. When the pool is
  flagged for a model, its members whose votes on that model all went the flagged way (and who voted on it at
  least as often as on anything else) are the ones named (`members`); honest churners who happened to vote so
  are the price, bounded by how rarely the pool as a whole is flagged.
- Only sources with at least `min_sessions` sessions are tested: this screen is about session churn. A source
  with one or two sessions is one or two voters, whom anomaly.py tests from their 10th vote; below that, one
  person voting 9 times for a favourite is as likely a fan as a fraud, and flagging them is the bigger harm.
- Per tested source and per model it voted on, two directions: "for" (the model won outright; ties count as
  not won: a stuffer gains nothing from them) and "against" (the model lost outright: sinking a rival is
  stuffing too). Each direction has two one-sided tests on the count k of such votes:
  * outcome: among the source's n votes in battles of the model, each vote's chance of the outcome is the
    other sources' rate on that pair of models, leaving the source out (so a prolific attacker is not their
    own evidence), smoothed as (count + 1) / (votes + 2), so 1/2 for a pair nobody else voted on;
  * selective: among all the source's votes, each vote's chance that this model won (lost) it, from the other
    sources' votes in the same time bucket (equal-count buckets of BUCKET_VOTES votes, so a sampler that
    shows a new model more often for a while shifts the reference with it), shrunk toward the other sources'
    overall rate by SHRINK pseudo-votes (itself shrunk toward 1/m by PRIOR_VOTES). An honest voter votes on
    the battles the sampler gives; a stuffer skips the battles without the target. With 8 models the target is
    in 1 battle in 4, so 9 votes for it out of 9 weigh about (1/4)^9 more than the outcome test alone can see.
  Under "the source votes like everyone else", k is a sum of independent Bernoulli votes (Poisson-binomial);
  the p-value is its exact upper tail P(K >= k): a convolution of one binomial per pair (outcome) or per time
  bucket (selective). The direction's p-value is twice the smaller of the two (Bonferroni).
- Multiple testing: weighted Bonferroni over the (source, model, direction) tests performed. A test's level
  is alpha * w / sum(w), with w = `burst_weight` for a source with a burst and 1 otherwise: bursts are rare in
  honest traffic and are the attack's signature, so they get more of the error budget; whatever the weights,
  the chance that anything at all is flagged in honest traffic stays at most `alpha` (1e-3: a snapshot
  refreshed hourly false-flags about once in six weeks, if votes were exactly the model; honest taste is
  more varied than that, so a lower error budget than anomaly.py's per-voter 0.01 is kept).
- Cost: group-bys over the votes and the tests, no Python loop per vote or per test. A Chernoff bound
  (P(K >= k) <= exp(-n KL(k/n, mean)), valid for a Poisson-binomial) rules out nearly every test; the exact
  tail is only computed for the rest, one small convolution each. Beyond EXACT_LIMIT votes a test uses the
  binomial tail at the mean probability instead (Hoeffding 1956: an upper bound of the Poisson-binomial tail
  that far above the mean, so still a valid test).

Power (the default settings; see tests/test_stuffing.py): an address with 20 sessions that votes 9 times, only
in battles of a weak model and always for it, is flagged among thousands of honest votes; so is a /24 whose 10
addresses vote 3 times each that way. Sources that do not share an address or a network, one or two sessions
each, are honest-looking voters to this screen: nothing in the votes ties them together.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from leaderboard.outcomes import model_codes, winner_sides

EXCLUDED_REASON = "vote stuffing"
ALPHA = 1e-3
MIN_SESSIONS = 3
BURST_WINDOW = 3600.0  # seconds
BURST_WEIGHT = 10.0
CHURN_VOTES_PER_SESSION = 2.0  # an address whose sessions cast this many votes or fewer on average churns
CHURN_KEY = "churn"
BUCKET_VOTES = 20_000  # votes per time bucket of the selective test's reference
SHRINK = 1_000.0  # pseudo-votes of the overall rate in a bucket's rate
PRIOR_VOTES = 50.0  # pseudo-votes of the uniform rate 1/m in the overall rate
EXACT_LIMIT = 20_000  # votes in one test beyond which the binomial bound replaces the exact tail
SHOWN_PREFIX = 8  # characters of a hash shown on the page
KINDS = ("address", "network")  # the kinds of source a store can flag; a churn finding names addresses
DIRECTIONS = ("for", "against")
TESTS = ("outcome", "selective")
_REQUIRED = ("model_a", "model_b", "winner")
_TINY = np.finfo(float).tiny
_BLOCK = 1 << 20  # (test, bucket) rows per block


@dataclass(frozen=True)
class FlaggedSource:
    """One source that pushed (or sank) one model. `key` is the full hash: keep it in-process; `short` is shown."""

    key: str  # the client hash (kind "address"), the network hash (kind "network"), or CHURN_KEY
    kind: str  # "address" | "network" | "churn"
    model: str
    direction: str  # "for": the model won its votes; "against": it lost them
    test: str  # the test that gave the smaller p-value: "outcome" | "selective"
    votes: int  # the source's votes in battles of the model
    wins: int  # of them, the votes the model won ("for") or lost ("against")
    expected: float  # that count expected from other voters, by the test named in `test`
    p_value: float  # twice the smaller p-value of the two tests (capped at 1)
    threshold: float  # the level this test had to beat (weighted Bonferroni)
    source_votes: int  # all the source's votes
    sessions: int
    addresses: int  # distinct addresses (1 for an address)
    busiest: int  # most sessions first seen within one burst window
    evidence: str  # one sentence for people; hashes only as a short prefix
    members: tuple[str, ...] = ()  # kind "churn": the addresses (client hashes) whose votes made the finding

    @property
    def short(self) -> str:
        return self.key if self.kind == "churn" else self.key[:SHOWN_PREFIX] + "…"

    def sources(self) -> tuple[tuple[str, str], ...]:
        """What to flag, as (kind, key): the source itself, or for a churn finding each member address."""
        return tuple(("address", m) for m in self.members) if self.kind == "churn" else ((self.kind, self.key),)

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.short,
            "kind": self.kind,
            "model": self.model,
            "direction": self.direction,
            "test": self.test,
            "votes": self.votes,
            "wins": self.wins,
            "expected": self.expected,
            "p_value": self.p_value,
            "threshold": self.threshold,
            "source_votes": self.source_votes,
            "sessions": self.sessions,
            "addresses": self.addresses,
            "busiest": self.busiest,
            "evidence": self.evidence,
            "members": len(self.members),
        }


@dataclass(frozen=True)
class StuffingReport:
    flagged: tuple[FlaggedSource, ...]  # most significant first
    alpha: float
    min_sessions: int
    burst_window: float
    burst_weight: float
    votes: int  # votes given
    screened_votes: int  # votes with an address
    addresses: int  # distinct addresses
    networks: int  # networks with at least two addresses
    sources_tested: int  # addresses and networks with at least min_sessions sessions
    bursts: int  # of them, those with a burst
    tests: int  # (source, model, direction) tests performed
    votes_flagged: int  # distinct votes of flagged sources in battles of their model

    def summary(self) -> str:
        if not self.flagged:
            return (
                f"No vote stuffing found among the {self.sources_tested:,} addresses and networks with at least "
                f"{self.min_sessions} sessions ({self.screened_votes:,} of {self.votes:,} votes screened)."
            )
        n = len(self.flagged)
        return (
            f"{n} source{'s' if n != 1 else ''} flagged for vote stuffing ({self.votes_flagged:,} vote"
            f"{'s' if self.votes_flagged != 1 else ''}), among {self.sources_tested:,} addresses and networks "
            f"with at least {self.min_sessions} sessions."
        )

    def rule(self) -> str:
        return (
            f"Votes are grouped by address, by network, and all together for the addresses that churn sessions "
            f"({CHURN_VOTES_PER_SESSION:g} votes or fewer each); a source with at least {self.min_sessions} sessions "
            f"is flagged when a model won (or lost) far more of its votes than other voters' votes on the same pairs, "
            f"or at the same time, would have it: p-value below {self.alpha:g} shared among the "
            f"{self.tests:,} tests, with {self.burst_weight:g} times the share for a source that opened "
            f"{self.min_sessions} sessions within {self.burst_window / 60:g} minutes."
        )

    def markdown(self) -> str:
        lines = [self.summary()]
        if self.flagged:
            lines += ["", *(f"- {f.evidence}" for f in self.flagged)]
        return "\n".join([*lines, "", self.rule()])

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON for the page; hashes only as a short prefix."""
        return {
            "text": self.markdown(),
            "summary": self.summary(),
            "alpha": self.alpha,
            "min_sessions": self.min_sessions,
            "burst_window": self.burst_window,
            "burst_weight": self.burst_weight,
            "votes": self.votes,
            "screened_votes": self.screened_votes,
            "addresses": self.addresses,
            "networks": self.networks,
            "sources_tested": self.sources_tested,
            "bursts": self.bursts,
            "tests": self.tests,
            "sources_flagged": len(self.flagged),
            "votes_flagged": self.votes_flagged,
            "flagged": [f.to_dict() for f in self.flagged],
        }


def screen_stuffing(
    votes: pd.DataFrame,
    *,
    alpha: float = ALPHA,
    min_sessions: int = MIN_SESSIONS,
    burst_window: float = BURST_WINDOW,
    burst_weight: float = BURST_WEIGHT,
) -> StuffingReport:
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be within (0, 1), got {alpha}")
    if min_sessions < 1:
        raise ValueError(f"min_sessions must be at least 1, got {min_sessions}")
    if not burst_window > 0.0:
        raise ValueError(f"burst_window must be positive, got {burst_window}")
    if not burst_weight >= 1.0:
        raise ValueError(f"burst_weight must be at least 1, got {burst_weight}")
    missing = [c for c in _REQUIRED if c not in votes.columns]
    if missing:
        raise ValueError(f"the votes lack the column(s) {', '.join(missing)}")
    settings = {"alpha": alpha, "min_sessions": min_sessions, "burst_window": burst_window}
    settings["burst_weight"] = burst_weight
    n = len(votes)
    client, clients = _codes(votes, "client")
    screened = client >= 0
    if n == 0 or not screened.any():
        return _empty(settings, votes=n, screened=int(screened.sum()), addresses=len(clients))
    data = _Votes.read(votes, client)
    groups = _Groups.build(data, clients, min_sessions=min_sessions, burst_window=burst_window)
    tested = np.flatnonzero(groups.sessions >= min_sessions)
    if len(tested) == 0:
        return _empty(settings, votes=n, screened=int(screened.sum()), addresses=len(clients), networks=groups.networks)
    tests = _Tests.build(data, groups, tested)
    weight = np.where(groups.busiest[tests.group] >= min_sessions, burst_weight, 1.0)
    level = alpha * weight / (2.0 * weight.sum())  # two directions per (source, model)
    flagged = _flag(data, groups, tests, level, burst_window=burst_window)
    flagged = _drop_repeats(flagged, votes)
    ordered = tuple(sorted(flagged, key=lambda f: (f.p_value, f.kind, f.key, f.model, f.direction)))
    report = StuffingReport(
        flagged=ordered,
        **settings,
        votes=n,
        screened_votes=int(screened.sum()),
        addresses=len(clients),
        networks=groups.networks,
        sources_tested=len(tested),
        bursts=int((groups.busiest[tested] >= min_sessions).sum()),
        tests=2 * len(tests.group),
        votes_flagged=0,
    )
    return _with_flagged_votes(report, votes)


def stuffed_votes(votes: pd.DataFrame, report: StuffingReport) -> np.ndarray:
    """Per vote: whether it came from a flagged source in a battle of the model that source pushed or sank.

    The caller excludes these with EXCLUDED_REASON; the source's other votes are left to count."""
    hit = np.zeros(len(votes), dtype=bool)
    if not report.flagged or len(votes) == 0:
        return hit
    model_a = votes["model_a"].astype(str).to_numpy(dtype=object)
    model_b = votes["model_b"].astype(str).to_numpy(dtype=object)
    keys = {kind: _strings(votes, "client" if kind == "address" else "network") for kind in KINDS}
    for flag in report.flagged:
        source = np.zeros(len(votes), dtype=bool)
        for kind, key in flag.sources():
            source |= keys[kind] == key
        hit |= source & ((model_a == flag.model) | (model_b == flag.model))
    return hit


# ---------------------------------------------------------------------------------------------------------------
# The votes as arrays


def _strings(votes: pd.DataFrame, column: str) -> np.ndarray:
    """The column as stripped strings, "" where missing."""
    if column not in votes.columns:
        return np.full(len(votes), "", dtype=object)
    return votes[column].fillna("").astype(str).str.strip().to_numpy(dtype=object)


def _codes(votes: pd.DataFrame, column: str) -> tuple[np.ndarray, np.ndarray]:
    """Each vote's value as an index into the sorted distinct values; -1 where missing or blank."""
    codes, names = pd.factorize(_strings(votes, column), sort=True)
    names = np.asarray(names, dtype=object)
    blank = np.flatnonzero(names == "")
    codes = codes.astype(np.int64)
    if len(blank):
        codes = np.where(codes == blank[0], -1, codes - (codes > blank[0]))
        names = np.delete(names, blank[0])
    return codes, names


@dataclass(frozen=True, eq=False)
class _Votes:
    """Per vote: models as codes, the winner and loser model (-1 for a tie), the pair, the time bucket."""

    names: tuple[str, ...]
    client: np.ndarray
    network: np.ndarray  # -1 where missing, or where the client is
    network_names: np.ndarray
    voter: np.ndarray  # session code; a vote without one is a session of its own
    tstamp: np.ndarray
    winner: np.ndarray
    loser: np.ndarray
    pair: np.ndarray  # index into pair_first / pair_second
    pair_first: np.ndarray  # the pair's models, first < second
    pair_second: np.ndarray
    pair_votes: np.ndarray  # all votes per pair, and outright wins of its first and second model
    pair_first_won: np.ndarray
    pair_second_won: np.ndarray
    bucket: np.ndarray
    bucket_votes: np.ndarray  # per bucket: votes; per bucket and model: wins and losses
    bucket_wins: np.ndarray
    bucket_losses: np.ndarray
    model_wins: np.ndarray  # per model, over all votes
    model_losses: np.ndarray

    @property
    def n_models(self) -> int:
        return len(self.names)

    @classmethod
    def read(cls, votes: pd.DataFrame, client: np.ndarray) -> _Votes:
        n = len(votes)
        side_a, side_b, names = model_codes(votes)
        m = len(names)
        side = winner_sides(votes["winner"])
        winner = np.where(side == 0, side_a, np.where(side == 1, side_b, -1))
        loser = np.where(side == 0, side_b, np.where(side == 1, side_a, -1))
        pair_keys, pair = np.unique(np.minimum(side_a, side_b) * m + np.maximum(side_a, side_b), return_inverse=True)
        pair = pair.ravel()
        first, second = pair_keys // m, pair_keys % m
        first_won = (winner >= 0) & (winner == first[pair])
        second_won = (winner >= 0) & (winner == second[pair])
        network, network_names = _codes(votes, "network")
        voter, voters = _codes(votes, "voter")
        voter = np.where(voter >= 0, voter, len(voters) + np.arange(n))
        tstamp = (
            pd.to_numeric(votes["tstamp"], errors="coerce").fillna(0.0).to_numpy(dtype=float)
            if "tstamp" in votes.columns
            else np.zeros(n)
        )
        n_buckets = max(1, round(n / BUCKET_VOTES))
        bucket = np.empty(n, dtype=np.int64)
        bucket[np.argsort(tstamp, kind="stable")] = np.arange(n) * n_buckets // n
        decisive = winner >= 0
        per_bucket = n_buckets * m
        return cls(
            names=names,
            client=client,
            network=np.where(client >= 0, network, -1),
            network_names=network_names,
            voter=voter,
            tstamp=tstamp,
            winner=winner,
            loser=loser,
            pair=pair,
            pair_first=first,
            pair_second=second,
            pair_votes=np.bincount(pair, minlength=len(pair_keys)).astype(float),
            pair_first_won=np.bincount(pair, weights=first_won, minlength=len(pair_keys)),
            pair_second_won=np.bincount(pair, weights=second_won, minlength=len(pair_keys)),
            bucket=bucket,
            bucket_votes=np.bincount(bucket, minlength=n_buckets).astype(float),
            bucket_wins=np.bincount(bucket[decisive] * m + winner[decisive], minlength=per_bucket)
            .reshape(n_buckets, m)
            .astype(float),
            bucket_losses=np.bincount(bucket[decisive] * m + loser[decisive], minlength=per_bucket)
            .reshape(n_buckets, m)
            .astype(float),
            model_wins=np.bincount(winner[decisive], minlength=m).astype(float),
            model_losses=np.bincount(loser[decisive], minlength=m).astype(float),
        )


@dataclass(frozen=True, eq=False)
class _Groups:
    """Sources: addresses 0..C-1, then the networks with two addresses or more, then the churn pool if any
    address churns. Membership: (vote, source) rows."""

    keys: np.ndarray  # per source: the hash
    kinds: np.ndarray  # per source: "address" | "network" | "churn"
    networks: int
    churners: np.ndarray  # the addresses (codes) in the churn pool
    member_vote: np.ndarray
    member_group: np.ndarray
    size: np.ndarray  # per source: votes, sessions, addresses, most sessions first seen within one window
    sessions: np.ndarray
    addresses: np.ndarray
    busiest: np.ndarray

    @classmethod
    def build(cls, data: _Votes, clients: np.ndarray, *, min_sessions: int, burst_window: float) -> _Groups:
        n_clients = len(clients)
        addressed = np.flatnonzero(data.client >= 0)
        networked = np.flatnonzero(data.network >= 0)
        pairs = np.unique(data.network[networked] * n_clients + data.client[networked])
        per_network = np.bincount(pairs // n_clients)
        shared = np.flatnonzero(per_network >= 2)
        index = np.full(len(per_network), -1, dtype=np.int64)
        index[shared] = np.arange(len(shared))
        networked = networked[index[data.network[networked]] >= 0]
        # the churn pool: addresses with min_sessions sessions or more, few votes per session
        n_voters = int(data.voter.max()) + 1
        own_sessions = np.bincount(
            np.unique(data.client[addressed] * n_voters + data.voter[addressed]) // n_voters, minlength=n_clients
        )
        own_votes = np.bincount(data.client[addressed], minlength=n_clients)
        churners = np.flatnonzero(
            (own_sessions >= min_sessions) & (own_votes <= CHURN_VOTES_PER_SESSION * np.maximum(own_sessions, 1))
        )
        pooled = addressed[np.isin(data.client[addressed], churners)] if len(churners) else addressed[:0]
        n_pools = 1 if len(churners) else 0
        member_vote = np.concatenate([addressed, networked, pooled])
        member_group = np.concatenate(
            [
                data.client[addressed],
                n_clients + index[data.network[networked]],
                np.full(len(pooled), n_clients + len(shared), dtype=np.int64),
            ]
        )
        n_groups = n_clients + len(shared) + n_pools
        keys = np.concatenate(
            [
                np.asarray(clients, dtype=object),
                data.network_names[shared],
                np.array([CHURN_KEY] * n_pools, dtype=object),
            ]
        )
        kinds = np.array(["address"] * n_clients + ["network"] * len(shared) + ["churn"] * n_pools, dtype=object)
        # sessions (distinct voters) and addresses per source
        session_of = member_group * n_voters + data.voter[member_vote]
        session_keys = np.unique(session_of)
        session_group = session_keys // n_voters
        sessions = np.bincount(session_group, minlength=n_groups)
        addresses = np.bincount(
            np.unique(member_group * n_clients + data.client[member_vote]) // n_clients, minlength=n_groups
        )
        # each session's first vote within the source, then the busiest window of first votes
        times = data.tstamp[member_vote]
        first_time = np.full(len(session_keys), np.inf)
        np.minimum.at(first_time, np.searchsorted(session_keys, session_of), times)
        busiest = _busiest(session_group, first_time, n_groups, burst_window, only=sessions >= min_sessions)
        return cls(
            keys=keys,
            kinds=kinds,
            networks=len(shared),
            churners=churners,
            member_vote=member_vote,
            member_group=member_group,
            size=np.bincount(member_group, minlength=n_groups),
            sessions=sessions,
            addresses=addresses,
            busiest=busiest,
        )


def _busiest(group: np.ndarray, first_time: np.ndarray, n_groups: int, window: float, only: np.ndarray) -> np.ndarray:
    """Per source: the most sessions first seen within `window` seconds (sources not in `only`: 0)."""
    busiest = np.zeros(n_groups, dtype=np.int64)
    keep = only[group]
    group, first_time = group[keep], first_time[keep]
    if len(group) == 0:
        return busiest
    order = np.lexsort((first_time, group))
    group, first_time = group[order], first_time[order]
    # Whole seconds, offset per source, so one sorted array answers every source's window.
    seconds = np.floor(first_time - first_time.min()).astype(np.int64)
    width = math.ceil(window)
    span = int(seconds.max()) + width + 1
    position = group * span + seconds
    ends = np.searchsorted(position, position + width, side="left")
    np.maximum.at(busiest, group, ends - np.arange(len(group)))
    return busiest


@dataclass(frozen=True, eq=False)
class _Tests:
    """One row per tested (source, model); each has the components of its two tests, both directions."""

    group: np.ndarray
    model: np.ndarray
    votes: np.ndarray  # the source's votes in battles of the model
    wins: np.ndarray  # of them, won / lost by the model
    losses: np.ndarray
    mean_wins: np.ndarray  # outcome test: expected wins, expected losses
    mean_losses: np.ndarray
    source_votes: np.ndarray  # selective test: all the source's votes, expected wins, expected losses
    chance_wins: np.ndarray
    chance_losses: np.ndarray
    # outcome components, sorted by test: votes, chance of a win, chance of a loss
    pair_start: np.ndarray
    pair_votes: np.ndarray
    pair_win: np.ndarray
    pair_loss: np.ndarray
    pair_other: np.ndarray  # the other model of the pair, and the source's wins and losses of the tested one
    pair_wins: np.ndarray
    pair_losses: np.ndarray
    # selective components: per source, its (source, bucket) cells; the source's own wins and losses per
    # (source, model, bucket); the other sources' overall rates per test
    cell_start: np.ndarray
    cell_bucket: np.ndarray
    cell_votes: np.ndarray
    own_wins: _Counter
    own_losses: _Counter
    overall_win: np.ndarray
    overall_loss: np.ndarray

    @classmethod
    def build(cls, data: _Votes, groups: _Groups, tested: np.ndarray) -> _Tests:
        m = data.n_models
        keep = np.isin(groups.member_group, tested)
        vote, group = groups.member_vote[keep], groups.member_group[keep]
        # Outcome test: per (source, pair), the source's votes and outright wins of each model, against the
        # other sources' rates on the pair.
        n_pairs = len(data.pair_votes)
        rows, inverse = np.unique(group * n_pairs + data.pair[vote], return_inverse=True)
        row_group, row_pair = rows // n_pairs, rows % n_pairs
        own = np.bincount(inverse, minlength=len(rows)).astype(float)
        first_won = (data.winner[vote] >= 0) & (data.winner[vote] == data.pair_first[data.pair[vote]])
        second_won = (data.winner[vote] >= 0) & (data.winner[vote] == data.pair_second[data.pair[vote]])
        own_first = np.bincount(inverse, weights=first_won, minlength=len(rows))
        own_second = np.bincount(inverse, weights=second_won, minlength=len(rows))
        others = data.pair_votes[row_pair] - own
        p_first = (data.pair_first_won[row_pair] - own_first + 1.0) / (others + 2.0)
        p_second = (data.pair_second_won[row_pair] - own_second + 1.0) / (others + 2.0)
        # Each (source, pair) row serves the tests of both its models.
        test_key = np.concatenate(
            [row_group * m + data.pair_first[row_pair], row_group * m + data.pair_second[row_pair]]
        )
        comp_votes = np.concatenate([own, own])
        comp_win = np.concatenate([p_first, p_second])
        comp_loss = np.concatenate([p_second, p_first])
        comp_wins = np.concatenate([own_first, own_second])
        comp_losses = np.concatenate([own_second, own_first])
        keys, test = np.unique(test_key, return_inverse=True)
        n_tests = len(keys)
        test_group, test_model = keys // m, keys % m
        order = np.argsort(test, kind="stable")
        pair_start = np.searchsorted(test[order], np.arange(n_tests + 1))
        wins = np.bincount(test, weights=comp_wins, minlength=n_tests)
        losses = np.bincount(test, weights=comp_losses, minlength=n_tests)
        # Selective test: per (source, bucket), the source's votes; per (source, model, bucket) its wins and
        # losses, against the other sources' rate of that model's wins (losses) in the bucket.
        n_buckets = len(data.bucket_votes)
        cells, cell_inverse = np.unique(group * n_buckets + data.bucket[vote], return_inverse=True)
        decisive = data.winner[vote] >= 0
        key_base = group[decisive] * m
        source_votes = groups.size[test_group].astype(float)
        total = float(len(data.tstamp))
        tests = cls(
            group=test_group,
            model=test_model,
            votes=np.bincount(test, weights=comp_votes, minlength=n_tests),
            wins=wins,
            losses=losses,
            mean_wins=np.bincount(test, weights=comp_votes * comp_win, minlength=n_tests),
            mean_losses=np.bincount(test, weights=comp_votes * comp_loss, minlength=n_tests),
            source_votes=source_votes,
            chance_wins=np.zeros(n_tests),
            chance_losses=np.zeros(n_tests),
            pair_start=pair_start,
            pair_votes=comp_votes[order],
            pair_win=comp_win[order],
            pair_loss=comp_loss[order],
            pair_other=np.concatenate([data.pair_second[row_pair], data.pair_first[row_pair]])[order],
            pair_wins=comp_wins[order],
            pair_losses=comp_losses[order],
            cell_start=np.searchsorted(cells // n_buckets, np.arange(len(groups.size) + 1)),
            cell_bucket=cells % n_buckets,
            cell_votes=np.bincount(cell_inverse, minlength=len(cells)).astype(float),
            own_wins=_Counter.of((key_base + data.winner[vote][decisive]) * n_buckets + data.bucket[vote][decisive]),
            own_losses=_Counter.of((key_base + data.loser[vote][decisive]) * n_buckets + data.bucket[vote][decisive]),
            # A young arena has few other votes: they are shrunk toward 1/m, what uniform pairs give a model of
            # average strength (in 2 battles of m, half of them won), so an early fan is not measured against
            # nothing.
            overall_win=(data.model_wins[test_model] - wins + PRIOR_VOTES / m) / (total - source_votes + PRIOR_VOTES),
            overall_loss=(data.model_losses[test_model] - losses + PRIOR_VOTES / m)
            / (total - source_votes + PRIOR_VOTES),
        )
        # the expected counts, in blocks of tests so that the per-(test, bucket) temporaries stay small
        reps = tests.cell_start[test_group + 1] - tests.cell_start[test_group]
        ends = np.cumsum(reps)
        start = 0
        while start < n_tests:
            stop = max(start + 1, int(np.searchsorted(ends, (ends[start - 1] if start else 0) + _BLOCK, side="right")))
            rows = np.arange(start, min(stop, n_tests))
            owner, in_cell, win, loss = tests.selective(data, rows)
            tests.chance_wins[rows] = np.bincount(owner, weights=in_cell * win, minlength=len(rows))
            tests.chance_losses[rows] = np.bincount(owner, weights=in_cell * loss, minlength=len(rows))
            start = stop
        return tests

    def selective(self, data: _Votes, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The selective test's components of the tests `rows`, one per (test, bucket the source voted in):
        (position in rows, the source's votes in the bucket, chance of a win, chance of a loss)."""
        group, model = self.group[rows], self.model[rows]
        reps = self.cell_start[group + 1] - self.cell_start[group]
        owner = np.repeat(np.arange(len(rows)), reps)
        offsets = np.cumsum(reps) - reps
        cell = self.cell_start[group][owner] + np.arange(int(reps.sum())) - offsets[owner]
        bucket, in_cell, model = self.cell_bucket[cell], self.cell_votes[cell], model[owner]
        n_buckets = len(data.bucket_votes)
        query = (group[owner] * data.n_models + model) * n_buckets + bucket
        rest = data.bucket_votes[bucket] - in_cell + SHRINK
        win = (data.bucket_wins[bucket, model] - self.own_wins(query) + SHRINK * self.overall_win[rows][owner]) / rest
        loss = (
            data.bucket_losses[bucket, model] - self.own_losses(query) + SHRINK * self.overall_loss[rows][owner]
        ) / rest
        return owner, in_cell, np.clip(win, _TINY, 1.0), np.clip(loss, _TINY, 1.0)


@dataclass(frozen=True, eq=False)
class _Counter:
    """How many times each key occurs: counter(keys) for an array of keys."""

    keys: np.ndarray
    counts: np.ndarray

    @classmethod
    def of(cls, keys: np.ndarray) -> _Counter:
        unique, counts = np.unique(keys, return_counts=True)
        return cls(unique, counts)

    def __call__(self, asked: np.ndarray) -> np.ndarray:
        if len(self.keys) == 0:
            return np.zeros(len(asked))
        at = np.minimum(np.searchsorted(self.keys, asked), len(self.keys) - 1)
        return np.where(self.keys[at] == asked, self.counts[at], 0).astype(float)


# ---------------------------------------------------------------------------------------------------------------
# The tests


def _log_chernoff(n: np.ndarray, k: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """log of exp(-n KL(k/n || mean/n)) for k above the mean, else 0: an upper bound of log P(K >= k)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        x = np.where(n > 0, k / np.maximum(n, 1.0), 0.0)
        q = np.clip(np.where(n > 0, mean / np.maximum(n, 1.0), 0.0), _TINY, 1.0 - 1e-15)
        first = np.where(x > 0, x * np.log(np.maximum(x, _TINY) / q), 0.0)
        second = np.where(x < 1, (1.0 - x) * np.log(np.maximum(1.0 - x, _TINY) / (1.0 - q)), 0.0)
        bound = -n * (first + second)
    return np.where((k > mean) & (n > 0), np.minimum(bound, 0.0), 0.0)


def _upper_tail(counts: np.ndarray, chances: np.ndarray, k: int) -> float:
    """P(K >= k), K a sum of independent binomials (counts[i], chances[i])."""
    if k <= 0:
        return 1.0
    counts = counts.astype(np.int64)
    total = int(counts.sum())
    if k > total:
        return _TINY
    if total > EXACT_LIMIT:  # Hoeffding: the binomial at the mean chance bounds the tail from above
        mean = float((counts * chances).sum()) / total
        return _binomial_tail(total, mean, k) if k >= total * mean + 1 else 1.0
    log_factorial = np.r_[0.0, np.cumsum(np.log(np.arange(1, total + 1)))]
    pmf = np.ones(1)
    for count, chance in zip(counts, chances, strict=True):
        if count:
            pmf = np.convolve(pmf, _binomial_pmf(int(count), float(chance), log_factorial))
    return float(min(1.0, max(pmf[k:].sum(), _TINY)))


def _binomial_pmf(n: int, p: float, log_factorial: np.ndarray) -> np.ndarray:
    p = min(max(p, 1e-300), 1.0 - 1e-16)
    i = np.arange(n + 1)
    return np.exp(
        log_factorial[n] - log_factorial[i] - log_factorial[n - i] + i * math.log(p) + (n - i) * math.log1p(-p)
    )


def _binomial_tail(n: int, p: float, k: int) -> float:
    log_factorial = np.r_[0.0, np.cumsum(np.log(np.arange(1, n + 1)))]
    return float(min(1.0, max(_binomial_pmf(n, p, log_factorial)[k:].sum(), _TINY)))


def _flag(
    data: _Votes, groups: _Groups, tests: _Tests, level: np.ndarray, *, burst_window: float
) -> list[FlaggedSource]:
    """Every (source, model, direction) whose combined p-value (twice the smaller of its two) is below its level.

    One push shows twice: pushing X up makes X's opponents lose. So a source's findings are taken most
    significant first, and each later one is tested again (outcome test) without the battles against the models
    already found; it stays only if it is still significant on its own."""
    half = np.log(level / 2.0)
    found: list[tuple[float, int, str, str, int, float]] = []  # p, test row, direction, test, wins, expected
    for direction in DIRECTIONS:
        hits = tests.wins if direction == "for" else tests.losses
        outcome_mean = tests.mean_wins if direction == "for" else tests.mean_losses
        selective_mean = tests.chance_wins if direction == "for" else tests.chance_losses
        outcome_bound = _log_chernoff(tests.votes, hits, outcome_mean)
        selective_bound = _log_chernoff(tests.source_votes, hits, selective_mean)
        pair_chance = tests.pair_win if direction == "for" else tests.pair_loss
        for t in np.flatnonzero((outcome_bound < half) | (selective_bound < half)):
            k = int(np.rint(hits[t]))
            p_outcome = p_selective = 1.0
            if outcome_bound[t] < half[t]:
                span = slice(tests.pair_start[t], tests.pair_start[t + 1])
                p_outcome = _upper_tail(tests.pair_votes[span], pair_chance[span], k)
            if selective_bound[t] < half[t]:
                _, in_cell, win, loss = tests.selective(data, np.array([t]))
                p_selective = _upper_tail(in_cell, win if direction == "for" else loss, k)
            p_value = min(1.0, 2.0 * min(p_outcome, p_selective))
            if p_value < level[t]:
                test = "outcome" if p_outcome <= p_selective else "selective"
                expected = float(outcome_mean[t] if test == "outcome" else selective_mean[t])
                found.append((p_value, int(t), direction, test, k, expected))
    flagged: list[FlaggedSource] = []
    kept: dict[int, set[int]] = {}  # per source, the models found so far
    for p_value, t, direction, test, k, expected in sorted(found):
        before = kept.setdefault(int(tests.group[t]), set())
        if before:
            p_value, k, expected = _retest(tests, t, direction, before)
            test = "outcome"
            if not p_value < level[t]:
                continue
        before.add(int(tests.model[t]))
        flagged.append(
            _flagged(
                data,
                groups,
                tests,
                t,
                direction=direction,
                test=test,
                wins=k,
                expected=expected,
                p_value=p_value,
                threshold=float(level[t]),
                burst_window=burst_window,
            )
        )
    return flagged


def _retest(tests: _Tests, t: int, direction: str, without: set[int]) -> tuple[float, int, float]:
    """The outcome test of row t without the battles against the models in `without`: (p-value, wins, expected)."""
    span = slice(tests.pair_start[t], tests.pair_start[t + 1])
    keep = ~np.isin(tests.pair_other[span], list(without))
    votes = tests.pair_votes[span][keep]
    chance = (tests.pair_win if direction == "for" else tests.pair_loss)[span][keep]
    k = int(np.rint((tests.pair_wins if direction == "for" else tests.pair_losses)[span][keep].sum()))
    return min(1.0, 2.0 * _upper_tail(votes, chance, k)), k, float((votes * chance).sum())


def _flagged(
    data: _Votes,
    groups: _Groups,
    tests: _Tests,
    t: int,
    *,
    direction: str,
    test: str,
    wins: int,
    expected: float,
    p_value: float,
    threshold: float,
    burst_window: float,
) -> FlaggedSource:
    g = int(tests.group[t])
    key, kind = str(groups.keys[g]), str(groups.kinds[g])
    model = data.names[int(tests.model[t])]
    votes, source_votes = int(np.rint(tests.votes[t])), int(groups.size[g])
    sessions, addresses, busiest = int(groups.sessions[g]), int(groups.addresses[g]), int(groups.busiest[g])
    members = _members(data, groups, g, int(tests.model[t]), direction) if kind == "churn" else ()
    who = {
        "address": f"Address {key[:SHOWN_PREFIX]}…",
        "network": f"Network {key[:SHOWN_PREFIX]}… ({addresses} addresses)",
        "churn": f"Session churn ({addresses} addresses of {CHURN_VOTES_PER_SESSION:g} votes or fewer per session)",
    }[kind]
    window = f"{burst_window / 60:g} minutes"
    verb = "won" if direction == "for" else "lost"
    reference = "other voters on the same pairs" if test == "outcome" else "other voters' votes at the same time"
    named = (
        f" {len(members)} of the addresses voted only that way on {model}, mostly in its battles." if members else ""
    )
    evidence = (
        f"{who}: {sessions} sessions ({busiest} opened within {window}) cast {source_votes} votes; {model} was in "
        f"{votes} and {verb} {wins} ({expected:.1f} expected from {reference}; p = {p_value:.1e}).{named}"
    )
    return FlaggedSource(
        key=key,
        kind=kind,
        model=model,
        direction=direction,
        test=test,
        votes=votes,
        wins=wins,
        expected=expected,
        p_value=p_value,
        threshold=threshold,
        source_votes=source_votes,
        sessions=sessions,
        addresses=addresses,
        busiest=busiest,
        evidence=evidence,
        members=members,
    )


def _members(data: _Votes, groups: _Groups, g: int, model: int, direction: str) -> tuple[str, ...]:
    """The churn pool's addresses behind a finding: every vote they cast in battles of `model` went the flagged
    way, and at least half of all their votes were in its battles (an honest voter's share is about 2 in the
    number of models)."""
    vote = groups.member_vote[groups.member_group == g]
    client = data.client[vote]
    pair = data.pair[vote]
    in_battle = (data.pair_first[pair] == model) | (data.pair_second[pair] == model)
    went = (data.winner[vote] if direction == "for" else data.loser[vote]) == model
    n = int(client.max()) + 1 if len(client) else 0
    votes = np.bincount(client, minlength=n)
    battles = np.bincount(client, weights=in_battle, minlength=n)
    way = np.bincount(client, weights=in_battle & went, minlength=n)
    chosen = np.flatnonzero((battles > 0) & (way == battles) & (2 * battles >= votes))
    return tuple(sorted(str(groups.keys[c]) for c in chosen))


def _drop_repeats(flagged: list[FlaggedSource], votes: pd.DataFrame) -> list[FlaggedSource]:
    """The same finding twice, kept once. A network flagged for the same model and direction as one of its
    addresses, with no more votes on the model than that address: keep the address. A churn finding whose
    addresses are all covered already (flagged themselves, or in a flagged network, for that model and direction):
    keep those. A churn finding that names no address is nothing to act on."""
    if all(f.kind == "address" for f in flagged):
        return flagged
    client, network = _strings(votes, "client"), _strings(votes, "network")
    home = dict(zip(client, network, strict=True))
    addresses = {(f.key, f.model, f.direction): f for f in flagged if f.kind == "address"}
    networks = set()
    kept = []
    for f in flagged:
        if f.kind == "network":
            twins = [a for (c, m, d), a in addresses.items() if m == f.model and d == f.direction and home[c] == f.key]
            if any(a.votes >= f.votes for a in twins):
                continue
            networks.add((f.key, f.model, f.direction))
        kept.append(f)

    def covered(member: str, f: FlaggedSource) -> bool:
        return (member, f.model, f.direction) in addresses or (home.get(member), f.model, f.direction) in networks

    return [f for f in kept if f.kind != "churn" or (f.members and not all(covered(m, f) for m in f.members))]


def _with_flagged_votes(report: StuffingReport, votes: pd.DataFrame) -> StuffingReport:
    if not report.flagged:
        return report
    fields = {name: getattr(report, name) for name in report.__dataclass_fields__}
    fields["votes_flagged"] = int(stuffed_votes(votes, report).sum())
    return StuffingReport(**fields)


def _empty(settings: dict[str, Any], *, votes: int, screened: int, addresses: int, networks: int = 0) -> StuffingReport:
    return StuffingReport(
        flagged=(),
        **settings,
        votes=votes,
        screened_votes=screened,
        addresses=addresses,
        networks=networks,
        sources_tested=0,
        bursts=0,
        tests=0,
        votes_flagged=0,
    )
