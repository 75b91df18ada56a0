"""Battles files: the clean-battle schema (facts.schema) as JSON, JSONL, CSV or Parquet, chosen by extension.

- ``.json``: a list of objects, one per battle. Chatbot Arena's released ``clean_battle_*.json`` files are
  such lists with the same column names, so they load as they are; two of their fields are mapped when the
  schema's own columns are absent: ``question_id`` becomes ``battle_id``, and ``conv_metadata`` (markdown
  counts and tiktoken lengths) becomes the style columns. Those lengths are tiktoken tokens, not
  facts.style's count, so do not fit such a file together with battles from another source under
  style control. AlpacaEval's annotation files (instruction, output_1 / generator_1, output_2 / generator_2,
  annotator, preference) load too: generator_1 (the baseline) is model_a, the instruction the battle, the
  annotator an LLM judge, and the soft preference is kept beside the winner it leans to.
- ``.jsonl``: one object per line (blank lines are skipped); an error names the line.
- ``.csv``: flat columns only; nested values (dicts, lists) are written as their text and come back as text,
  and an empty text comes back as missing (CSV has one empty cell for both).
- ``.parquet``: columns as they are typed (nested values as Arrow structs and lists).

A million battles read in about a second: JSON Lines, CSV and Parquet through Arrow's columnar readers (C++,
no Python object per value), a JSON list through orjson into columns. When Arrow's reader refuses a file (a
malformed line, a column whose type changes half way), the row-by-row reader reads it again, to say where the
problem is or to read values of mixed types as the schema allows.

Reading always returns a normalized frame (facts.schema.normalize_battles). Every problem with a file
raises BattlesFileError, whose message starts with the file's name (the path, or the name its uploader gave it:
a server path is never shown to the person who uploaded the file).

`ReadLimits` bounds the work a file may cause (bytes, rows, nesting), checked before or while parsing; the
command-line readers pass none, uploads through the web page always do.
"""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.json as pa_json
import pyarrow.parquet as pq

from facts.schema import DEFAULTS, REQUIRED, STYLE_COLUMNS, BattlesError, normalize_battles

FORMATS = (".json", ".jsonl", ".csv", ".parquet")
# Read as text from CSV whatever they look like: a judge "58" or a battle id "0017" must not become numbers.
TEXT_COLUMNS = (*REQUIRED, *(c for c, v in DEFAULTS.items() if v is None or isinstance(v, str)))


# Read as categories (a code per row, each distinct label once), as the arena's votes reader gives them.
LABEL_COLUMNS = ("model_a", "model_b", "winner", "judge", "source", "excluded_reason", "category")


class BattlesFileError(BattlesError):
    """A battles file is missing, unreadable, malformed, too big or lacks a required column."""


@dataclass(frozen=True)
class ReadLimits:
    """The most a battles file may hold. Nesting deeper than orjson's 1,024 levels is always refused."""

    max_bytes: int = 50 * 1024 * 1024
    max_rows: int = 2_000_000
    # A compressed format may unpack to far more than its size on disk (a Parquet file of one repeated value).
    max_unpacked_ratio: int = 20


def read_battles(path: str | Path, *, limits: ReadLimits | None = None, name: str | None = None) -> pd.DataFrame:
    """The battles in `path` (.json, .jsonl, .csv or .parquet), checked and normalized; errors start with `name`
    (default: the path)."""
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
        elif suffix == ".parquet":
            frame = _read_parquet(path, label, limits)
        elif suffix == ".jsonl":
            frame = _read_jsonl(path, label, max_rows)
        else:
            frame = _read_json(path, label, max_rows)
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
    if suffix == ".parquet":
        frame.to_parquet(path, index=False)
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


def _read_json(path: Path, label: str, max_rows: int | None) -> pd.DataFrame:
    """A JSON list of objects: orjson parses it (C, refusing nesting deeper than 1,024 levels), then each column
    is gathered in one pass over the objects."""
    data = path.read_bytes()
    try:
        items = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        if _too_deep(exc):
            raise BattlesFileError(f"{label}: {TOO_DEEP}") from None
        _json_error(data, label)  # the standard library says where, in lines and columns
        raise BattlesFileError(f"{label}: malformed JSON ({exc})") from None
    del data
    if not isinstance(items, list):
        raise BattlesFileError(f"{label}: expected a JSON list of battle objects, found a {_json_type(items)}")
    _check_rows(len(items), max_rows, label)
    for number, item in enumerate(items):
        if type(item) is not dict:
            raise BattlesFileError(f"{label}: item {number} of the list is a {_json_type(item)}, not an object")
    return _frame_from_objects(items)


def _too_deep(error: orjson.JSONDecodeError) -> bool:
    return "depth limit" in str(error) or "recursion" in str(error).lower()


def _json_error(data: bytes, label: str) -> None:
    try:
        json.loads(data)
    except json.JSONDecodeError as exc:
        hint = " (one object per line is JSON Lines: name the file .jsonl)" if exc.msg == "Extra data" else ""
        raise BattlesFileError(
            f"{label}: malformed JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}{hint}"
        ) from None
    except RecursionError:
        raise BattlesFileError(f"{label}: {TOO_DEEP}") from None
    except UnicodeDecodeError as exc:
        raise BattlesFileError(f"{label}: not UTF-8 text ({exc.reason})") from None


def _json_type(value: Any) -> str:
    return {dict: "dict", list: "list", str: "str", int: "int", float: "float", bool: "bool"}.get(
        type(value), "NoneType" if value is None else type(value).__name__
    )


def _frame_from_objects(items: list[dict[str, Any]]) -> pd.DataFrame:
    """Columns gathered key by key (much faster than a DataFrame from a million dicts), each converted by Arrow
    in C; a column Arrow cannot type (numbers and texts mixed, say) stays Python objects. A key missing from an
    object is a missing value."""
    if not items:
        return pd.DataFrame(columns=list(REQUIRED))
    keys = dict.fromkeys(items[0])  # the first object's order, then any other key, sorted
    keys.update(dict.fromkeys(sorted(set().union(*items) - keys.keys())))
    typed: dict[str, pa.Array] = {}
    untyped: dict[str, list[Any]] = {}
    for key in keys:
        values = list(map(dict.get, items, itertools.repeat(key)))
        try:
            typed[key] = pa.array(values)
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OverflowError):
            untyped[key] = values
    frame = _frame_from_arrow(pa.table(typed) if typed else pa.table({"_": pa.nulls(len(items))}).drop_columns("_"))
    for key, values in untyped.items():
        frame[key] = pd.Series(values, dtype=object)
    # Once more with the untyped columns (a conversation with one odd message is one of them): _frame only fills
    # what is still absent, so what the first pass derived stays.
    return _frame(frame) if untyped else frame


def _read_jsonl(path: Path, label: str, max_rows: int | None) -> pd.DataFrame:
    """JSON Lines through Arrow's reader; a file it refuses (or one over the row limit) is read line by line,
    which names the line at fault, stops at the limit, and reads columns of mixed types."""
    if (max_rows is None or path.stat().st_size < 64 * 1024 * 1024) and _shallow_lines(path):
        try:
            table = pa_json.read_json(path, read_options=pa_json.ReadOptions(block_size=16 * 1024 * 1024))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
            pass
        else:
            # Arrow reads text that looks like a date as a timestamp; the schema keeps text as written.
            if not any(pa.types.is_timestamp(field.type) or pa.types.is_date(field.type) for field in table.schema):
                _check_rows(table.num_rows, max_rows, label)
                return _frame_from_arrow(table)
    return _frame_from_objects(_jsonl_objects(path, label, max_rows))


# Arrow's JSON parser recurses once per level of nesting and has no limit of its own: a line nested 100,000 deep
# crashes the process. A line with fewer opening brackets than this cannot nest deeper; others go to orjson.
_ARROW_MAX_OPENINGS = 500
_SCAN_BYTES = 1 << 20


def _shallow_lines(path: Path) -> bool:
    """Whether no line of the file holds more than _ARROW_MAX_OPENINGS opening brackets (counted in one
    vectorised pass; brackets inside strings count too, which only errs on the safe side)."""
    if path.stat().st_size == 0:
        return True
    data = np.memmap(path, dtype=np.uint8, mode="r")
    carried = 0  # openings on the line that runs on from the previous slice
    for start in range(0, len(data), _SCAN_BYTES):  # in slices: temporary arrays of one slice, not of the file
        part = data[start : start + _SCAN_BYTES]
        openings = np.flatnonzero((part == ord("[")) | (part == ord("{")))
        newlines = np.flatnonzero(part == ord("\n"))
        per_line = np.bincount(np.searchsorted(newlines, openings), minlength=len(newlines) + 1)
        per_line[0] += carried
        if per_line.max() > _ARROW_MAX_OPENINGS:
            return False
        carried = int(per_line[-1])
    return True


def _jsonl_objects(path: Path, label: str, max_rows: int | None) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    with path.open("rb") as source:
        for number, line in enumerate(source, start=1):
            if not line.strip():
                continue
            try:
                item = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                if _too_deep(exc):
                    raise BattlesFileError(f"{label}: line {number} is {TOO_DEEP}") from None
                reason = _jsonl_reason(line)
                raise BattlesFileError(f"{label}: line {number} is not valid JSON ({reason})") from None
            if type(item) is not dict:
                raise BattlesFileError(f"{label}: line {number} is a {_json_type(item)}, not an object")
            records.append(item)
            _check_rows(len(records), max_rows, label)  # stop reading as soon as the file is over the limit
    return records


def _jsonl_reason(line: bytes) -> str:
    try:
        json.loads(line)
    except json.JSONDecodeError as exc:
        return exc.msg
    except (RecursionError, UnicodeDecodeError) as exc:
        return type(exc).__name__
    return "unreadable"


def _read_csv(path: Path, label: str, max_rows: int | None) -> pd.DataFrame:
    """CSV through Arrow's reader (the text columns as text, only an empty cell missing); a file it refuses is
    read by pandas, which says what is wrong, or reads what Arrow's stricter parser does not."""
    if max_rows is None or path.stat().st_size < 64 * 1024 * 1024:
        try:
            table = pa_csv.read_csv(
                path,
                convert_options=pa_csv.ConvertOptions(
                    column_types={c: pa.string() for c in TEXT_COLUMNS},
                    null_values=[""],
                    strings_can_be_null=True,
                    quoted_strings_can_be_null=True,
                ),
            )
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
            pass
        else:
            _check_rows(table.num_rows, max_rows, label)
            return _fill_text_defaults(_frame_from_arrow(table))
    return _fill_text_defaults(_read_csv_pandas(path, label, max_rows))


def _fill_text_defaults(frame: pd.DataFrame) -> pd.DataFrame:
    # An empty string and a missing value are the same cell in CSV; the text defaults are strings.
    for column, default in DEFAULTS.items():
        if isinstance(default, str) and column in frame.columns:
            values = frame[column]
            if isinstance(values.dtype, pd.CategoricalDtype) and default not in values.cat.categories:
                values = values.cat.add_categories([default])
            frame[column] = values.fillna(default)
    return frame


def _read_csv_pandas(path: Path, label: str, max_rows: int | None) -> pd.DataFrame:
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
    return _frame(frame)


def _read_parquet(path: Path, label: str, limits: ReadLimits | None) -> pd.DataFrame:
    """Parquet through Arrow. With limits, the rows are counted from the footer before anything is unpacked, and
    the columns are unpacked in batches whose size in memory is added up as they come: a small file can hold a
    compressed or dictionary-encoded column that is huge once read."""
    try:
        source = pq.ParquetFile(path)
        if limits is None:
            return _frame_from_arrow(source.read())
        _check_rows(source.metadata.num_rows, limits.max_rows, label)
        budget = limits.max_bytes * limits.max_unpacked_ratio
        batches, unpacked = [], 0
        for batch in source.iter_batches(batch_size=8_192):
            unpacked += batch.nbytes
            if unpacked > budget:
                raise BattlesFileError(
                    f"{label}: the file unpacks to more than {_megabytes(budget)}, the limit for "
                    f"{_megabytes(limits.max_bytes)} files"
                )
            batches.append(batch)
        return _frame_from_arrow(pa.Table.from_batches(batches, schema=source.schema_arrow))
    except (pa.ArrowException, OSError) as exc:  # the reader's words, with the server's path taken out
        raise BattlesFileError(f"{label}: not a readable Parquet file ({str(exc).replace(str(path), label)})") from None


def _frame_from_arrow(table: pa.Table) -> pd.DataFrame:
    """An Arrow table as the battles frame: model names dictionary-encoded (a category per name, not a string
    per row), Chatbot Arena's conv_metadata struct unpacked column by column."""
    style: dict[str, np.ndarray] = {}
    if "conv_metadata" in table.column_names and "len_a" not in table.column_names:
        metadata = table.column("conv_metadata").combine_chunks()
        if pa.types.is_struct(metadata.type):
            style = _arena_style_arrow(metadata)
            table = table.drop_columns(["conv_metadata"])
    for name in LABEL_COLUMNS:
        kind = table.schema.field(name).type if name in table.column_names else None
        if kind is not None and (pa.types.is_string(kind) or pa.types.is_large_string(kind)):  # not yet encoded
            table = table.set_column(table.column_names.index(name), name, pc.dictionary_encode(table.column(name)))
    frame = _frame(table.to_pandas())
    return frame.assign(**style) if style else frame


def _arena_style_arrow(metadata: pa.StructArray) -> dict[str, np.ndarray]:
    fields = {metadata.type.field(i).name for i in range(metadata.type.num_fields)}
    columns: dict[str, np.ndarray] = {}
    for feature, (key, parts) in _ARENA_STYLE.items():
        for side in ("a", "b"):
            name = key.format(side=side)
            total = np.full(len(metadata), np.nan)
            if name in fields:
                value = pc.struct_field(metadata, name)
                if parts is None and (pa.types.is_integer(value.type) or pa.types.is_floating(value.type)):
                    total = pc.cast(value, pa.float64()).to_numpy(zero_copy_only=False)
                elif pa.types.is_struct(value.type):
                    present = [value.type.field(i).name for i in range(value.type.num_fields)]
                    counts = [
                        pc.fill_null(pc.cast(pc.struct_field(value, part), pa.float64()), 0.0)
                        for part in parts or ()
                        if part in present
                    ]
                    total = np.sum([c.to_numpy(zero_copy_only=False) for c in counts], axis=0) if counts else total
                    total = np.where(value.is_null().to_numpy(zero_copy_only=False), np.nan, total)
            columns[f"{feature}_{side}"] = total
    return columns


def _frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Chatbot Arena's and AlpacaEval's field names mapped onto the schema's where the schema's own are absent."""
    if set(frame.columns) >= ALPACA_EVAL_COLUMNS and "model_a" not in frame.columns:
        # AlpacaEval's files include the baseline against itself (50% by construction): not a battle
        itself = (frame["generator_1"].astype(str) == frame["generator_2"].astype(str)).to_numpy()
        frame = frame[~itself].reset_index(drop=True)
        frame = frame.assign(**_from_alpaca_eval(frame))
        frame.attrs[SELF_COMPARISONS] = int(itself.sum())
    if "battle_id" not in frame.columns and "question_id" in frame.columns:
        frame["battle_id"] = frame["question_id"]
    if "len_a" not in frame.columns and "conv_metadata" in frame.columns:
        frame = frame.assign(**_arena_style(frame["conv_metadata"]))
    if {"conversation_a", "conversation_b"} <= set(frame.columns) and "answer_a" not in frame.columns:
        frame = frame.assign(**_from_conversations(frame["conversation_a"], frame["conversation_b"]))
    return frame


ALPACA_EVAL_COLUMNS = frozenset({"generator_1", "generator_2", "preference"})
SELF_COMPARISONS = "alpaca_eval_self_comparisons"  # frame attribute: rows of a model against itself left out


def _from_alpaca_eval(frame: pd.DataFrame) -> dict[str, Any]:
    """AlpacaEval's annotations (instruction, output_1 by generator_1, output_2 by generator_2, the annotator's
    preference: 1 output_1, 2 output_2, 1.5 or 0 a draw, a weighted value in between) as battles: model_a is
    generator_1 (AlpacaEval's baseline), the instruction is the battle, the annotator an LLM judge (source
    judge:<annotator>), the winner the side the preference leans to. A preference that is not one (missing: the
    annotator's answer could not be parsed) excludes its row from every count; the judge audit counts it as that
    judge's parse failure."""
    preference = pd.to_numeric(frame["preference"], errors="coerce").replace(0.0, 1.5)
    valid = preference.between(1.0, 2.0)
    annotator = (
        frame["annotator"].astype(object).where(frame["annotator"].notna(), "alpaca_eval").astype(str)
        if "annotator" in frame.columns
        else pd.Series("alpaca_eval", index=frame.index)
    )
    columns: dict[str, Any] = {
        "model_a": frame["generator_1"],
        "model_b": frame["generator_2"],
        "winner": np.select([preference < 1.5, preference > 1.5], ["model_a", "model_b"], default="tie"),
        "preference": preference,
        "judge": annotator,
        "source": "judge:" + annotator,
        "excluded_reason": np.where(valid, None, "no preference"),
    }
    if "instruction" in frame.columns:
        columns |= {"prompt": frame["instruction"], "battle_id": frame["instruction"]}
    if "output_1" in frame.columns and "output_2" in frame.columns:
        columns |= {"answer_a": frame["output_1"], "answer_b": frame["output_2"]}
    return {name: value for name, value in columns.items() if name not in frame.columns or name == "preference"}


def _from_conversations(conversation_a: pd.Series, conversation_b: pd.Series) -> dict[str, list[Any]]:
    """prompt, answer_a/b and messages_a/b (each side's history up to its last answer) from the clean-battle
    conversations (the arena's export, Chatbot Arena's releases): lists of {"role", "content"} ending with the
    answer voted on. A conversation that is not one (a role other than system / user / assistant, no user
    message, not ending with an answer), or two sides that do not start from the same user message, give
    missing texts: the row is counted and left out by whoever needs the words."""
    columns: dict[str, list[Any]] = {"prompt": [], "answer_a": [], "answer_b": [], "messages_a": [], "messages_b": []}
    for first, second in zip(conversation_a, conversation_b, strict=True):
        sides = [_conversation(first), _conversation(second)]
        prompts = [next((m["content"] for m in side if m["role"] == "user"), None) if side else None for side in sides]
        if prompts[0] is None or prompts[0] != prompts[1]:  # not two answers to one conversation: no texts
            sides = [None, None]
        columns["prompt"].append(prompts[0] if sides[0] else None)
        for name, side in zip("ab", sides, strict=True):
            columns[f"answer_{name}"].append(side[-1]["content"] if side else None)
            columns[f"messages_{name}"].append(side[:-1] if side else None)
    return columns


def _conversation(value: Any) -> list[dict[str, str]] | None:
    if isinstance(value, str):  # a CSV cell holds the JSON text
        try:
            value = orjson.loads(value)
        except orjson.JSONDecodeError:
            return None
    if not isinstance(value, list | tuple | np.ndarray) or len(value) < 2:
        return None
    messages = chat_messages(value)
    return messages if messages and messages[-1]["role"] == "assistant" else None


def chat_messages(value: Any) -> list[dict[str, str]] | None:
    """`value` as chat messages ({"role": system | user | assistant, "content": text}), or None when any item is
    not one: the one check of a conversation read from a file (battles files here, preference files in training)."""
    if not isinstance(value, list | tuple | np.ndarray):
        return None
    messages = []
    for message in value:
        if not isinstance(message, dict) or not isinstance(message.get("content"), str):
            return None
        if message.get("role") not in ("system", "user", "assistant"):
            return None
        messages.append({"role": message["role"], "content": message["content"]})
    return messages


_ARENA_STYLE = {
    "len": ("sum_assistant_{side}_tokens", None),
    "header": ("header_count_{side}", ("h1", "h2", "h3", "h4", "h5", "h6")),
    "list": ("list_count_{side}", ("ordered", "unordered")),
    "bold": ("bold_count_{side}", ("**", "__")),
}


def _arena_style(metadata: pd.Series) -> dict[str, list[float]]:
    """Style columns from Chatbot Arena's conv_metadata dicts (NaN where a battle has none)."""
    columns: dict[str, list[float]] = {}
    for feature, (key, parts) in _ARENA_STYLE.items():
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
        values = frame[column]
        if isinstance(values.dtype, pd.CategoricalDtype | pd.StringDtype):  # strings already
            continue
        if values.dtype == object and values.isna().all():  # a default: no need to look at each missing value
            frame[column] = pd.array(pa.chunked_array([pa.nulls(len(frame), pa.large_string())]), dtype="str")
        elif pd.api.types.is_float_dtype(values.dtype) and (values.dropna() % 1 == 0).all():
            # whole numbers with a gap come out of Arrow as floats: judge 5 must stay "5", not become "5.0"
            frame[column] = values.astype("Int64").astype("str")
        else:
            frame[column] = values.astype("str")
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
