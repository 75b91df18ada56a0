"""Battles files: the clean-battle schema (facts.schema) as JSON, JSONL or CSV, chosen by extension.

- ``.json``: a list of objects, one per battle. Chatbot Arena's released ``clean_battle_*.json`` files are
  such lists with the same column names, so they load as they are; two of their fields are mapped when the
  schema's own columns are absent: ``question_id`` becomes ``battle_id``, and ``conv_metadata`` (markdown
  counts and tiktoken lengths) becomes the style columns. Those lengths are tiktoken tokens, not
  facts.style's count, so do not fit such a file together with battles from another source under
  style control.
- ``.jsonl``: one object per line (blank lines are skipped); an error names the line.
- ``.csv``: flat columns only; nested values (dicts, lists) are written as their text and come back as text,
  and an empty text comes back as missing (CSV has one empty cell for both).

Reading always returns a normalized frame (facts.schema.normalize_battles). Every problem with a file
raises BattlesFileError, whose message starts with the file's name (the path, or the name its uploader gave it:
a server path is never shown to the person who uploaded the file).

`ReadLimits` bounds the work a file may cause (bytes, rows, nesting), checked before or while parsing; the
command-line readers pass none, uploads through the web page always do.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from facts.schema import DEFAULTS, REQUIRED, STYLE_COLUMNS, BattlesError, normalize_battles

FORMATS = (".json", ".jsonl", ".csv")
# Read as text from CSV whatever they look like: a judge "58" or a battle id "0017" must not become numbers.
TEXT_COLUMNS = (*REQUIRED, *(c for c, v in DEFAULTS.items() if v is None or isinstance(v, str)))


class BattlesFileError(BattlesError):
    """A battles file is missing, unreadable, malformed, too big or lacks a required column."""


@dataclass(frozen=True)
class ReadLimits:
    """The most a battles file may hold. Nesting deeper than orjson's 1,024 levels is always refused."""

    max_bytes: int = 50 * 1024 * 1024
    max_rows: int = 2_000_000


def read_battles(path: str | Path, *, limits: ReadLimits | None = None, name: str | None = None) -> pd.DataFrame:
    """The battles in `path` (.json, .jsonl or .csv), checked and normalized; errors start with `name` (default:
    the path)."""
    path = Path(path)
    label = name or str(path)
    suffix = _suffix(path, label)
    if not path.exists():
        raise BattlesFileError(f"{label}: no such file")
    if path.is_dir():
        raise BattlesFileError(f"{label}: is a directory, not a battles file")
    if limits is not None and (size := path.stat().st_size) > limits.max_bytes:
        raise BattlesFileError(f"{label}: the file is {_megabytes(size)}; the limit is {_megabytes(limits.max_bytes)}")
    max_rows = limits.max_rows if limits is not None else None
    try:
        if suffix == ".csv":
            frame = _read_csv(path, label, max_rows)
        else:
            records = _read_json(path, label) if suffix == ".json" else _read_jsonl(path, label, max_rows)
            _check_rows(len(records), max_rows, label)
            frame = _frame(records)
        return _as_text(normalize_battles(frame))
    except BattlesFileError:
        raise
    except (BattlesError, OSError, UnicodeDecodeError) as exc:
        raise BattlesFileError(f"{label}: {exc}") from exc


def _megabytes(size: int) -> str:
    return f"{size / 1024 / 1024:,.1f} MB"


def _check_rows(rows: int, max_rows: int | None, label: str) -> None:
    if max_rows is not None and rows > max_rows:
        raise BattlesFileError(f"{label}: more than {max_rows:,} battles; the limit is {max_rows:,}")


def write_battles(frame: pd.DataFrame, path: str | Path) -> None:
    """Write `frame` to `path`, in the format its extension names; missing parent folders are created."""
    path = Path(path)
    suffix = _suffix(path, str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".csv":
        frame.to_csv(path, index=False)
        return
    lines = (json.dumps(record, ensure_ascii=False, default=_json_default) for record in _records(frame))
    with path.open("w", encoding="utf-8") as out:
        if suffix == ".jsonl":
            for line in lines:
                out.write(line + "\n")
        else:
            # One battle per line inside the list: still one JSON document, but diffable and greppable.
            out.write("[\n" + ",\n".join(lines) + "\n]\n")


# A spreadsheet runs a cell that starts with one of these as a formula (OWASP: CSV injection).
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of `frame` whose text cells cannot run as formulas: a leading ' makes a spreadsheet show them as
    text. Numbers stay numbers (a negative rating difference is not a formula). For tables people open in
    spreadsheets; battles files keep their text exactly (they are read back by read_battles)."""
    safe = frame.copy()
    for column in safe.columns:
        if safe[column].dtype == object or pd.api.types.is_string_dtype(safe[column]):
            safe[column] = safe[column].map(
                lambda cell: f"'{cell}" if isinstance(cell, str) and cell.startswith(_FORMULA_STARTS) else cell
            )
    return safe


def _suffix(path: Path, label: str) -> str:
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise BattlesFileError(f"{label}: unknown battles format {path.suffix or '(no extension)'!r}; use {FORMATS}")
    return suffix


TOO_DEEP = "nested too deeply (a battle needs a few levels, not thousands)"


def _read_json(path: Path, label: str) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as source:
        try:
            data = json.load(source)
        except json.JSONDecodeError as exc:
            hint = " (one object per line is JSON Lines: name the file .jsonl)" if exc.msg == "Extra data" else ""
            raise BattlesFileError(
                f"{label}: malformed JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}{hint}"
            ) from None
        except RecursionError:
            # The json module's C scanner stops at the interpreter's recursion limit: a bounded, quick failure.
            raise BattlesFileError(f"{label}: {TOO_DEEP}") from None
    if not isinstance(data, list):
        raise BattlesFileError(f"{label}: expected a JSON list of battle objects, found a {type(data).__name__}")
    for number, item in enumerate(data):
        if not isinstance(item, dict):
            raise BattlesFileError(f"{label}: item {number} of the list is a {type(item).__name__}, not an object")
    return data


def _read_jsonl(path: Path, label: str, max_rows: int | None) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    with path.open(encoding="utf-8") as source:
        for number, line in enumerate(source, start=1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except json.JSONDecodeError as exc:
                raise BattlesFileError(f"{label}: line {number} is not valid JSON ({exc.msg})") from None
            except RecursionError:
                raise BattlesFileError(f"{label}: line {number} is {TOO_DEEP}") from None
            if not isinstance(item, dict):
                raise BattlesFileError(f"{label}: line {number} is a {type(item).__name__}, not an object")
            records.append(item)
            _check_rows(len(records), max_rows, label)  # stop reading as soon as the file is over the limit
    return records


def _read_csv(path: Path, label: str, max_rows: int | None) -> pd.DataFrame:
    try:
        header = pd.read_csv(path, nrows=0).columns
        frame = pd.read_csv(
            path,
            dtype={c: str for c in TEXT_COLUMNS if c in header},
            # Only an empty cell is missing: a model named "NA" or "None" stays a name.
            keep_default_na=False,
            na_values=[""],
            # One row past the limit is enough to know the file is over it.
            nrows=None if max_rows is None else max_rows + 1,
        )
    except pd.errors.EmptyDataError as exc:
        raise BattlesFileError(f"{label}: empty file (no header row)") from exc
    except pd.errors.ParserError as exc:
        raise BattlesFileError(f"{label}: malformed CSV ({' '.join(str(exc).split())})") from exc
    _check_rows(len(frame), max_rows, label)
    # An empty string and a missing value are the same cell in CSV; the text defaults are strings.
    for column, default in DEFAULTS.items():
        if isinstance(default, str) and column in frame.columns:
            frame[column] = frame[column].fillna(default)
    return frame


def _frame(records: list[dict[str, Any]]) -> pd.DataFrame:
    if not records:
        return pd.DataFrame(columns=list(REQUIRED))
    frame = pd.DataFrame.from_records(records)
    if "battle_id" not in frame.columns and "question_id" in frame.columns:
        frame["battle_id"] = frame["question_id"]
    if "len_a" not in frame.columns and "conv_metadata" in frame.columns:
        frame = frame.assign(**_arena_style(frame["conv_metadata"]))
    return frame


def _arena_style(metadata: pd.Series) -> dict[str, list[float]]:
    """Style columns from Chatbot Arena's conv_metadata dicts (NaN where a battle has none)."""
    sources = {
        "len": ("sum_assistant_{side}_tokens", None),
        "header": ("header_count_{side}", ("h1", "h2", "h3", "h4", "h5", "h6")),
        "list": ("list_count_{side}", ("ordered", "unordered")),
        "bold": ("bold_count_{side}", ("**", "__")),
    }
    columns: dict[str, list[float]] = {}
    for feature, (key, parts) in sources.items():
        for side in ("a", "b"):
            values: list[float] = []
            for meta in metadata:
                value = meta.get(key.format(side=side)) if isinstance(meta, dict) else None
                if isinstance(value, dict) and parts is not None:
                    value = sum(value.get(part, 0) for part in parts)
                values.append(float(value) if isinstance(value, int | float) else math.nan)
            columns[f"{feature}_{side}"] = values
    return columns


def _as_text(frame: pd.DataFrame) -> pd.DataFrame:
    """Text columns as strings and style columns as numbers, missing values NaN, whatever the format produced
    (a JSON column that is null throughout would otherwise hold objects)."""
    for column in TEXT_COLUMNS:
        frame[column] = frame[column].astype("str")
    for column in STYLE_COLUMNS:
        try:
            frame[column] = pd.to_numeric(frame[column])
        except (ValueError, TypeError) as exc:
            raise BattlesError(f"the style column {column} holds a value that is not a number ({exc})") from exc
    return frame


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    plain = frame.astype(object)
    return plain.where(plain.notna(), None).to_dict(orient="records")


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    raise TypeError(f"cannot write a {type(value).__name__} to JSON")
