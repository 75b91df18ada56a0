"""Specification of active pair sampling in production (issue 20): the sampling policy says how likely the pair it
drew was, the battle stores that probability and the pool's size, every vote on the battle carries them to the
votes reader and the export, and deprecated models leave anonymous battles."""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from alembic import command
from scipy.stats import chi2
from sqlalchemy import Engine, text

from arena.admin import MODEL_COLUMNS, AdminDenied, AdminService
from arena.battles import ArenaError, ArenaService, Caller
from arena.sampling import (
    BurnIn,
    BurnInSampler,
    NotEnoughModels,
    PairDistribution,
    SampledPair,
    SamplingPolicy,
    assign_sides,
    burn_in_pair,
    burn_in_probabilities,
    mixture,
    uniform_pair,
    uniform_probabilities,
)
from facts.propensity import inverse_propensity_weights
from models.registry import ModelSpec, load_model_specs
from settings import Settings
from store import NewTurn, Store
from store.engine import make_engine, writer
from store.migrate import alembic_config, migrate

ALICE = Caller(session_id="session-alice", voter_id="voter-alice")
NAMES = ["base", "new", "c", "d", "e"]


@dataclass(frozen=True)
class _Contender:
    name: str
    base: str | None = None


POOL = [_Contender("base"), _Contender("new", base="base"), _Contender("c"), _Contender("d"), _Contender("e")]
# A snapshot: "e" is far from settled, "new" is missing (registered since), the others are well measured.
STANDINGS = {
    "base": (900, 1000.0, 1020.0),
    "c": (800, 1100.0, 1120.0),
    "d": (700, 950.0, 975.0),
    "e": (20, 900.0, 1200.0),
}


def _active(names: Sequence[str], standings: Mapping[str, Any], floor: float) -> dict[tuple[str, str], float]:
    from arena.active_sampling import pair_probabilities

    return pair_probabilities(names, standings, floor=floor, rule="ours")


# --- the policy: a pair and its exact probability -------------------------------------------------------------


def test_a_uniform_pair_comes_with_one_over_the_number_of_pairs_and_the_pool_size() -> None:
    rng = random.Random(0)
    for k in (2, 3, 5, 12):
        names = [f"m{i}" for i in range(k)]
        drawn = uniform_pair([*names, names[0]], rng)  # a name listed twice is one contender
        assert isinstance(drawn, SampledPair)
        assert drawn.probability == pytest.approx(1.0 / math.comb(k, 2), rel=1e-12)
        assert drawn.pool_size == k and drawn.first != drawn.second
        assert set(drawn) <= set(names) and drawn.key == tuple(sorted(drawn.pair))
    left, right, swapped = assign_sides(SampledPair("x", "y", 1.0, 2), random.Random(1))
    assert {left, right} == {"x", "y"} and (left == "y") == swapped


def test_the_burn_in_distribution_is_exact_and_the_mixture_weighs_it_by_its_share() -> None:
    burn_in = BurnIn(share=0.25, base_share=0.5)
    burning = burn_in_probabilities(NAMES, {"new": "base"}, burn_in)
    assert burning is not None and math.fsum(burning.values()) == pytest.approx(1.0)
    # The new contender meets its base half the time, else any of the other four (its base included) alike.
    assert burning[("base", "new")] == pytest.approx(0.5 + 0.5 / 4)
    assert burning[("c", "new")] == pytest.approx(0.5 / 4)
    assert burning[("c", "d")] == 0.0
    mixed = mixture(burn_in.share, burning, uniform_probabilities(NAMES))
    assert mixed[("base", "new")] == pytest.approx(0.25 * 0.625 + 0.75 / 10)
    assert mixed[("c", "d")] == pytest.approx(0.75 / 10)
    assert math.fsum(mixed.values()) == pytest.approx(1.0)
    # Nobody in burn-in in the pool: no burn-in battle, the base rule alone.
    assert burn_in_probabilities(["c", "d", "e"], {"new": "base"}, burn_in) is None
    # Two contenders in burn-in that are each other's opponent get both halves.
    both = burn_in_probabilities(["a", "b", "c"], {"a": None, "b": None}, BurnIn(base_share=0.0))
    assert both == pytest.approx({("a", "b"): 0.5, ("a", "c"): 0.25, ("b", "c"): 0.25})
    drawn = burn_in_pair(NAMES, random.Random(3), {"new": "base"}, burn_in)
    assert drawn.probability == pytest.approx(mixed[drawn.key]) and drawn.pool_size == 5


def test_the_active_policy_stores_the_rules_probability_mixed_with_burn_in() -> None:
    rng = random.Random(5)
    plain = SamplingPolicy(BurnIn(share=0.0), lambda: POOL, lambda: STANDINGS, sampling="active", floor=0.2)
    active = _active(NAMES, STANDINGS, 0.2)
    assert plain.distribution(NAMES).probabilities == pytest.approx(active)
    assert max(active.values()) > 1.5 / 10  # not uniform: the uncertain pairs are favoured
    for _ in range(50):
        drawn = plain(NAMES, rng)
        assert drawn.probability == pytest.approx(active[drawn.key], rel=1e-12) and drawn.pool_size == 5
    burn_in = BurnIn(share=0.25, base_share=0.5)
    mixed = SamplingPolicy(burn_in, lambda: POOL, lambda: STANDINGS, sampling="active", floor=0.2)
    expected = mixture(0.25, burn_in_probabilities(NAMES, {"new": "base"}, burn_in), active)
    assert mixed.distribution(NAMES).probabilities == pytest.approx(expected)
    for _ in range(50):
        drawn = mixed(NAMES, rng)
        assert drawn.probability == pytest.approx(expected[drawn.key], rel=1e-12)
    # Every pair keeps at least the floor's share of (1 - burn-in share) of its uniform probability.
    assert min(expected.values()) >= 0.2 * 0.75 / 10 - 1e-12


@pytest.mark.parametrize("sampling", ["uniform", "active"])
def test_over_many_draws_the_pairs_come_as_often_as_their_stored_probabilities_say(sampling: str) -> None:
    policy = SamplingPolicy(BurnIn(share=0.25), lambda: POOL, lambda: STANDINGS, sampling=sampling, floor=0.2)
    rng = random.Random(11)
    n = 40_000
    draws = [policy(NAMES, rng) for _ in range(n)]
    stated = {d.key: d.probability for d in draws}
    table = policy.distribution(NAMES).probabilities
    assert stated == pytest.approx({pair: table[pair] for pair in stated})  # each draw says its pair's entry
    counts = Counter(d.key for d in draws)
    assert set(counts) == set(table)  # every pair is drawn
    statistic = sum((counts[pair] - n * p) ** 2 / (n * p) for pair, p in table.items())
    assert statistic < chi2.ppf(0.999, df=len(table) - 1), (statistic, counts)


def test_the_policy_reads_once_per_ttl_computes_once_per_read_and_falls_back_to_uniform(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import arena.active_sampling

    now, reads, computed = [0.0], [], []
    real = arena.active_sampling.pair_probabilities

    def counting(*args: Any, **kwargs: Any) -> dict[tuple[str, str], float]:
        computed.append(now[0])
        return real(*args, **kwargs)

    def standings() -> Mapping[str, Any]:
        reads.append(now[0])
        if len(reads) == 2:
            raise RuntimeError("database down")
        return STANDINGS

    monkeypatch.setattr(arena.active_sampling, "pair_probabilities", counting)
    policy = SamplingPolicy(
        BurnIn(share=0.0), lambda: POOL, standings, sampling="active", floor=0.2, ttl=60, clock=lambda: now[0]
    )
    rng = random.Random(0)
    uniform = 1.0 / 10
    assert any(abs(policy(NAMES, rng).probability - uniform) > 1e-3 for _ in range(30))
    assert reads == [0.0] and computed == [0.0]  # thirty battles, one read, one computation
    policy(NAMES[:4], rng)  # another pool (a model disabled meanwhile): computed once for it too
    assert computed == [0.0, 0.0]
    now[0] = 61.0
    assert all(policy(NAMES, rng).probability == pytest.approx(uniform) for _ in range(20))  # the read failed
    now[0] = 122.0
    policy(NAMES, rng)
    assert reads == [0.0, 61.0, 122.0] and computed == [0.0, 0.0, 122.0]

    def broken(*args: Any, **kwargs: Any) -> dict[tuple[str, str], float]:
        return {("base", "c"): 1.0}  # not every pair: refused, uniform instead

    monkeypatch.setattr(arena.active_sampling, "pair_probabilities", broken)
    now[0] = 183.0
    assert policy.distribution(NAMES).probabilities == pytest.approx(uniform_probabilities(NAMES))


def test_active_sampling_with_no_snapshot_yet_is_uniform() -> None:
    policy = SamplingPolicy(BurnIn(share=0.0), lambda: POOL, lambda: {}, sampling="active", floor=0.2)
    assert policy.distribution(NAMES).probabilities == pytest.approx(uniform_probabilities(NAMES))
    with pytest.raises(NotEnoughModels):
        policy(["only"], random.Random(0))


def test_the_distribution_refuses_what_is_not_one_probability_per_pair() -> None:
    with pytest.raises(ValueError, match="cover"):
        PairDistribution.of(["a", "b", "c"], {("a", "b"): 1.0})
    with pytest.raises(ValueError, match="negative"):
        PairDistribution.of(["a", "b", "c"], {("a", "b"): 1.5, ("a", "c"): -0.5, ("b", "c"): 0.0})
    with pytest.raises(ValueError, match="sum"):
        PairDistribution.of(["a", "b", "c"], {("a", "b"): 0.5, ("a", "c"): 0.2, ("b", "c"): 0.2})
    with pytest.raises(ValueError, match="unknown sampling"):
        SamplingPolicy(BurnIn(), lambda: [], lambda: {}, sampling="greedy")
    assert BurnInSampler is SamplingPolicy  # the old name still builds the same policy


def test_the_settings_default_to_active_sampling_with_a_fifth_uniform(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ARENA_CONFIG", raising=False)
    settings = Settings()
    assert (settings.sampling, settings.sampling_floor) == ("active", 0.2)
    monkeypatch.setenv("ARENA_SAMPLING", "uniform")
    monkeypatch.setenv("ARENA_SAMPLING_FLOOR", "0.5")
    assert (Settings().sampling, Settings().sampling_floor) == ("uniform", 0.5)
    for name, value in (("ARENA_SAMPLING", "greedy"), ("ARENA_SAMPLING_FLOOR", "0"), ("ARENA_SAMPLING_FLOOR", "1.5")):
        monkeypatch.setenv(name, value)
        with pytest.raises(ValueError):
            Settings()
        monkeypatch.delenv(name)


# --- the battle stores it, every vote carries it -----------------------------------------------------------


SPECS = [ModelSpec(name="alpha"), ModelSpec(name="beta"), ModelSpec(name="gamma"), ModelSpec(name="delta")]


def _service(storage: Store, sampler: Any = uniform_pair) -> ArenaService:
    storage.registry.sync(SPECS)

    def no_backend(spec: ModelSpec) -> Any:
        raise AssertionError("starting a battle generates nothing")

    return ArenaService(storage, no_backend, sampler=sampler, rng=random.Random(7))


def _answered(storage: Store, battle_id: str) -> None:
    storage.battles.add_turn(battle_id, NewTurn(user_message="Hello there", answer_a="Hi!", answer_b="Hello."))


def test_an_anonymous_battle_stores_its_pairs_probability_and_direct_chat_none(storage: Store) -> None:
    service = _service(storage)
    battle = service.start(ALICE)
    assert battle.pair_probability == pytest.approx(1.0 / math.comb(4, 2)) and battle.pool_size == 4
    assert storage.battles.get(battle.id).pair_probability == pytest.approx(1 / 6)
    direct = service.start(ALICE, "direct", ["alpha"])
    side = service.start(ALICE, "side_by_side", ["alpha", "beta"])
    assert (direct.pair_probability, direct.pool_size) == (None, None)
    assert (side.pair_probability, side.pool_size) == (None, None)
    # A policy's probability is stored as it said it, burn-in mixture included.
    policy = SamplingPolicy(
        BurnIn(share=0.5), lambda: [_Contender("alpha"), _Contender("delta", base="alpha")], lambda: {}
    )
    service = _service(storage, policy)
    table = policy.distribution([s.name for s in SPECS]).probabilities
    for _ in range(10):
        battle = service.start(ALICE)
        assert battle.pair_probability == pytest.approx(table[tuple(sorted((battle.model_a, battle.model_b)))])
    # A sampler that returns a plain pair (as before) stores no probability: its votes weigh 1.
    service = _service(storage, lambda names, rng: ("alpha", "beta"))
    battle = service.start(ALICE)
    assert {battle.model_a, battle.model_b} == {"alpha", "beta"} and battle.pair_probability is None


def test_the_store_refuses_a_probability_that_is_not_one(storage: Store) -> None:
    common = {
        "model_a": "alpha",
        "model_b": "beta",
        "swapped": False,
        "params_a": {},
        "params_b": {},
        "session_id": "s",
        "voter_id": "v",
    }
    for mode, probability, pool_size, match in (
        ("anonymous", 0.0, 4, r"\(0, 1\]"),
        ("anonymous", 1.5, 4, r"\(0, 1\]"),
        ("anonymous", float("nan"), 4, r"\(0, 1\]"),
        ("anonymous", 0.5, 1, "two or more"),
        ("anonymous", 0.5, None, "together"),
        ("side_by_side", 0.5, 4, "only anonymous"),
    ):
        with pytest.raises(ValueError, match=match):
            storage.battles.create(mode=mode, pair_probability=probability, pool_size=pool_size, **common)
    with pytest.raises(ValueError, match="only anonymous"):
        storage.battles.create(
            mode="direct", pair_probability=1.0, pool_size=2, **{**common, "model_b": None, "params_b": {}}
        )


def test_the_votes_reader_gives_every_vote_its_battles_probability_and_nan_without(storage: Store) -> None:
    service = _service(storage)
    drawn = service.start(ALICE)
    _answered(storage, drawn.id)
    storage.battles.record_vote(battle_id=drawn.id, turn=1, winner="model_a", voter_id="v1")
    storage.battles.record_vote(battle_id=drawn.id, turn=1, winner="tie", voter_id="judge-model", source="judge:j")
    named = service.start(ALICE, "side_by_side", ["alpha", "beta"])
    _answered(storage, named.id)
    storage.battles.record_vote(battle_id=named.id, turn=1, winner="model_b", voter_id="v1")
    imported = storage.battles.create(
        mode="anonymous",
        model_a="gamma",
        model_b="delta",
        swapped=False,
        params_a={},
        params_b={},
        session_id="s",
        voter_id="v",
        battle_id="imported-1",
    )
    _answered(storage, imported.id)
    storage.battles.record_vote(battle_id=imported.id, turn=1, winner="model_a", voter_id="v2")

    for frame in (storage.votes.read(criterion=None), storage.votes.read(audit=True), storage.votes.read(texts=True)):
        assert frame["pair_probability"].dtype == np.float64 and frame["pool_size"].dtype.kind == "f"
        stored = frame["pair_probability"].to_numpy()
        np.testing.assert_allclose(stored[:2], [1 / 6, 1 / 6])  # the human vote and the judge's alike
        assert np.isnan(stored[2:]).all()
        np.testing.assert_array_equal(frame["pool_size"].to_numpy()[:2], [4, 4])
        assert np.isnan(frame["pool_size"].to_numpy()[2:]).all()
    frame = storage.votes.read()
    weights = inverse_propensity_weights(frame["pair_probability"], frame["pool_size"])
    np.testing.assert_allclose(weights, 1.0)  # uniform draws and missing probabilities alike weigh 1

    from store.export import build_export

    rows = build_export(storage.votes.read(conversations=True), source="all", include_flagged=True).rows
    assert [(r["pair_probability"], r["pool_size"]) for r in rows] == [
        (pytest.approx(1 / 6), 4),
        (pytest.approx(1 / 6), 4),
        (None, None),
        (None, None),
    ]


def test_the_sqlite_child_reader_takes_a_probability_column_null_at_first(db_url: str) -> None:
    """ADBC's SQLite driver types a column from its first batch of rows (65,536): votes from before the migration
    (NULL) followed by new ones (REAL) must not send the read back to the slow driver."""
    if not db_url.startswith("sqlite"):
        pytest.skip("the child reader is SQLite's")
    from store.columnar import _sqlite_in_child, compiled_sql
    from store.votes import _query

    storage = Store.open(db_url)
    try:
        service = _service(storage)
        service.sampler = lambda names, rng: ("alpha", "beta")  # no probability: NULL
        old = service.start(ALICE)
        with writer(storage.engine).begin() as connection:  # seventy thousand votes from before, quickly
            connection.execute(
                text(
                    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 70000) "
                    "INSERT INTO votes (battle_id, turn, winner, voter_id, source, criterion, created_at, model_a, "
                    "model_b, mode) SELECT :battle, i, 'model_a', 'v', 'human', 'helpfulness', '2026-12-01', "
                    "'alpha', 'beta', 'anonymous' FROM n"
                ),
                {"battle": old.id},
            )
        service.sampler = uniform_pair
        for _ in range(3):
            battle = service.start(ALICE)
            _answered(storage, battle.id)
            storage.battles.record_vote(battle_id=battle.id, turn=1, winner="model_a", voter_id="v")
        sql = compiled_sql(_query(False), storage.engine.dialect)
        batches = _sqlite_in_child(str(storage.engine.url.database), sql)
        assert batches is not None
        values = [v for batch in batches for v in batch.column("pair_probability").to_pylist()]
        assert values[-4:] == pytest.approx([0.0, 1 / 6, 1 / 6, 1 / 6]) and len(values) == 70_003
    finally:
        storage.dispose()


# --- deprecated models -----------------------------------------------------------------------------------------


def test_a_deprecated_model_never_appears_in_anonymous_battles_and_comes_back(storage: Store) -> None:
    service = _service(storage)
    storage.registry.set_deprecated("gamma", True)
    assert storage.registry.get("gamma").deprecated is True and storage.registry.deprecated() == ["gamma"]
    battles = [service.start(ALICE) for _ in range(60)]
    assert all("gamma" not in (b.model_a, b.model_b) for b in battles)
    assert all(b.pool_size == 3 and b.pair_probability == pytest.approx(1 / 3) for b in battles)
    assert "gamma" in [s.name for s in service.contenders()]  # still offered by name
    assert service.start(ALICE, "direct", ["gamma"]).model_a == "gamma"
    # The spec the store hands out carries the flag (the leaderboard hides deprecated rows by it).
    assert {s.name: s.deprecated for s in storage.registry.models(enabled_only=False)} == {
        "alpha": False,
        "beta": False,
        "gamma": True,
        "delta": False,
    }
    storage.registry.set_deprecated("gamma", False)
    battles = [service.start(ALICE) for _ in range(60)]
    assert any("gamma" in (b.model_a, b.model_b) for b in battles)
    assert all(b.pool_size == 4 for b in battles)
    # Deprecating all but one leaves no anonymous battle to draw: a clear error, not a battle against itself.
    for name in ("alpha", "beta", "gamma"):
        storage.registry.set_deprecated(name, True)
    with pytest.raises(NotEnoughModels, match="at least two"):
        service.start(ALICE)


def test_the_registry_file_may_deprecate_and_a_resync_keeps_an_operators_deprecation(
    storage: Store, tmp_path: Path
) -> None:
    path = tmp_path / "models.yaml"
    path.write_text("models:\n  - name: alpha\n  - name: beta\n    deprecated: true\n  - name: gamma\n")
    storage.registry.sync(load_model_specs(path))
    assert storage.registry.deprecated() == ["beta"]
    storage.registry.set_deprecated("alpha", True)
    storage.registry.sync(load_model_specs(path))
    assert storage.registry.deprecated() == ["alpha", "beta"]
    assert [s.name for s in storage.registry.models(deprecated=False)] == ["gamma"]


def test_the_admin_deprecates_behind_the_token_and_refuses_hostile_input(storage: Store) -> None:
    storage.registry.sync(SPECS)
    admin = AdminService("s3cret", storage, ["leaderboard"], lambda job, who: 1)
    for token in (None, "", "wrong", "s3cret "):
        with pytest.raises(AdminDenied, match="Wrong admin token"):
            admin.set_deprecated(token, "alpha", True)
    with pytest.raises(AdminDenied, match="set ARENA_ADMIN_TOKEN"):
        AdminService("", storage, [], lambda job, who: 0).set_deprecated("anything", "alpha", True)
    for name in (None, "", "   ", ["alpha"], {"name": "alpha"}, 3):
        with pytest.raises(AdminDenied, match="Pick a model"):
            admin.set_deprecated("s3cret", name, True)
    for name in ("ghost", "alpha'; DROP TABLE models; --", "<script>alert(1)</script>", "\x00"):
        with pytest.raises(AdminDenied, match="no model named"):
            admin.set_deprecated("s3cret", name, True)
    assert storage.registry.deprecated() == []
    assert "no longer appears in anonymous battles" in admin.set_deprecated("s3cret", "alpha", True)
    rows = {row[0]: dict(zip(MODEL_COLUMNS, row, strict=True)) for row in admin.models("s3cret")}
    assert rows["alpha"]["deprecated"] is True and rows["beta"]["deprecated"] is False
    assert "appears in anonymous battles again" in admin.set_deprecated("s3cret", "alpha", False)
    assert storage.registry.deprecated() == []
    with pytest.raises(ArenaError):  # a disabled model stays out whatever its deprecation
        storage.registry.set_enabled("beta", False)
        _service(storage).start(ALICE, "direct", ["beta"])


# --- the migration -------------------------------------------------------------------------------------------


@pytest.fixture
def db_engine(db_url: str) -> Any:
    engine = make_engine(db_url)
    try:
        yield engine
    finally:
        engine.dispose()


def _insert_old_battle(engine: Engine) -> None:
    with writer(engine).begin() as connection:
        connection.execute(
            text(
                "INSERT INTO models (name, backend, weights, spec, description, anonymous, enabled, provenance, origin,"
                " created_at, updated_at) VALUES ('alpha', 'local', 'w', '{\"name\": \"alpha\"}', '', true, true, '',"
                " 'config', '2026-12-01', '2026-12-01')"
            )
        )
        connection.execute(
            text(
                "INSERT INTO battles (id, mode, model_a, model_b, swapped, params_a, params_b, session_id, voter_id, "
                "state, flag_error, flag_identity_leak, flag_length_limit, flag_notes, tokens_a, tokens_b, "
                "created_at, updated_at) VALUES ('b1', 'anonymous', 'alpha', 'beta', false, '{}', '{}', 's', 'v', "
                "'voted', false, false, false, '', 0, 0, '2026-12-01', '2026-12-01')"
            )
        )
        connection.execute(
            text(
                'INSERT INTO turns (battle_id, "index", attempt, superseded, user_message, answer_a, answer_b, '
                "prompt_tokens_a, prompt_tokens_b, completion_tokens_a, completion_tokens_b, created_at) VALUES "
                "('b1', 1, 0, false, 'hi', 'a', 'b', 0, 0, 0, 0, '2026-12-01')"
            )
        )
        connection.execute(
            text(
                "INSERT INTO votes (battle_id, turn, winner, voter_id, source, created_at, model_a, model_b, mode) "
                "VALUES ('b1', 1, 'model_a', 'v', 'human', '2026-12-01', 'alpha', 'beta', 'anonymous')"
            )
        )


def test_the_migration_keeps_old_rows_as_unknown_and_round_trips(db_engine: Engine, db_url: str) -> None:
    with writer(db_engine).begin() as connection:
        command.upgrade(alembic_config(connection), "0012")
    _insert_old_battle(db_engine)
    migrate(db_engine)
    with db_engine.connect() as connection:
        assert connection.execute(text("SELECT pair_probability, pool_size FROM battles")).all() == [(None, None)]
        assert connection.execute(text("SELECT pair_probability, pool_size FROM votes")).all() == [(None, None)]
        assert connection.execute(text("SELECT deprecated FROM models")).scalar_one() in (False, 0)
    storage = Store.open(db_url)
    try:
        frame = storage.votes.read()
        assert len(frame) == 1 and np.isnan(frame["pair_probability"].iloc[0]) and np.isnan(frame["pool_size"].iloc[0])
        assert storage.registry.get("alpha").deprecated is False
    finally:
        storage.dispose()
    with writer(db_engine).begin() as connection:
        command.downgrade(alembic_config(connection), "0012")
    with db_engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM votes")).scalar_one() == 1
        assert connection.execute(text("SELECT count(*) FROM turns")).scalar_one() == 1
    migrate(db_engine)
    with db_engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM votes")).scalar_one() == 1


def test_the_command_line_hides_the_databases_deprecated_models_and_lists_them_on_request(
    storage: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    import re

    from leaderboard.__main__ import main
    from tests.arena_rows import voted_battle

    def listed(out: str) -> list[str]:  # the table's rows: "  1  alpha  1012.3  ..."
        return re.findall(r"^\s*\d+\s+(alpha|beta|gamma)\s", out, flags=re.MULTILINE)

    storage.registry.sync(SPECS)
    pairs = (("alpha", "beta"), ("beta", "gamma"), ("gamma", "alpha"))
    for n in range(36):
        model_a, model_b = pairs[n % 3]
        winner = ("model_a", "model_b", "tie", "model_b")[n % 4]
        voted_battle(storage, winner, model_a=model_a, model_b=model_b, voter_id=f"v{n}")
    storage.registry.set_deprecated("gamma", True)
    database = storage.engine.url.render_as_string(hide_password=False)

    assert main(["--db", database]) == 0
    out = capsys.readouterr().out
    assert sorted(listed(out)) == ["alpha", "beta"]
    assert "note: 1 deprecated model(s) hidden" in out and "listed on request" not in out

    assert main(["--db", database, "--show-deprecated"]) == 0
    out = capsys.readouterr().out
    assert sorted(listed(out)) == ["alpha", "beta", "gamma"]
    assert "note: deprecated, listed on request: gamma" in out and "hidden" not in out
