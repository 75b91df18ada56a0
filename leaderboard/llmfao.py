"""Import the LLMFAO votes (people and GPT judges on the same answer pairs) as battles.

Data attribution: LLMFAO by Dmitry Ustalov (https://github.com/dustalov/llmfao), built on the Crowdsourced
LLM Benchmark by llmonitor.com, licensed CC BY 4.0 (https://creativecommons.org/licenses/by/4.0/). Keep
this attribution with any battles file or leaderboard derived from it.

A folder holds the released files: crowd-comparisons.csv (human votes; `worker` is an anonymous annotator
id), gpt4-crowd-comparisons.csv and gpt3-crowd-comparisons.csv (one GPT verdict per pair), pairs-crowd.jsonl
(the prompt and both answers of each pair), models.jsonl (model ids to names).

Mapping to the clean-battle schema:
- model_a is the `left` model (shown as "System A" / "Model A"), model_b the `right` one; winner left /
  right / tie becomes model_a / model_b / tie. LLMFAO's instructions fold "both are bad" into Tie, so no
  row is "tie (bothbad)".
- answer_a is the answer of the model named in `left`: pairs-crowd.jsonl stores result_x for model_x, and
  the importer matches the left name against model_x's and model_y's names rather than assuming left is x
  (in the released files it always is; the GPT prompt also shows result_x as Model A).
- source is "human", "judge:gpt-4" or "judge:gpt-3.5"; judge is the worker id, or "gpt-4" / "gpt-3.5".
- battle_id is the pair id, as text, so one pair's human and judge rows share it.
- tstamp is the row's position in its own file: the data has no times, and position keeps file order for
  anything that replays votes in time order (online Elo). It is not a time.
- category comes from the classifier on the prompt text, like the arena's own votes, so per-category
  leaderboards mix both; LLMFAO's own coarse prompt type (reflexion, knowledge, instruct, creativity) stays
  in the extra column prompt_type, with prompt_id and prompt_slug.
- style columns are computed from the answers with facts.style, as for every other source.

Command: ``python -m leaderboard.llmfao FOLDER --out battles.jsonl [--source human --source judge:gpt-4]``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from types import MappingProxyType

import pandas as pd

from facts.categories import Classifier, classify_prompt
from facts.schema import BattlesError, normalize_battles
from facts.style import style_features
from leaderboard.io import FORMATS, write_battles

FILES = MappingProxyType(
    {
        "human": "crowd-comparisons.csv",
        "judge:gpt-4": "gpt4-crowd-comparisons.csv",
        "judge:gpt-3.5": "gpt3-crowd-comparisons.csv",
    }
)
SOURCES = tuple(FILES)
PAIRS_FILE = "pairs-crowd.jsonl"
MODELS_FILE = "models.jsonl"
_WINNERS = MappingProxyType({"left": "model_a", "right": "model_b", "tie": "tie"})


class LLMFAOError(BattlesError):
    """The folder is not a readable LLMFAO release; the message names the file and, if any, the row."""


def load_llmfao(
    folder: str | Path, *, sources: Sequence[str] = SOURCES, classifier: Classifier = classify_prompt
) -> pd.DataFrame:
    """The chosen sources' votes as one normalized battles frame, sources in the order given."""
    folder = Path(folder)
    unknown = [s for s in sources if s not in FILES]
    if unknown:
        raise LLMFAOError(f"unknown LLMFAO source(s) {', '.join(map(repr, unknown))}; expected some of {SOURCES}")
    if not folder.is_dir():
        raise LLMFAOError(f"{folder}: not a folder")
    pairs = _pairs(folder, classifier)
    frames = [_source(folder, source, pairs) for source in dict.fromkeys(sources)]
    return normalize_battles(pd.concat(frames, ignore_index=True))


def _pairs(folder: Path, classifier: Classifier) -> pd.DataFrame:
    """One row per pair id: names, answers and style of both sides, the prompt and its category."""
    names = {int(row["id"]): str(row["name"]) for row in _jsonl(folder / MODELS_FILE)}
    pairs = pd.DataFrame(_jsonl(folder / PAIRS_FILE))
    needed = {"id", "prompt", "text", "type", "slug", "model_x", "result_x", "model_y", "result_y"}
    missing = needed - set(pairs.columns)
    if missing:
        raise LLMFAOError(f"{folder / PAIRS_FILE}: lacks the field(s) {', '.join(sorted(missing))}")
    for side in ("x", "y"):
        pairs[f"name_{side}"] = pairs[f"model_{side}"].map(names)
        unnamed = pairs[f"name_{side}"].isna()
        if unnamed.any():
            model = pairs.loc[unnamed.idxmax(), f"model_{side}"]
            raise LLMFAOError(f"{folder / MODELS_FILE}: no model with id {model} (used in {PAIRS_FILE})")
        pairs[f"style_{side}"] = [style_features(text or "") for text in pairs[f"result_{side}"]]
    categories = {text: classifier(text) for text in pairs["text"].unique()}
    pairs["category"] = pairs["text"].map(categories)
    twice = pairs.loc[pairs["id"].duplicated(), "id"]
    if not twice.empty:
        raise LLMFAOError(f"{folder / PAIRS_FILE}: pair id {twice.iloc[0]} appears twice")
    return pairs.set_index("id")


def _source(folder: Path, source: str, pairs: pd.DataFrame) -> pd.DataFrame:
    path = folder / FILES[source]
    votes = _csv(path)
    where = [f"{path}: row {number + 2}" for number in range(len(votes))]  # 1-based, after the header line
    absent = ~votes["id"].isin(pairs.index)
    if absent.any():
        row = int(absent.to_numpy().nonzero()[0][0])
        raise LLMFAOError(f"{where[row]} names pair {votes.at[row, 'id']}, which is not in {PAIRS_FILE}")
    pair = pairs.loc[votes["id"]].reset_index()
    left_is_x = (votes["left"] == pair["name_x"]) & (votes["right"] == pair["name_y"])
    left_is_y = (votes["left"] == pair["name_y"]) & (votes["right"] == pair["name_x"])
    mismatch = ~(left_is_x | left_is_y)
    if mismatch.any():
        row = int(mismatch.to_numpy().nonzero()[0][0])
        raise LLMFAOError(
            f"{where[row]}: left/right {votes.at[row, 'left']!r} / {votes.at[row, 'right']!r} are not the pair's "
            f"models {pair.at[row, 'name_x']!r} / {pair.at[row, 'name_y']!r}"
        )
    winner = votes["winner"].map(_WINNERS)
    if winner.isna().any():
        row = int(winner.isna().to_numpy().nonzero()[0][0])
        raise LLMFAOError(f"{where[row]}: unknown winner {votes.at[row, 'winner']!r}; expected left, right or tie")

    def side(column: str, shown_left: bool) -> pd.Series:
        x, y = pair[f"{column}_x"], pair[f"{column}_y"]
        return x.where(left_is_x, y) if shown_left else y.where(left_is_x, x)

    style_a, style_b = side("style", True), side("style", False)
    judge = votes["worker"] if source == "human" else pd.Series(source.removeprefix("judge:"), index=votes.index)
    return pd.DataFrame(
        {
            "model_a": votes["left"],
            "model_b": votes["right"],
            "winner": winner,
            "judge": judge,
            "source": source,
            "turn": 1,
            "anony": True,
            "tstamp": votes.index.astype(float),
            "battle_id": votes["id"].astype(str),
            "category": pair["category"],
            "prompt": pair["text"],
            "answer_a": side("result", True),
            "answer_b": side("result", False),
            **_style_columns(style_a, style_b),
            "prompt_id": pair["prompt"],
            "prompt_type": pair["type"],
            "prompt_slug": pair["slug"],
        }
    )


def _style_columns(style_a: pd.Series, style_b: pd.Series) -> dict[str, list[int]]:
    columns: dict[str, list[int]] = {}
    for features, side in ((style_a, "a"), (style_b, "b")):
        for feature in features:
            for column, value in feature.columns(side).items():
                columns.setdefault(column, []).append(value)
    return columns


def _csv(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise LLMFAOError(f"{path}: no such file")
    try:
        votes = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise LLMFAOError(f"{path}: not a readable CSV ({' '.join(str(exc).split())})") from exc
    required = {"id", "winner", "left", "right"} | ({"worker"} if path.name == FILES["human"] else set())
    missing = required - set(votes.columns)
    if missing:
        raise LLMFAOError(f"{path}: lacks the column(s) {', '.join(sorted(missing))}")
    try:
        votes["id"] = votes["id"].astype(int)
    except ValueError as exc:
        raise LLMFAOError(f"{path}: a pair id is not a number ({exc})") from exc
    return votes


def _jsonl(path: Path) -> list[dict[str, object]]:
    if not path.is_file():
        raise LLMFAOError(f"{path}: no such file")
    rows: list[dict[str, object]] = []
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise LLMFAOError(f"{path}: line {number} is not valid JSON ({exc.msg})") from exc
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m leaderboard.llmfao",
        description="Convert the LLMFAO votes (CC BY 4.0, Dmitry Ustalov; llmonitor.com) into a battles file.",
    )
    parser.add_argument("folder", type=Path, help="the folder with the LLMFAO files")
    parser.add_argument("--out", type=Path, required=True, help=f"battles file to write ({', '.join(FORMATS)})")
    parser.add_argument(
        "--source", action="append", choices=SOURCES, help="a source to import (repeatable; default: all three)"
    )
    args = parser.parse_args(argv)
    if args.out.suffix.lower() not in FORMATS:
        parser.error(f"--out must end in one of {', '.join(FORMATS)}; got {args.out.name!r}")
    try:
        battles = load_llmfao(args.folder, sources=args.source or SOURCES)
        write_battles(battles, args.out)
    except (BattlesError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    counts = ", ".join(f"{source} {count}" for source, count in battles["source"].value_counts(sort=False).items())
    print(f"wrote {len(battles)} battles ({counts}) to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
