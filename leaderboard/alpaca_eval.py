"""AlpacaEval 2 parity: raw and length-controlled win rates against one baseline, from AlpacaEval-shaped annotations.
Pure: numpy, pandas and scikit-learn (no store, no UI). The length-controlled fit is scikit-learn's
LogisticRegressionCV with AlpacaEval's settings, so its parity with AlpacaEval is by construction.

    soft_win_rate(preferences) -> WinRate
    length_controlled_win_rate(annotations, *, difficulty=None, gamed=None, baseline_lambda=0.2) -> LengthControlled
    estimate_instruction_difficulty(annotations, *, ridge=1.0) -> pd.Series   raises ValueError when it cannot
    alpaca_eval_leaderboard(annotations, *, difficulty=None, gamed=None, baseline_lambda=0.2)
        -> tuple[LengthControlled, ...]   one per generator_2, best LC win rate first
    annotations_from_battles(rows) -> pd.DataFrame | None   the arena's battles in AlpacaEval's shape
    read_difficulty(path) -> pd.Series   a user's difficulty CSV (first column the instruction, second the value)

Annotations (AlpacaEval's shape): one row per instruction judged, columns `instruction`, `generator_1` (the
baseline), `generator_2` (the model), `preference`, and the answers' lengths in characters, either as texts
`output_1` / `output_2` (str.len) or as numbers `len_1` / `len_2` (a text, where present, wins).
`preference` is a float in [1, 2]: 1 = output_1 (the baseline) preferred, 2 = output_2 (the model) preferred,
1.5 a draw; 0 is a legacy draw and becomes 1.5. Anything else (NaN, outside [1, 2]) is not a preference.

Win rate (AlpacaEval's AbsoluteScoringRule.describe_head2head), over the valid preferences, p = preference - 1:
    win_rate = 100 * mean(p);  standard_error = 100 * sem(p) (pandas, ddof = 1; NaN for one preference)
    n_wins = #(p > 1/2);  n_wins_base = #(p < 1/2);  n_draws = #(preference in {1.5, 0});  n_total = #valid
    n_dropped = #invalid;  discrete_win_rate = 100 * (n_wins + n_draws / 2) / n_total

Length-controlled win rate (AlpacaEval's "length_controlled_v1", glm_winrate.py), per model m against the baseline:
    delta_len = len(output_1) - len(output_2)                  characters, baseline minus model
    std_delta_len = delta_len / std(delta_len)                 pandas std (ddof = 1) over m's annotations
    logit P(model preferred) = w_len * tanh(std_delta_len) + w_diff * difficulty_instruction + w_ng * not_gamed_baseline
with no intercept (not_gamed_baseline is 1 on the model's rows and plays its part), fitted on the target
y = preference - 1 in [0, 1] as AlpacaEval's fit_LogisticRegressionCV fits a continuous target: every row
duplicated, label 1 with sample weight y * s and label 0 with (1 - y) * s (s the row's own weight: 1 on m's
rows), into scikit-learn's LogisticRegressionCV(Cs=10, L1 penalty, solver="liblinear", fit_intercept=False,
dual=False, random_state=123, cv=GroupKFold(5)) with both copies of a row in one group, scored by the
continuous log loss (mean over a fold's rows of s * log loss(y, clip(p, 1e-15))) passed through scikit-learn's
metadata routing, enabled for the fit only (config_context), not for the process. AlpacaEval's penalty="l1" is
spelled l1_ratios=(1,) since scikit-learn 1.8 deprecated `penalty`; the objective is the same. Then
    LC win rate = 100 * mean over m's annotations of sigmoid(w_ng + w_diff * difficulty_instruction)
the prediction with tanh(std_delta_len) = 0: the win rate the judge would give at equal lengths. Rows with an
invalid preference do not enter the fit but are averaged over, as in AlpacaEval. A model that is its own
baseline gets 50 by construction. The "extreme change" warning is AlpacaEval's get_is_extreme_changes: LC below
min(raw - raw/4, raw - 10) or above max(raw + (100 - raw)/4, raw + 10).

Regularisation towards the baseline (optional `gamed`): AlpacaEval adds annotations of verbose- and
concise-prompted versions of the baseline against the baseline, with not_gamed_baseline = 0 and sample weight
lambda / 2 (lambda = 0.2; the 2 is AlpacaEval's constant, for its two gamed variants), placed before the model's
rows. `gamed` takes the same columns as the annotations (`index` may stand for `instruction`); a column
`std_delta_len` is used as it is (AlpacaEval's df_gamed.csv has it), else it is computed per generator_2; a
column `instruction_difficulty` supplies the difficulty table when none is given, as AlpacaEval reads its table
from the same file.

Instruction difficulty estimated from the data (estimate_instruction_difficulty), when no table is given and the
annotations hold several models: one joint logistic fit over every model's annotations (baseline-vs-baseline
rows and invalid preferences left out) of
    logit P(model m preferred on instruction i) = theta_m + phi_m * tanh(std_delta_len) + b_i
with the per-model length term standardised as above, cross-entropy on the continuous y, a ridge (unit normal
prior, `ridge` = 1) on the instruction effects b_i and a tiny one (1e-3) on theta and phi so that a model that
always wins stays finite. difficulty_i = -b_i standardised (mean 0, pandas std 1): high means the models lose
to the baseline there more than their own level and lengths explain. Why this estimator: b_i is what the
instruction does to every model's chance against the same baseline, which is what AlpacaEval's difficulty
stands for (its authors fitted their table from many leaderboard models' annotations in a joint GLM of this
kind); the per-model length terms keep instructions that invite long answers from passing for easy ones when
verbose models win there; the ridge keeps instructions seen by few models near average. With one model per
instruction b_i is that model's own verdict, and feeding it back into that model's fit would explain its
verdicts by themselves: estimation refuses unless the median instruction has at least 2 distinct models (and
warns below 5, where each model's own verdicts still weigh on the difficulty it is fitted with). This fit is
our own (scikit-learn has no logistic regression with a penalty per block of weights): Newton's method with the
instruction block eliminated (it is diagonal), so a step costs O(rows + models^2 * instructions): 805
instructions x 200 models take about a second here (the leaderboard's 200 LC fits then take about 40 s, 0.2 s
each).

Where this departs from AlpacaEval, and why:
- Difficulty: AlpacaEval downloads instruction_difficulty.csv; it cannot be downloaded here. A given table is
  used ("given"); without one the leaderboard estimates it as above ("estimated"); a single model without a
  table is fitted without the difficulty term ("none", with a warning), so its LC rate averages one sigmoid.
  The table is joined on `instruction`; AlpacaEval joins on the row's position in its 805-instruction set.
- Gamed annotations (df_gamed.csv) cannot be downloaded either: without `gamed` there is no shrinkage towards the
  baseline, so a model whose answers are always much longer (tanh saturated) has a less stable length weight.
- Robustness where AlpacaEval would crash or return NaN: rows whose lengths or difficulty are unknown are left
  out of the fit and the average (warning with the count); a length difference that never varies (std 0 or
  undefined) gives a zero length feature (warning); fewer valid annotations than folds (5) give a NaN LC rate
  (warning) where GroupKFold would raise.
- The discrete win rate counts the same valid preferences as the soft one; AlpacaEval rounds first, so there an
  out-of-range 2.3 counts as a win in the discrete rate while the soft rate drops it.
- AlpacaEval's `baseline=` option (re-baselining from saved weights) is not provided.
- annotations_from_battles measures lengths in tokens (len_a / len_b) when the battles carry no answer texts;
  dividing by the standard deviation removes the unit, not the tokenizer's departures from characters.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import numpy as np
import pandas as pd

LENGTH_WEIGHT = "np.tanh(std_delta_len)"  # AlpacaEval's weight names (headers of its weights/*.csv files)
DIFFICULTY_WEIGHT = "instruction_difficulty"
NOT_GAMED_WEIGHT = "not_gamed_baseline.astype(float)"
WEIGHT_NAMES = (LENGTH_WEIGHT, DIFFICULTY_WEIGHT, NOT_GAMED_WEIGHT)

N_CS = 10  # LogisticRegressionCV's default grid: logspace(-4, 4, 10)
N_SPLITS = 5
BASELINE_LAMBDA = 0.2
_LOG_LOSS_CLIP = 1e-15  # AlpacaEval's logloss clips predictions so
_JOINT_TINY_RIDGE = 1e-3
_MIN_MODELS_PER_INSTRUCTION = 2
_FEW_MODELS_PER_INSTRUCTION = 5


@dataclass(frozen=True)
class WinRate:
    """AlpacaEval's head-to-head description of the model against the baseline, rates in percent."""

    win_rate: float
    standard_error: float
    discrete_win_rate: float
    n_wins: int
    n_wins_base: int
    n_draws: int
    n_total: int
    n_dropped: int


@dataclass(frozen=True)
class LengthControlled:
    model: str
    baseline: str
    win_rate: WinRate
    lc_win_rate: float  # percent
    weights: Mapping[str, float]  # WEIGHT_NAMES -> fitted weight (0 for a term left out)
    difficulty: str  # "given", "estimated" or "none"
    warnings: tuple[str, ...]
    regularization_c: float = math.nan  # the C chosen by cross-validation (NaN when nothing was fitted)


# ---------------------------------------------------------------------------------------------------- win rate


def _preference_values(preferences: Iterable[object]) -> tuple[np.ndarray, np.ndarray]:
    """(preferences with 0 -> 1.5, whether each is a preference). Non-numbers become NaN, hence invalid."""
    raw = pd.to_numeric(pd.Series(list(preferences), dtype=object), errors="coerce").to_numpy(dtype=float)
    values = np.where(raw == 0, 1.5, raw)
    with np.errstate(invalid="ignore"):
        valid = (values >= 1) & (values <= 2)
    return values, valid


def soft_win_rate(preferences: Iterable[object]) -> WinRate:
    """The win rate of output_2 (the model) over output_1 (the baseline), as AlpacaEval describes it."""
    values, valid = _preference_values(preferences)
    p = pd.Series(values[valid] - 1.0)
    n_total = len(p)
    n_wins = int((p > 0.5).sum())
    n_draws = int((p == 0.5).sum())  # 0 became 1.5 above, and a draw is always valid
    return WinRate(
        win_rate=float(p.mean() * 100) if n_total else math.nan,
        standard_error=float(p.sem() * 100) if n_total > 1 else math.nan,
        discrete_win_rate=(n_wins + n_draws / 2) / n_total * 100 if n_total else math.nan,
        n_wins=n_wins,
        n_wins_base=int((p < 0.5).sum()),
        n_draws=n_draws,
        n_total=n_total,
        n_dropped=int((~valid).sum()),
    )


def is_extreme_change(raw: float, lc: float, *, abs_diff: float = 10, rel_diff: float = 4) -> bool:
    """AlpacaEval's warning rule: the LC rate moved further than both a quarter of the room and 10 points."""
    too_small = lc < min(raw - raw / rel_diff, raw - abs_diff)
    too_large = lc > max(raw + (100 - raw) / rel_diff, raw + abs_diff)
    return bool(too_small or too_large)


# ---------------------------------------------------------------------------------------------------- features


def _text_lengths(column: pd.Series) -> np.ndarray:
    return column.map(lambda text: len(text) if isinstance(text, str) else math.nan).to_numpy(dtype=float)


def _lengths(frame: pd.DataFrame, what: str = "annotations") -> tuple[np.ndarray, np.ndarray]:
    """Characters of output_1 and output_2 per row (NaN where unknown)."""
    has_text = {"output_1", "output_2"} <= set(frame.columns)
    has_len = {"len_1", "len_2"} <= set(frame.columns)
    if not (has_text or has_len):
        raise ValueError(f"{what} need the answers' lengths: columns output_1/output_2 (texts) or len_1/len_2")
    lengths = []
    for side in ("1", "2"):
        value = np.full(len(frame), math.nan)
        if has_len:
            value = pd.to_numeric(frame[f"len_{side}"], errors="coerce").to_numpy(dtype=float)
        if has_text:
            text = _text_lengths(frame[f"output_{side}"])
            value = np.where(np.isnan(text), value, text)
        lengths.append(value)
    return lengths[0], lengths[1]


def _tanh_std_delta(len_1: np.ndarray, len_2: np.ndarray) -> tuple[np.ndarray, bool]:
    """tanh(delta / std(delta)) with pandas' std over the known deltas; zeros when the delta never varies."""
    delta = len_1 - len_2
    known = delta[~np.isnan(delta)]
    sd = float(np.std(known, ddof=1)) if len(known) > 1 else math.nan  # pandas' std: skips NaN, ddof = 1
    if not np.isfinite(sd) or sd == 0:
        # 0/0 in AlpacaEval: a length term cannot be told from the constant when every delta is the same.
        return np.where(np.isnan(delta), math.nan, 0.0), False
    return np.tanh(delta / sd), True


def _tanh_per_model(models: pd.Series, len_1: np.ndarray, len_2: np.ndarray) -> np.ndarray:
    """tanh(std_delta_len) with each model's own standard deviation, as each model is fitted on its own."""
    t = np.full(len(models), math.nan)
    for rows in models.groupby(models.to_numpy(), sort=True).indices.values():
        t[rows] = _tanh_std_delta(len_1[rows], len_2[rows])[0]
    return t


def _require(frame: pd.DataFrame, columns: Iterable[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{what} lack column(s) {', '.join(missing)}; found {', '.join(map(str, frame.columns))}")


def _as_table(difficulty: pd.Series) -> pd.Series:
    """A difficulty table keyed by instruction: numbers, first value of a repeated key, no NaN."""
    table = pd.to_numeric(pd.Series(difficulty), errors="coerce")
    table = table[~table.index.duplicated(keep="first")]  # AlpacaEval's drop_duplicates("index")
    return table.dropna()


def read_difficulty(path: str | Path) -> pd.Series:
    """A difficulty table from a CSV: first column the instruction (or AlpacaEval's index), second the difficulty."""
    frame = pd.read_csv(path)
    if frame.shape[1] < 2:
        raise ValueError(f"{path}: a difficulty table needs two columns (instruction, difficulty)")
    table = pd.Series(frame.iloc[:, 1].to_numpy(), index=frame.iloc[:, 0].to_numpy(), name=DIFFICULTY_WEIGHT)
    return _as_table(table)


# ----------------------------------------------------------------------------------------- L1 logistic fit


def _sigmoid(eta: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * eta))  # no overflow for large |eta|


def _continuous_log_loss(
    y_true: np.ndarray, y_pred: np.ndarray, *, true_prob: np.ndarray, true_sample_weight: np.ndarray
) -> float:
    """AlpacaEval's scorer: mean over the fold's (duplicated) rows of s * log loss against the continuous target.

    A row labelled 1 carries true_prob = y, its copy labelled 0 carries 1 - y: both score against y."""
    target = np.where(y_true == 1, true_prob, 1.0 - true_prob)
    p = np.clip(y_pred, _LOG_LOSS_CLIP, 1 - _LOG_LOSS_CLIP)
    return float(-np.mean(true_sample_weight * (target * np.log(p) + (1 - target) * np.log(1 - p))))


def _fit_cv(X: np.ndarray, y: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, float]:
    """AlpacaEval's fit_LogisticRegressionCV for a continuous target y in [0, 1] with sample weights s:
    (weights, chosen C). Every row is duplicated (label 1 weighted y * s, label 0 weighted (1 - y) * s), both
    copies in one group of GroupKFold, and C chosen by the continuous log loss through metadata routing."""
    # Imported here: scikit-learn costs about 2 s to import, paid only by those who fit an LC win rate.
    import sklearn
    from sklearn.linear_model import LogisticRegressionCV
    from sklearn.metrics import make_scorer
    from sklearn.model_selection import GroupKFold

    n = len(y)
    rows = np.arange(n)
    label = np.concatenate([np.ones(n), np.zeros(n)])
    true_prob = np.concatenate([y, 1.0 - y])
    true_weight = np.concatenate([s, s])
    # AlpacaEval passes penalty="l1"; scikit-learn 1.8 deprecated it for l1_ratios=(1,), the same objective.
    # scikit-learn 1.9 warns unless use_legacy_attributes is set; False (C_ a float) is the default from 1.10 on,
    # which deprecates the parameter, so it is passed only while the default would warn.
    default = LogisticRegressionCV().get_params().get("use_legacy_attributes")
    legacy = {"use_legacy_attributes": False} if default == "warn" else {}
    with sklearn.config_context(enable_metadata_routing=True):  # for this fit only, not the whole process
        scorer = make_scorer(_continuous_log_loss, response_method="predict_proba", greater_is_better=False)
        model = LogisticRegressionCV(
            Cs=N_CS,
            l1_ratios=(1.0,),
            cv=GroupKFold(n_splits=N_SPLITS),
            scoring=scorer.set_score_request(true_prob=True, true_sample_weight=True),
            solver="liblinear",
            fit_intercept=False,
            dual=False,
            random_state=123,
            **legacy,
        )
        model.set_fit_request(sample_weight=True)
        model.fit(
            np.vstack([X, X]),
            label,
            sample_weight=true_prob * true_weight,
            groups=np.concatenate([rows, rows]),
            true_prob=true_prob,
            true_sample_weight=true_weight,
        )
    return np.asarray(model.coef_[0], dtype=float), float(np.ravel(model.C_)[0])


# ---------------------------------------------------------------------------------- length-controlled win rate


def _one_pair(annotations: pd.DataFrame) -> tuple[str, str]:
    _require(annotations, ("instruction", "generator_1", "generator_2", "preference"), "annotations")
    baselines = annotations["generator_1"].dropna().unique()
    models = annotations["generator_2"].dropna().unique()
    if len(baselines) != 1 or len(models) != 1:
        raise ValueError(
            "length_controlled_win_rate takes one model against one baseline; found generator_1 "
            f"{sorted(map(str, baselines))} and generator_2 {sorted(map(str, models))} "
            "(alpaca_eval_leaderboard takes several models)"
        )
    return str(baselines[0]), str(models[0])


def _difficulty_of(instructions: pd.Series, table: pd.Series | None) -> np.ndarray:
    if table is None:
        return np.zeros(len(instructions))  # the term left out: an all-zero column keeps weight 0
    return instructions.map(table).to_numpy(dtype=float)


def _gamed_rows(
    gamed: pd.DataFrame, table: pd.Series | None, baseline_lambda: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """(features without the constant, target, weight, rows left out) for the baseline's gamed annotations."""
    frame = gamed if "instruction" in gamed.columns else gamed.rename(columns={"index": "instruction"})
    _require(frame, ("instruction", "preference"), "gamed annotations")
    if "std_delta_len" in frame.columns:
        t = np.tanh(pd.to_numeric(frame["std_delta_len"], errors="coerce").to_numpy(dtype=float))
    else:
        len_1, len_2 = _lengths(frame, "gamed annotations")
        groups = frame["generator_2"] if "generator_2" in frame.columns else pd.Series(0, index=frame.index)
        t = _tanh_per_model(groups, len_1, len_2)
    difficulty = _difficulty_of(frame["instruction"], table)
    values, valid = _preference_values(frame["preference"])
    keep = valid & ~np.isnan(t) & ~np.isnan(difficulty)
    features = np.column_stack([t[keep], difficulty[keep]])
    weight = np.full(int(keep.sum()), baseline_lambda / 2)  # AlpacaEval: lambda / 2 for its two gamed variants
    return features, values[keep] - 1.0, weight, int((~keep).sum())


def _length_controlled(
    annotations: pd.DataFrame,
    table: pd.Series | None,
    kind: str,
    gamed: pd.DataFrame | None,
    baseline_lambda: float,
    notes: tuple[str, ...] = (),
) -> LengthControlled:
    baseline, model = _one_pair(annotations)
    rate = soft_win_rate(annotations["preference"])
    warnings = list(notes)
    zero = MappingProxyType(dict.fromkeys(WEIGHT_NAMES, 0.0))
    if model == baseline:
        return LengthControlled(model, baseline, rate, 50.0, zero, kind, tuple(warnings))

    len_1, len_2 = _lengths(annotations)
    t, varies = _tanh_std_delta(len_1, len_2)
    if not varies:
        warnings.append(
            "the length difference never varies (std 0 or undefined): no length control, the length term is 0"
        )
    difficulty = _difficulty_of(annotations["instruction"], table)
    unknown_length = np.isnan(t)
    unknown_difficulty = np.isnan(difficulty) & ~unknown_length
    if unknown_length.any():
        warnings.append(f"{int(unknown_length.sum())} annotation(s) without both answers' lengths left out")
    if unknown_difficulty.any():
        missing = annotations["instruction"][unknown_difficulty].nunique()
        warnings.append(
            f"{int(unknown_difficulty.sum())} annotation(s) on {missing} instruction(s) without a difficulty "
            "left out of the fit and of the LC average"
        )
    usable = ~unknown_length & ~unknown_difficulty
    values, valid = _preference_values(annotations["preference"])
    train = usable & valid

    features = [t[train], difficulty[train]]
    targets, weights, flags = [values[train] - 1.0], [np.ones(int(train.sum()))], [np.ones(int(train.sum()))]
    if gamed is not None and len(gamed):
        gamed_features, gamed_y, gamed_s, dropped = _gamed_rows(gamed, table, baseline_lambda)
        if dropped:
            warnings.append(f"{dropped} gamed annotation(s) without a preference, lengths or difficulty left out")
        # AlpacaEval concatenates the gamed rows first, which decides the folds.
        features = [
            np.concatenate([gamed_features[:, 0], features[0]]),
            np.concatenate([gamed_features[:, 1], features[1]]),
        ]
        targets.insert(0, gamed_y)
        weights.insert(0, gamed_s)
        flags.insert(0, np.zeros(len(gamed_y)))
    columns = [features[0], features[1], np.concatenate(flags)]
    X = np.column_stack(columns)
    y, s = np.concatenate(targets), np.concatenate(weights)

    if int(train.sum()) < N_SPLITS or len(y) < N_SPLITS:
        warnings.append(
            f"{int(train.sum())} usable annotation(s): too few for {N_SPLITS}-fold cross-validation, no LC win rate"
        )
        return LengthControlled(model, baseline, rate, math.nan, zero, kind, tuple(warnings))

    if np.all(y == y[0]) and y[0] in (0.0, 1.0):
        # Every verdict the same extreme: nothing for length to explain, and liblinear would fit one class only
        # (printing a warning per fold and C). The judge's verdict at any length is that extreme.
        warnings.append("every preference is the same extreme: no fit, the LC win rate is the raw one")
        return LengthControlled(model, baseline, rate, 100.0 * y[0], zero, kind, tuple(warnings))
    w, C = _fit_cv(X, y, s)
    # The prediction at equal lengths (tanh term 0) on the model's own instructions, not gamed (constant 1).
    lc = float(_sigmoid(w[2] + w[1] * difficulty[usable]).mean() * 100)
    if np.isfinite(rate.win_rate) and is_extreme_change(rate.win_rate, lc):
        warnings.append(
            f"length controlled win rate is very different from the raw one: {lc:.1f}% vs {rate.win_rate:.1f}%; "
            "this might be a sign of failure of the GLM"
        )
    fitted = MappingProxyType(dict(zip(WEIGHT_NAMES, map(float, w), strict=True)))
    return LengthControlled(model, baseline, rate, lc, fitted, kind, tuple(warnings), C)


def _given_difficulty(difficulty: pd.Series | None, gamed: pd.DataFrame | None) -> pd.Series | None:
    """The difficulty table given, or the one a gamed frame carries (AlpacaEval reads both from one file)."""
    if difficulty is not None:
        return _as_table(difficulty)
    if gamed is not None and DIFFICULTY_WEIGHT in gamed.columns:
        key = "instruction" if "instruction" in gamed.columns else "index"
        return _as_table(gamed.set_index(key)[DIFFICULTY_WEIGHT])
    return None


def length_controlled_win_rate(
    annotations: pd.DataFrame,
    *,
    difficulty: pd.Series | None = None,
    gamed: pd.DataFrame | None = None,
    baseline_lambda: float = BASELINE_LAMBDA,
) -> LengthControlled:
    """AlpacaEval 2's length-controlled win rate of one model (generator_2) against one baseline (generator_1).

    `difficulty`: instruction -> difficulty (AlpacaEval's instruction_difficulty.csv, or an estimate from a
    leaderboard's annotations). Without it the difficulty comes from `gamed`'s instruction_difficulty column, if
    any, else the term is left out ("none"): one model's annotations cannot estimate it."""
    _one_pair(annotations)
    table, notes = _given_difficulty(difficulty, gamed), ()
    kind = "none" if table is None else "given"
    if table is None:
        notes = (
            "no instruction difficulty: fitted without it (pass difficulty=..., or use alpaca_eval_leaderboard "
            "on several models' annotations to estimate it)",
        )
    return _length_controlled(annotations, table, kind, gamed, baseline_lambda, notes)


# ------------------------------------------------------------------------------------- instruction difficulty


def _joint_fit(
    model: np.ndarray, instruction: np.ndarray, t: np.ndarray, y: np.ndarray, n_models: int, n_inst: int, ridge: float
) -> np.ndarray:
    """Instruction effects b of logit = theta_m + phi_m t + b_i, by Newton's method on the penalised cross-entropy.

    The Hessian is [[A, B], [B', D]] over (theta, phi) and b, with D diagonal: b is eliminated through the Schur
    complement A - B D^-1 B' (2 models square), so no (models + instructions) square system is ever formed."""
    theta, phi, b = np.zeros(n_models), np.zeros(n_models), np.zeros(n_inst)
    cell = model * n_inst + instruction

    def objective(theta: np.ndarray, phi: np.ndarray, b: np.ndarray) -> float:
        eta = theta[model] + phi[model] * t + b[instruction]
        penalty = 0.5 * ridge * b @ b + 0.5 * _JOINT_TINY_RIDGE * (theta @ theta + phi @ phi)
        return float(np.sum(np.logaddexp(0.0, eta) - y * eta) + penalty)

    value = objective(theta, phi, b)
    for _ in range(100):
        p = _sigmoid(theta[model] + phi[model] * t + b[instruction])
        r, h = p - y, p * (1 - p)
        g_model = np.concatenate(
            [
                np.bincount(model, r, n_models) + _JOINT_TINY_RIDGE * theta,
                np.bincount(model, r * t, n_models) + _JOINT_TINY_RIDGE * phi,
            ]
        )
        g_b = np.bincount(instruction, r, n_inst) + ridge * b
        A = np.zeros((2 * n_models, 2 * n_models))
        diagonal = np.arange(n_models)
        A[diagonal, diagonal] = np.bincount(model, h, n_models) + _JOINT_TINY_RIDGE
        A[diagonal + n_models, diagonal + n_models] = np.bincount(model, h * t * t, n_models) + _JOINT_TINY_RIDGE
        A[diagonal, diagonal + n_models] = A[diagonal + n_models, diagonal] = np.bincount(model, h * t, n_models)
        B = np.vstack(
            [
                np.bincount(cell, h, n_models * n_inst).reshape(n_models, n_inst),
                np.bincount(cell, h * t, n_models * n_inst).reshape(n_models, n_inst),
            ]
        )
        D = np.bincount(instruction, h, n_inst) + ridge
        BD = B / D
        u = np.linalg.solve(A - BD @ B.T, -g_model + BD @ g_b)
        v = -(g_b + B.T @ u) / D
        step = 1.0
        while step > 1e-10:
            candidate = objective(theta + step * u[:n_models], phi + step * u[n_models:], b + step * v)
            if candidate <= value:
                break
            step /= 2
        else:
            break
        theta, phi, b = theta + step * u[:n_models], phi + step * u[n_models:], b + step * v
        value = candidate
        if step * max(np.abs(u).max(), np.abs(v).max()) < 1e-8:
            break
    return b


def estimate_instruction_difficulty(annotations: pd.DataFrame, *, ridge: float = 1.0) -> pd.Series:
    """Instruction -> difficulty (mean 0, std 1; high = hard for the models) from several models' annotations
    against one baseline (see the module docstring). Raises ValueError when the data cannot support it."""
    _require(annotations, ("instruction", "generator_1", "generator_2", "preference"), "annotations")
    baselines = annotations["generator_1"].dropna().unique()
    if len(baselines) != 1:
        raise ValueError(f"difficulty estimation takes one baseline (generator_1); found {sorted(map(str, baselines))}")
    len_1, len_2 = _lengths(annotations)
    values, valid = _preference_values(annotations["preference"])
    frame = pd.DataFrame(
        {
            "instruction": annotations["instruction"].to_numpy(),
            "model": annotations["generator_2"].astype(str).to_numpy(),
            "y": values - 1.0,
            "t": _tanh_per_model(annotations["generator_2"].astype(str), len_1, len_2),
        }
    )
    keep = (
        valid
        & (frame["model"].to_numpy() != str(baselines[0]))
        & frame["t"].notna().to_numpy()
        & frame["instruction"].notna().to_numpy()
    )
    frame = frame[keep]

    per_instruction = frame.groupby("instruction")["model"].nunique()
    n_models = frame["model"].nunique()
    median = float(per_instruction.median()) if len(per_instruction) else 0.0
    if n_models < _MIN_MODELS_PER_INSTRUCTION or median < _MIN_MODELS_PER_INSTRUCTION:
        raise ValueError(
            "cannot estimate instruction difficulty: it needs at least 2 distinct models on most instructions, "
            f"and these annotations have {median:g} model(s) per instruction (median over {len(per_instruction)} "
            f"instruction(s); {n_models} model(s) in all against {baselines[0]}); pass a difficulty table instead"
        )

    model_codes, models = pd.factorize(frame["model"], sort=True)
    inst_codes, instructions = pd.factorize(frame["instruction"], sort=False)
    b = _joint_fit(
        model_codes.astype(np.int64),
        inst_codes.astype(np.int64),
        frame["t"].to_numpy(dtype=float),
        frame["y"].to_numpy(dtype=float),
        len(models),
        len(instructions),
        ridge,
    )
    hardness = pd.Series(-b, index=pd.Index(instructions, name="instruction"), name=DIFFICULTY_WEIGHT)
    spread = hardness.std()
    if not np.isfinite(spread) or spread == 0:
        return hardness * 0.0
    return (hardness - hardness.mean()) / spread


def _models_per_instruction(annotations: pd.DataFrame) -> float:
    rows = annotations[annotations["generator_2"] != annotations["generator_1"]]
    return float(rows.groupby("instruction")["generator_2"].nunique().median())


# ------------------------------------------------------------------------------------------------ leaderboard


def alpaca_eval_leaderboard(
    annotations: pd.DataFrame,
    *,
    difficulty: pd.Series | None = None,
    gamed: pd.DataFrame | None = None,
    baseline_lambda: float = BASELINE_LAMBDA,
) -> tuple[LengthControlled, ...]:
    """AlpacaEval's leaderboard: every generator_2 against the one baseline, best LC win rate first (NaN last).

    Without a difficulty table (or a gamed frame carrying one) the difficulty is estimated once from all the
    models' annotations; when that is impossible every model is fitted without it, with the reason as a warning."""
    _require(annotations, ("instruction", "generator_1", "generator_2", "preference"), "annotations")
    baselines = annotations["generator_1"].dropna().unique()
    if len(baselines) != 1:
        raise ValueError(f"a leaderboard takes one baseline (generator_1); found {sorted(map(str, baselines))}")
    notes: tuple[str, ...] = ()
    table, kind = _given_difficulty(difficulty, gamed), "given"
    if table is None:
        try:
            table, kind = estimate_instruction_difficulty(annotations), "estimated"
        except ValueError as refusal:
            table, kind, notes = None, "none", (f"fitted without instruction difficulty: {refusal}",)
        else:
            per_instruction = _models_per_instruction(annotations)
            if per_instruction < _FEW_MODELS_PER_INSTRUCTION:
                notes = (
                    f"difficulty estimated from {per_instruction:g} model(s) per instruction: each model's own "
                    "verdicts weigh on the difficulty it is fitted with",
                )
    results = [
        _length_controlled(rows, table, kind, gamed, baseline_lambda, notes)
        for _, rows in annotations.groupby(annotations["generator_2"].astype(str), sort=True)
    ]
    return tuple(sorted(results, key=lambda r: (math.isnan(r.lc_win_rate), -np.nan_to_num(r.lc_win_rate), r.model)))


# --------------------------------------------------------------------------------------------- arena battles

_WINNER_PREFERENCE = {"model_a": 1.0, "model_b": 2.0, "tie": 1.5, "tie (bothbad)": 1.5}


def _common_baseline(rows: pd.DataFrame) -> str | None:
    model_a, model_b = rows["model_a"].astype(str), rows["model_b"].astype(str)
    # A model in every row is in the first one.
    common = [m for m in dict.fromkeys((model_a.iloc[0], model_b.iloc[0])) if ((model_a == m) | (model_b == m)).all()]
    if len(common) < 2:
        return common[0] if common else None
    # Every battle is the same pair: AlpacaEval's baseline is output_1, so take the model shown first more often.
    shown_first = model_a.value_counts()
    return sorted(common, key=lambda m: (-int(shown_first.get(m, 0)), m))[0]


def annotations_from_battles(rows: pd.DataFrame) -> pd.DataFrame | None:
    """The arena's battles as AlpacaEval annotations against the model present in every row (generator_1), or
    None when no model is. A `preference` (1 = model_a, 2 = model_b preferred) wins over `winner`; preferences
    are flipped (1 <-> 2) where the baseline is model_b; a winner without one gives 1 / 2 / 1.5 (either tie).
    instruction = prompt, else battle_id. Lengths: the answers' texts (characters, as AlpacaEval); only when the
    frame has no answer texts, len_a / len_b (the schema's token counts). When every battle is the same pair,
    both models are in every row: the baseline is the one shown first (model_a) more often, then by name."""
    _require(rows, ("model_a", "model_b", "winner"), "battles")
    if rows.empty:
        return None
    baseline = _common_baseline(rows)
    if baseline is None:
        return None
    from_winner = rows["winner"].map(_WINNER_PREFERENCE).to_numpy(dtype=float)
    preference = from_winner
    if "preference" in rows.columns:
        given = pd.to_numeric(rows["preference"], errors="coerce").to_numpy(dtype=float)
        given = np.where(given == 0, 1.5, given)  # a legacy draw would flip to 3 otherwise
        preference = np.where(np.isnan(given), from_winner, given)
    flip = (rows["model_a"].astype(str) != baseline).to_numpy()
    preference = np.where(flip, 3.0 - preference, preference)

    def side(first: str, second: str) -> pd.Series:
        return pd.Series(np.where(flip, rows[second].to_numpy(), rows[first].to_numpy()), index=rows.index)

    if "prompt" in rows.columns:
        instruction = rows["prompt"].astype(object)  # a category column (the store's) takes no new values
        if "battle_id" in rows.columns:
            instruction = instruction.where(instruction.notna(), rows["battle_id"].astype(object))
    elif "battle_id" in rows.columns:
        instruction = rows["battle_id"]
    else:
        raise ValueError("battles need a prompt or a battle_id column to name the instruction")
    out = pd.DataFrame(
        {
            "instruction": instruction.to_numpy(),
            "generator_1": baseline,
            "generator_2": side("model_b", "model_a").astype(str).to_numpy(),
            "preference": preference,
        },
        index=rows.index,
    )
    if {"answer_a", "answer_b"} <= set(rows.columns):
        out["output_1"] = side("answer_a", "answer_b")
        out["output_2"] = side("answer_b", "answer_a")
    elif {"len_a", "len_b"} <= set(rows.columns):
        # Token counts (facts.schema), never mixed with characters: std_delta_len divides the unit out.
        out["len_1"] = pd.to_numeric(side("len_a", "len_b"), errors="coerce")
        out["len_2"] = pd.to_numeric(side("len_b", "len_a"), errors="coerce")
    if "battle_id" in rows.columns:
        out["battle_id"] = rows["battle_id"].to_numpy()
    return out.reset_index(drop=True)
