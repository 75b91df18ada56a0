"""Specification of leaderboard.alpaca_eval: AlpacaEval 2's raw and length-controlled win rates.

The simulated judge below follows AlpacaEval's own length-controlled model, so the truth is known: on
instruction i, model m is preferred to the baseline with log-odds
    quality_m - loading_m * difficulty_i + LENGTH_EFFECT * tanh((len_baseline - len_model) / sd_m)
and the model's true equal-length win rate is 100 * mean_i sigmoid(quality_m - loading_m * difficulty_i).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping

import numpy as np
import pandas as pd
import pytest

from leaderboard.alpaca_eval import (
    DIFFICULTY_WEIGHT,
    LENGTH_WEIGHT,
    NOT_GAMED_WEIGHT,
    WinRate,
    alpaca_eval_leaderboard,
    annotations_from_battles,
    estimate_instruction_difficulty,
    is_extreme_change,
    length_controlled_win_rate,
    read_difficulty,
    soft_win_rate,
)

N_INSTRUCTIONS = 805  # AlpacaEval's evaluation set
LENGTH_EFFECT = -1.5  # strong: a model twice as long as the baseline gains 15-20 points of raw win rate
# name -> (quality, loading on difficulty, length multiplier against the baseline)
MODELS: dict[str, tuple[float, float, float]] = {
    "weak": (-1.0, 1.0, 1.0),
    "middle": (0.0, 0.8, 1.0),
    "strong": (1.0, 1.2, 1.0),
    "verbose": (0.0, 1.0, 2.5),
    "terse": (0.5, 1.0, 0.5),
}
# Spread of (LC win rate - truth) over 25 simulated leaderboards like this one, in units of the raw win rate's
# standard error: 1.24 (the LC rate also carries the fitted length and difficulty weights), largest 3.7.
LC_TOLERANCE_SE = 4.0


def simulate(
    models: Mapping[str, tuple[float, float, float]], *, seed: int = 0, n: int = N_INSTRUCTIONS
) -> tuple[pd.DataFrame, pd.Series, dict[str, float]]:
    """(annotations against "baseline", true difficulty per instruction, true equal-length win rate per model).

    Each model draws from its own stream, so changing one model's lengths leaves every random draw unchanged."""
    shared = np.random.default_rng([seed, 0])
    instructions = [f"instruction {i}" for i in range(n)]
    difficulty = shared.normal(size=n)
    typical_length = np.exp(shared.normal(np.log(1200), 0.5, n))  # some instructions ask for longer answers
    frames, truth = [], {}
    for index, (name, (quality, loading, verbosity)) in enumerate(models.items(), start=1):
        rng = np.random.default_rng([seed, index])
        len_1 = np.round(typical_length * np.exp(rng.normal(0, 0.4, n)))
        len_2 = np.round(typical_length * verbosity * np.exp(rng.normal(0, 0.4, n)))
        delta = len_1 - len_2
        logit = quality - loading * difficulty + LENGTH_EFFECT * np.tanh(delta / delta.std(ddof=1))
        model_preferred = rng.random(n) < 1 / (1 + np.exp(-logit))
        truth[name] = 100 * float(np.mean(1 / (1 + np.exp(-(quality - loading * difficulty)))))
        frames.append(
            pd.DataFrame(
                {
                    "instruction": instructions,
                    "generator_1": "baseline",
                    "generator_2": name,
                    "preference": np.where(model_preferred, 2.0, 1.0),
                    "len_1": len_1,
                    "len_2": len_2,
                }
            )
        )
    return pd.concat(frames, ignore_index=True), pd.Series(difficulty, index=instructions), truth


@pytest.fixture(scope="module")
def simulated() -> tuple[pd.DataFrame, pd.Series, dict[str, float]]:
    return simulate(MODELS, seed=0)


def one_model(annotations: pd.DataFrame, model: str) -> pd.DataFrame:
    return annotations[annotations["generator_2"] == model].reset_index(drop=True)


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


# ------------------------------------------------------------------------------------------------- win rate


def test_soft_win_rate_matches_hand_computed_figures() -> None:
    # Valid: 2, 1, 1.5, 0 (a legacy draw, read as 1.5), 1.8. Not preferences: NaN, 3, None, "n/a".
    rate = soft_win_rate([2, 1, 1.5, 0, 1.8, math.nan, 3, None, "n/a"])
    p = [1.0, 0.0, 0.5, 0.5, 0.8]
    mean = sum(p) / 5
    sem = math.sqrt(sum((x - mean) ** 2 for x in p) / 4 / 5)  # ddof = 1, as pandas' .sem()
    assert rate.win_rate == pytest.approx(56.0)
    assert rate.standard_error == pytest.approx(100 * sem)
    assert (rate.n_wins, rate.n_wins_base, rate.n_draws, rate.n_total, rate.n_dropped) == (2, 1, 2, 5, 4)
    assert rate.discrete_win_rate == pytest.approx(100 * (2 + 2 / 2) / 5)  # 1.8 rounds to a win


def test_win_rates_of_all_draws_and_of_nothing() -> None:
    draws = soft_win_rate([1.5, 0, 1.5])
    assert (draws.win_rate, draws.discrete_win_rate, draws.standard_error, draws.n_draws) == (50.0, 50.0, 0.0, 3)
    nothing = soft_win_rate([math.nan, 7])
    assert nothing.n_total == 0 and nothing.n_dropped == 2
    assert math.isnan(nothing.win_rate) and math.isnan(nothing.discrete_win_rate)
    single = soft_win_rate([2])
    assert single.win_rate == 100.0 and math.isnan(single.standard_error)  # one value has no sample std


def test_extreme_change_rule_is_alpaca_evals() -> None:
    # From AlpacaEval's docstring: at 20 it warns below 10 or above 40; at 50 below 37.5 or above 62.5.
    assert is_extreme_change(20, 9.9) and not is_extreme_change(20, 10.1)
    assert is_extreme_change(20, 40.1) and not is_extreme_change(20, 39.9)
    assert is_extreme_change(50, 37.4) and not is_extreme_change(50, 62.4) and is_extreme_change(50, 62.6)


# ------------------------------------------------------------------------------------ length-controlled rate


def test_lc_win_rate_recovers_the_equal_length_win_rate_the_raw_one_misses(simulated) -> None:
    annotations, _, truth = simulated
    board = {result.model: result for result in alpaca_eval_leaderboard(annotations)}
    for model, result in board.items():
        tolerance = LC_TOLERANCE_SE * result.win_rate.standard_error
        assert abs(result.lc_win_rate - truth[model]) < tolerance, model
        assert result.difficulty == "estimated"
        assert result.weights[LENGTH_WEIGHT] < 0  # a longer baseline answer (positive delta) hurts the model
    verbose, terse = board["verbose"], board["terse"]
    assert verbose.win_rate.win_rate - truth["verbose"] > 2 * LC_TOLERANCE_SE * verbose.win_rate.standard_error
    assert truth["terse"] - terse.win_rate.win_rate > 2 * LC_TOLERANCE_SE * terse.win_rate.standard_error
    assert any("very different from the raw one" in w for w in verbose.warnings)  # AlpacaEval would warn too


def test_longer_outputs_move_the_raw_win_rate_a_lot_and_the_lc_win_rate_little() -> None:
    # AlpacaEval 2's robustness claim: same model, same judge draws, only its answers' lengths changed.
    plain = {**MODELS, "verbose": (0.0, 1.0, 1.0)}
    longer = {**MODELS, "verbose": (0.0, 1.0, 2.5)}
    before = {r.model: r for r in alpaca_eval_leaderboard(simulate(plain, seed=3)[0])}["verbose"]
    after = {r.model: r for r in alpaca_eval_leaderboard(simulate(longer, seed=3)[0])}["verbose"]
    raw_move = after.win_rate.win_rate - before.win_rate.win_rate
    lc_move = after.lc_win_rate - before.lc_win_rate
    assert raw_move > 10
    assert abs(lc_move) < raw_move / 4


def test_a_given_difficulty_table_is_used_and_missing_instructions_only_warn(simulated) -> None:
    annotations, difficulty, truth = simulated
    rows = one_model(annotations, "verbose")
    result = length_controlled_win_rate(rows, difficulty=difficulty)
    assert result.difficulty == "given"
    assert not any("difficulty" in w for w in result.warnings)
    assert result.weights[DIFFICULTY_WEIGHT] < 0  # the simulated judge favours the baseline on hard instructions
    assert abs(result.lc_win_rate - truth["verbose"]) < LC_TOLERANCE_SE * result.win_rate.standard_error

    partial = length_controlled_win_rate(rows, difficulty=difficulty.iloc[:700])
    assert partial.difficulty == "given" and math.isfinite(partial.lc_win_rate)
    assert any("105 annotation(s) on 105 instruction(s) without a difficulty" in w for w in partial.warnings)
    assert partial.win_rate == result.win_rate  # the raw rate still counts every annotation


def test_one_model_without_a_table_is_fitted_without_difficulty(simulated) -> None:
    annotations, _, truth = simulated
    result = length_controlled_win_rate(one_model(annotations, "verbose"))
    assert result.difficulty == "none" and result.weights[DIFFICULTY_WEIGHT] == 0.0
    assert any("no instruction difficulty" in w for w in result.warnings)
    # Still length-controlled: the difficulty term only sharpens the per-instruction predictions.
    assert abs(result.lc_win_rate - truth["verbose"]) < LC_TOLERANCE_SE * result.win_rate.standard_error


def test_the_fit_is_alpaca_evals_logistic_regression_cv(simulated) -> None:
    """Same C, weights and LC rate as AlpacaEval's recipe run by hand through scikit-learn (duplicated rows,
    penalty="l1" as AlpacaEval spells it, liblinear, GroupKFold, the continuous log-loss scorer through metadata
    routing), with and without gamed rows. The module calls the same estimator, so they agree to rounding."""
    import sklearn
    from sklearn.linear_model import LogisticRegressionCV
    from sklearn.metrics import make_scorer
    from sklearn.model_selection import GroupKFold

    def continuous_log_loss(y_true, y_pred, true_prob, true_sample_weight=None):
        target = np.where(y_true == 1, true_prob, 1 - true_prob)
        p = np.clip(y_pred, 1e-15, 1 - 1e-15)
        loss = target * np.log(p) + (1 - target) * np.log(1 - p)
        return -np.mean(loss if true_sample_weight is None else loss * true_sample_weight)

    def reference(X: np.ndarray, y: np.ndarray, weight: np.ndarray | None) -> tuple[np.ndarray, float]:
        n = len(y)
        prob = np.concatenate([y, 1 - y])
        true_weight = None if weight is None else np.concatenate([weight, weight])
        scorer = make_scorer(continuous_log_loss, response_method="predict_proba", greater_is_better=False)
        # AlpacaEval passes penalty="l1", deprecated since scikit-learn 1.8 and gone in 1.10: then its successor.
        l1 = {"penalty": "l1"} if "penalty" in LogisticRegressionCV().get_params() else {"l1_ratios": (1.0,)}
        with sklearn.config_context(enable_metadata_routing=True), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the deprecations of penalty, l1_ratios=None and the legacy attributes
            model = LogisticRegressionCV(
                cv=GroupKFold(n_splits=5),
                scoring=scorer.set_score_request(true_sample_weight=True, true_prob=True),
                random_state=123,
                solver="liblinear",
                fit_intercept=False,
                **l1,
            )
            model.set_fit_request(sample_weight=True)
            model.fit(
                np.vstack([X, X]),
                np.concatenate([np.ones(n), np.zeros(n)]),
                sample_weight=prob if weight is None else prob * true_weight,
                groups=np.concatenate([np.arange(n), np.arange(n)]),
                true_sample_weight=true_weight,
                true_prob=prob,
            )
        return model.coef_[0], float(np.ravel(model.C_)[0])

    def design(rows: pd.DataFrame, difficulty: pd.Series, not_gamed: float) -> np.ndarray:
        delta = rows["len_1"] - rows["len_2"]
        tanh = np.tanh(delta / delta.std())
        return np.column_stack([tanh, difficulty.loc[rows["instruction"]], np.full(len(rows), not_gamed)])

    annotations, difficulty, _ = simulated
    rng = np.random.default_rng(7)
    for model, with_gamed in (("strong", False), ("verbose", False), ("verbose", True)):
        rows = one_model(annotations, model)
        if with_gamed:
            # Continuous preferences, as a weighted judge gives, and two "gamed" variants of the baseline.
            noise = rng.normal(0, 0.3, len(rows))
            rows = rows.assign(preference=1 + np.clip(rows["preference"] - 1 + noise, 0, 1))
            gamed = one_model(annotations, "middle").assign(generator_2="baseline (verbose)")
            gamed = pd.concat([gamed, one_model(annotations, "terse").assign(generator_2="baseline (concise)")])
            ours = length_controlled_win_rate(rows, difficulty=difficulty, gamed=gamed)
            parts = [design(gamed[gamed["generator_2"] == g], difficulty, 0.0) for g in gamed["generator_2"].unique()]
            X = np.vstack([*parts, design(rows, difficulty, 1.0)])
            gamed_y = [gamed[gamed["generator_2"] == g]["preference"] - 1 for g in gamed["generator_2"].unique()]
            y = np.concatenate([*gamed_y, rows["preference"] - 1])
            weight = np.concatenate([np.full(len(gamed), 0.1), np.ones(len(rows))])  # lambda / 2
        else:
            ours = length_controlled_win_rate(rows, difficulty=difficulty)
            X, y, weight = design(rows, difficulty, 1.0), rows["preference"].to_numpy() - 1, None
        coef, C = reference(X, np.asarray(y, dtype=float), weight)
        lc = 100 * sigmoid(coef[2] + coef[1] * difficulty.loc[rows["instruction"]].to_numpy()).mean()
        assert ours.regularization_c == pytest.approx(C, rel=1e-12)
        assert [ours.weights[k] for k in (LENGTH_WEIGHT, DIFFICULTY_WEIGHT, NOT_GAMED_WEIGHT)] == pytest.approx(
            coef, abs=1e-9
        )
        assert ours.lc_win_rate == pytest.approx(lc, abs=1e-9)


def test_a_gamed_file_carrying_instruction_difficulty_supplies_the_table(simulated) -> None:
    annotations, difficulty, _ = simulated
    gamed = one_model(annotations, "middle").assign(generator_2="baseline (verbose)")
    gamed["instruction_difficulty"] = difficulty.loc[gamed["instruction"]].to_numpy()
    result = length_controlled_win_rate(one_model(annotations, "verbose"), gamed=gamed)
    assert result.difficulty == "given" and result.weights[DIFFICULTY_WEIGHT] != 0


# ------------------------------------------------------------------------------------- instruction difficulty


def test_difficulty_estimation_recovers_the_simulated_difficulties() -> None:
    rng = np.random.default_rng(11)
    models = {f"model {k}": (rng.normal(), rng.uniform(0.7, 1.3), float(np.exp(rng.normal(0, 0.5)))) for k in range(30)}
    annotations, difficulty, _ = simulate(models, seed=5)
    estimated = estimate_instruction_difficulty(annotations)
    assert len(estimated) == N_INSTRUCTIONS
    assert estimated.mean() == pytest.approx(0, abs=1e-9) and estimated.std() == pytest.approx(1)
    # 30 yes/no verdicts per instruction bound how well any estimator can rank them; measured 0.91 here.
    assert estimated.rank().corr(difficulty.loc[estimated.index].rank()) > 0.85


def test_difficulty_estimation_refuses_a_single_model(simulated) -> None:
    annotations, _, _ = simulated
    with pytest.raises(ValueError, match=r"at least 2 distinct models .* have 1 model\(s\) per instruction"):
        estimate_instruction_difficulty(one_model(annotations, "strong"))
    board = alpaca_eval_leaderboard(one_model(annotations, "strong"))
    assert board[0].difficulty == "none"
    assert any("fitted without instruction difficulty: cannot estimate" in w for w in board[0].warnings)


def test_leaderboard_is_one_result_per_model_sorted_by_lc_win_rate(simulated) -> None:
    annotations, _, _ = simulated
    with_itself = pd.concat([annotations, one_model(annotations, "weak").assign(generator_2="baseline")])
    board = alpaca_eval_leaderboard(with_itself)
    assert sorted(r.model for r in board) == sorted([*MODELS, "baseline"])
    assert [r.lc_win_rate for r in board] == sorted((r.lc_win_rate for r in board), reverse=True)
    itself = next(r for r in board if r.model == "baseline")
    assert itself.lc_win_rate == 50.0 and set(itself.weights.values()) == {0.0}  # AlpacaEval: 50 by construction
    assert not any("difficulty estimated from" in w for w in board[0].warnings)
    few = alpaca_eval_leaderboard(annotations[annotations["generator_2"].isin(["weak", "middle", "strong"])])
    assert all(any("difficulty estimated from 3 model(s) per instruction" in w for w in r.warnings) for r in few)
    with pytest.raises(ValueError, match="one baseline"):
        alpaca_eval_leaderboard(annotations.assign(generator_1=np.where(annotations.index % 2, "a", "b")))


def test_read_difficulty_takes_the_first_two_columns(tmp_path) -> None:
    path = tmp_path / "instruction_difficulty.csv"
    path.write_text("index,instruction_difficulty\n0,-0.5\n1,1.25\n1,9\n2,\n", encoding="utf-8")
    table = read_difficulty(path)
    assert table.to_dict() == {0: -0.5, 1: 1.25}  # first of a repeated key, no empty values


# --------------------------------------------------------------------------------------------- arena battles


def test_annotations_from_battles_put_the_common_model_first_and_flip_its_preferences() -> None:
    battles = pd.DataFrame(
        {
            "battle_id": ["b1", "b2", "b3", "b4", "b5"],
            "model_a": ["gpt", "x", "gpt", "y", "gpt"],
            "model_b": ["x", "gpt", "y", "gpt", "x"],
            "winner": ["model_b", "model_b", "tie", "model_a", "tie (bothbad)"],
            "preference": [math.nan, math.nan, math.nan, 1.25, 0.0],
            "prompt": ["p1", "p2", None, "p4", "p5"],
            "answer_a": ["aa", "xxxx", "gpt!", "yy", None],
            "answer_b": ["xxx", "g", "y", "gpt", "x"],
        }
    )
    out = annotations_from_battles(battles)
    assert out is not None
    assert set(out["generator_1"]) == {"gpt"}
    assert out["generator_2"].tolist() == ["x", "x", "y", "y", "x"]
    # b1: model_b (x) won -> 2. b2: model_b is the baseline and won -> 1. b3: tie -> 1.5.
    # b4: preference 1.25 towards model_a (y), the baseline is model_b -> 1.75. b5: 0 is a draw -> 1.5.
    assert out["preference"].tolist() == [2.0, 1.0, 1.5, 1.75, 1.5]
    assert out["instruction"].tolist() == ["p1", "p2", "b3", "p4", "p5"]
    assert out["output_1"].tolist()[:4] == ["aa", "g", "gpt!", "gpt"] and pd.isna(out["output_1"][4])
    assert out["output_2"].tolist() == ["xxx", "xxxx", "y", "yy", "x"]


def test_annotations_from_battles_without_a_common_model_is_none() -> None:
    triangle = pd.DataFrame({"model_a": ["a", "b", "c"], "model_b": ["b", "c", "a"], "winner": ["model_a"] * 3})
    battles = triangle.assign(battle_id=["1", "2", "3"])
    assert annotations_from_battles(battles) is None
    assert annotations_from_battles(battles.iloc[:0]) is None
    # One pair throughout: both are in every row; the one shown first more often is the baseline.
    pair = pd.DataFrame(
        {
            "model_a": ["a", "b", "b"],
            "model_b": ["b", "a", "a"],
            "winner": ["model_a"] * 3,
            "battle_id": ["1", "2", "3"],
        }
    )
    out = annotations_from_battles(pair.assign(len_a=[10, 20, 30], len_b=[1, 2, 3]))
    assert out is not None and set(out["generator_1"]) == {"b"} and out["preference"].tolist() == [2.0, 1.0, 1.0]
    assert out["len_1"].tolist() == [1, 20, 30] and out["len_2"].tolist() == [10, 2, 3]  # no texts: token counts


# ------------------------------------------------------------------------------------------------ degenerate


def annotations_of(preferences: list[float], len_1: list[float], len_2: list[float]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "instruction": [f"i{k}" for k in range(len(preferences))],
            "generator_1": "base",
            "generator_2": "model",
            "preference": preferences,
            "len_1": len_1,
            "len_2": len_2,
        }
    )


def test_all_draws_give_fifty_and_no_weights() -> None:
    result = length_controlled_win_rate(annotations_of([1.5] * 40, list(range(40)), [20.0] * 40))
    assert result.lc_win_rate == pytest.approx(50.0) and result.win_rate.win_rate == 50.0
    assert all(abs(w) < 1e-12 for w in result.weights.values())


def test_one_annotation_gives_no_lc_rate_but_a_reason() -> None:
    result = length_controlled_win_rate(annotations_of([2.0], [10], [30]))
    assert math.isnan(result.lc_win_rate) and result.win_rate.win_rate == 100.0
    assert any("too few for 5-fold cross-validation" in w for w in result.warnings)


def test_constant_length_difference_leaves_the_length_term_out() -> None:
    preferences = [2.0, 1.0, 2.0, 2.0, 1.5, 2.0, 1.0, 2.0, 2.0, 1.0] * 3
    result = length_controlled_win_rate(annotations_of(preferences, [100.0] * 30, [150.0] * 30))
    assert result.weights[LENGTH_WEIGHT] == 0.0 and math.isfinite(result.lc_win_rate)
    assert any("never varies" in w for w in result.warnings)


def test_texts_give_the_lengths_and_bad_input_gets_a_clear_message() -> None:
    texts = annotations_of([2.0, 1.0] * 5, [0] * 10, [0] * 10).drop(columns=["len_1", "len_2"])
    texts["output_1"] = ["a" * (k + 1) for k in range(10)]
    texts["output_2"] = ["b" * (10 - k) for k in range(10)]
    from_lengths = texts.drop(columns=["output_1", "output_2"]).assign(len_1=range(1, 11), len_2=range(10, 0, -1))
    assert length_controlled_win_rate(texts) == length_controlled_win_rate(from_lengths)  # characters, str.len
    with pytest.raises(ValueError, match="lengths: columns output_1/output_2"):
        length_controlled_win_rate(texts.drop(columns=["output_2"]))
    with pytest.raises(ValueError, match="one model against one baseline"):
        length_controlled_win_rate(texts.assign(generator_2=["m1", "m2"] * 5))


def test_results_are_small_frozen_values() -> None:
    rate = soft_win_rate([2, 1])
    assert isinstance(rate, WinRate)
    with pytest.raises(AttributeError):
        rate.win_rate = 0.0  # type: ignore[misc]
