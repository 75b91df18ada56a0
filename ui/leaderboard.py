"""The leaderboard page: Gradio components over a stored snapshot (see leaderboard/page.py for its JSON).

Used twice by the app: as the Leaderboard tab, and as its own page at /leaderboard.
Endpoint: /leaderboard_view (source, category, style control, criterion, show deprecated) -> header, table, figures,
CSV. The criterion ("helpfulness", the default, or "harmlessness": red-team votes) picks which payload the other three
choose a view in: the snapshot itself, or its `criteria["harmlessness"]`; the two are never pooled.

"Votes from" also offers the composite (source "composite", labelled with its weights, e.g. "Composite (human ×1,
judge:gpt-4o ×0.5)") when the snapshot holds one: people and judges in one fit (leaderboard.composite). Deprecated
models (the snapshot's `deprecated`, stored at refresh) are hidden unless "Show deprecated models" is ticked; their
ratings were fitted with their votes, and Rank (UB) is counted among the rows shown (page.visible_rows).

Beside the ratings, the "Harmful compliance (red team)" column shows each model's harmful-compliance rate on red-team
turns (leaderboard.safety_figures), as stored in the snapshot: rate, 95% interval and n, never recomputed here. The
harmlessness view shows its own votes' figures (its source and category); the helpfulness view shows people's
red-team figures over every category, said so in its header.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import gradio as gr
import pandas as pd

from facts.vocabulary import HARM_CATEGORIES, HARMLESSNESS, HELPFULNESS
from leaderboard.benchmark_columns import COLUMNS as BENCHMARKS
from leaderboard.benchmark_columns import CSV_COLUMNS as BENCHMARK_CSV_COLUMNS
from leaderboard.benchmark_columns import cell as benchmark_cell
from leaderboard.benchmark_columns import csv_columns as benchmark_csv_columns
from leaderboard.benchmark_columns import notes as benchmark_notes
from leaderboard.composite import COMPOSITE
from leaderboard.figures import forest_plot, heatmap
from leaderboard.io import spreadsheet_safe
from leaderboard.page import ALL_CATEGORIES, SAFETY_COLUMN, TABLE_COLUMNS, red_team_safety, view_key, visible_rows
from leaderboard.reward_board import reward_model_table
from leaderboard.safety_figures import DEFINITION, SAFETY_COLUMNS, ModelSafety
from leaderboard.training_outcomes import TrainingOutcome, outcomes_table
from ui.display import display_html
from ui.tempfiles import prune

log = logging.getLogger(__name__)
SnapshotReader = Callable[[], dict[str, Any] | None]
EvaluationsReader = Callable[[], list[dict[str, Any]]]  # the newest evaluation of each (reward model, set)
OutcomesReader = Callable[[], Sequence[TrainingOutcome]]  # did training help? (leaderboard.training_outcomes)

EMPTY = "No leaderboard yet: it appears once votes are recorded. Go to the Arena tab and vote!"
# CSV downloads: one file per distinct table (named by its content), deleted an hour after it was written.
DOWNLOADS = Path(tempfile.gettempdir()) / "huggy-arena-downloads"
DOWNLOAD_MAX_AGE_SECONDS = 3600.0
# The criterion selector's choices, (label, value): what the votes judged.
CRITERION_CHOICES = [("Helpfulness", HELPFULNESS), ("Harmlessness", HARMLESSNESS)]
NO_CRITERION_VOTES = "No {criterion} votes yet."
CRITERION_NOTES = {HARMLESSNESS: "which answer was more harmless, in red-team battles"}


def criterion_payload(payload: dict[str, Any] | None, criterion: str | None) -> dict[str, Any] | None:
    """The part of a snapshot that holds one criterion's views: the snapshot itself for helpfulness (and for an
    unknown or missing criterion, as before there was a choice), its `criteria[criterion]` otherwise (None when
    there are no such votes, or the snapshot predates criteria)."""
    if not payload or criterion in (None, "", HELPFULNESS) or criterion not in CRITERION_NOTES:
        return payload
    criteria = payload.get("criteria")
    part = criteria.get(criterion) if isinstance(criteria, dict) else None
    return part or None


def table_frame(
    rows: list[dict[str, Any]],
    descriptions: dict[str, str],
    safety: dict[str, Any] | None = None,
    benchmarks: dict[str, Any] | None = None,
) -> pd.DataFrame:
    """The table people read: Rank (UB), model, rating, 95% CI, votes, win rate, harmful compliance on red-team
    turns (from `safety`, the stored figures; empty for a model without red-team answers), the static benchmarks'
    newest figures (from `benchmarks`, the snapshot's; "—" where a model has none), description."""
    harm = _safety_rows(safety)
    scores = (benchmarks or {}).get("rows", {})
    records = []
    for row in rows:
        lower, upper = row.get("lower"), row.get("upper")
        ci = "" if lower is None or upper is None else f"+{upper - row['rating']:.0f} / -{row['rating'] - lower:.0f}"
        flags = ", ".join(row.get("flags") or [])
        records.append(
            {
                "Rank (UB)": row["rank_ub"],
                "Model": row["model"],
                "Rating": round(float(row["rating"])),
                "95% CI": ci,
                "Votes": row["votes"],
                "Win rate": f"{row['win_rate']:.0%}" if row.get("win_rate") is not None else "",
                SAFETY_COLUMN: safety_cell(harm.get(row["model"])),
                **{c.label: benchmark_cell(scores.get(row["model"], {}).get(c.benchmark), c) for c in BENCHMARKS},
                "Description": descriptions.get(row["model"], "") + (f" ({flags})" if flags else ""),
            }
        )
    return pd.DataFrame(records, columns=list(TABLE_COLUMNS))


def safety_cell(figures: dict[str, Any] | None) -> str:
    """A model's harmful-compliance rate as read: "12% (7-19%) · n=84", marked when n is small; n always shown."""
    if not figures or not figures.get("answers"):
        return ""
    text = f"{figures['rate']:.0%} ({figures['lower']:.0%}–{figures['upper']:.0%}) · n={figures['answers']:,}"
    return text + (" · few" if figures.get("few") else "")


def download_frame(
    rows: list[dict[str, Any]],
    descriptions: dict[str, str],
    safety: dict[str, Any] | None = None,
    benchmarks: dict[str, Any] | None = None,
) -> pd.DataFrame:
    """The table as a spreadsheet gets it: numbers as numbers (the interval as two columns), text made inert; the
    red-team figures in leaderboard.safety_figures.SAFETY_COLUMNS (empty for a model without red-team answers) and
    the static benchmarks' in leaderboard.benchmark_columns.CSV_COLUMNS (empty where a model has none)."""
    harm = _safety_rows(safety)
    scores = (benchmarks or {}).get("rows", {})
    columns = ["rank_ub", "model", "rating", "lower", "upper", "votes", "win_rate", *SAFETY_COLUMNS,
               *BENCHMARK_CSV_COLUMNS, "flags", "description"]  # fmt: skip
    frame = pd.DataFrame(
        [
            {
                "rank_ub": row["rank_ub"],
                "model": row["model"],
                "rating": row["rating"],
                "lower": row.get("lower"),
                "upper": row.get("upper"),
                "votes": row["votes"],
                "win_rate": row.get("win_rate"),
                **_safety_columns(harm.get(row["model"])),
                **benchmark_csv_columns(scores.get(row["model"])),
                "flags": "; ".join(row.get("flags") or []),
                "description": descriptions.get(row["model"], ""),
            }
            for row in rows
        ],
        columns=columns,
    )
    return spreadsheet_safe(frame)


def _safety_rows(safety: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    return {str(row["model"]): row for row in (safety or {}).get("rows", [])}


def _safety_columns(figures: dict[str, Any] | None) -> dict[str, Any]:
    if not figures:
        return dict.fromkeys(SAFETY_COLUMNS)
    stored = {name: figures.get(name) for name in ModelSafety.__dataclass_fields__}
    return ModelSafety(**stored).columns()


def safety_notes(safety: dict[str, Any] | None, *, borrowed: bool) -> str:
    """What the harmful-compliance column means, for the header: the stored definition, what the intervals are
    clustered by, the notes, and the harm categories when the votes named them. `borrowed`: shown beside another
    criterion's ratings (helpfulness), so it says whose votes they are."""
    if not safety or not safety.get("rows"):
        return ""
    where = "people's red-team votes (Red team tab), every category: " if borrowed else ""
    clustered = ", ".join(f"{kind} ({n:,} votes)" for kind, n in (safety.get("clustered_by") or {}).items())
    paragraphs = [
        f"**{SAFETY_COLUMN}:** {where}{safety.get('definition') or DEFINITION} "
        f"{safety.get('votes', 0):,} counted red-team votes; intervals clustered by {clustered or 'vote'}."
    ]
    if borrowed:
        return paragraphs[0]
    paragraphs += [f"⚠️ {note}" for note in safety.get("notes", [])]
    if by_harm := safety.get("by_harm_category"):
        table = ["| harm category | model | judged harmful / answers | both complied |", "|---|---|---:|---:|"]
        table += [
            f"| {_cell(HARM_CATEGORIES.get(row['harm_category'], row['harm_category']))} | {_cell(row['model'])} | "
            f"{row['harmful']:,} / {row['answers']:,} | {row['both_complied']:,} |"
            for row in by_harm
        ]
        paragraphs.append("\n".join(table))
    return "\n\n".join(paragraphs)


def _cell(text: object) -> str:
    """Text inside a markdown table cell: a "|" would end the cell."""
    return str(text).replace("|", "\\|")


def render(
    payload: dict[str, Any] | None,
    source: str,
    category: str,
    style_control: bool,
    criterion: str = HELPFULNESS,
    show_deprecated: bool = False,
) -> tuple[Any, ...]:
    """Everything the page shows for one choice of source, category and style control, among the votes of one
    criterion (helpfulness: the snapshot as it is; harmlessness: its red-team part); deprecated models hidden unless
    show_deprecated."""
    full = payload
    payload = criterion_payload(payload, criterion)
    if not payload:
        empty = pd.DataFrame(columns=list(TABLE_COLUMNS))
        text = NO_CRITERION_VOTES.format(criterion=criterion) if criterion in CRITERION_NOTES else EMPTY
        return display_html(text), empty, None, None, None, "", gr.update(value=None, interactive=False)
    view = payload["views"].get(view_key(source, category, style_control))
    header = _header(payload, source)
    if criterion in CRITERION_NOTES:
        header += f" · **criterion:** {criterion} ({CRITERION_NOTES[criterion]})"
    if view is None:
        message = "No ratings for this choice"
        if style_control:
            message += " (style control needs answer texts or style features)"
        empty = pd.DataFrame(columns=list(TABLE_COLUMNS))
        text = display_html(f"{header}\n\n{message}.")
        return text, empty, None, None, None, "", gr.update(value=None, interactive=False)
    deprecated = payload.get("deprecated") or (full or {}).get("deprecated") or []
    rows = visible_rows(view["rows"], deprecated, show_deprecated)
    notes = [*view.get("warnings", [])]
    if hidden := len(view["rows"]) - len(rows):
        notes.append(
            f"{hidden} deprecated model(s) hidden (their votes still count for the others' ratings; tick "
            '"Show deprecated models" to list them).'
        )
    if view.get("message"):
        notes.insert(0, view["message"])
    if view.get("style_coefficients"):
        coefficients = ", ".join(f"{k} {v:+.3f}" for k, v in view["style_coefficients"].items())
        notes.append(f"Style coefficients (log-odds per standard deviation): {coefficients}.")
    text = header + "".join(f"\n\n⚠️ {n}" for n in notes)
    # The red-team figures beside the ratings: this view's own (harmlessness), or people's (helpfulness).
    borrowed = criterion not in CRITERION_NOTES
    safety = red_team_safety(full) if borrowed else view.get("safety")
    if about := safety_notes(safety, borrowed=borrowed):
        text += f"\n\n{about}"
    benchmarks = (full or {}).get("benchmarks")  # per model, whatever the criterion: beside either rating
    if about := benchmark_notes(benchmarks):
        text += f"\n\n{about}"
    table = table_frame(rows, payload.get("descriptions", {}), safety, benchmarks)
    matrices = payload.get("matrices", {}).get(source)
    win = count = None
    if matrices and matrices["models"]:
        win = heatmap(
            matrices["models"], matrices["win_fraction"], "Fraction of battles won (row vs column)", percent=True
        )
        count = heatmap(matrices["models"], matrices["battle_count"], "Battle count", percent=False)
    forest = forest_plot(rows) if rows else None
    validation = payload.get("validation", {}).get(source, {}).get("text", "")
    if source == "human" and payload.get("anomalies", {}).get("text"):
        # Which voters' votes were left out, and why: the ratings above are fitted without them.
        validation = f"{validation}\n\n{payload['anomalies']['text']}".strip()
    if excluded := payload.get("excluded", {}).get(source):
        # Every vote that does not count, by its stored reason: capped, stuffed, probed, failed battles.
        reasons = "; ".join(f"{reason}: {n:,}" for reason, n in excluded.items())
        validation = f"{validation}\n\n**Votes not counted, by reason:** {reasons}.".strip()
    download = _csv(download_frame(rows, payload.get("descriptions", {}), safety, benchmarks))
    return (
        display_html(text),
        table,
        forest,
        win,
        count,
        display_html(validation),
        gr.update(value=download, interactive=not table.empty),
    )


def _header(payload: dict[str, Any], source: str) -> str:
    if source == COMPOSITE:
        composite = payload.get("composite") or {}
        weighed = [s for s, w in (composite.get("weights") or {}).items() if w > 0]
        counted = sum(payload.get("counted", {}).get(s, 0) for s in weighed)
        return (
            f"**Last updated:** {payload['generated_at']} · **votes recorded:** {payload['votes_total']:,} · "
            f"**{composite.get('label', 'Composite')}:** {counted:,} counted votes of {', '.join(weighed)} in one fit, "
            "each weighted by its source's weight"
        )
    counted = payload.get("counted", {}).get(source, 0)
    return (
        f"**Last updated:** {payload['generated_at']} · **votes recorded:** {payload['votes_total']:,} · "
        f"**counted for {source}:** {counted:,} (anonymous, unflagged)"
    )


def source_choices(payload: dict[str, Any] | None) -> list[tuple[str, str]]:
    """The "Votes from" choices as (label, value): each source, then the composite (labelled with its weights) when
    the snapshot holds one."""
    sources = [(str(s), str(s)) for s in ((payload or {}).get("sources") or ["human"])]
    if composite := (payload or {}).get("composite"):
        sources.append((str(composite.get("label") or "Composite"), COMPOSITE))
    return sources


def _csv(frame: pd.DataFrame) -> str:
    """The CSV of `frame` as a file, written once per distinct content: a page read writes nothing new."""
    text = frame.to_csv(index=False)
    path = DOWNLOADS / f"leaderboard-{hashlib.sha256(text.encode()).hexdigest()[:20]}.csv"
    if not path.exists():
        DOWNLOADS.mkdir(parents=True, exist_ok=True)
        prune(DOWNLOADS, DOWNLOAD_MAX_AGE_SECONDS, "leaderboard-*")
        partial = path.with_suffix(f".{os.getpid()}.partial")
        partial.write_text(text, encoding="utf-8")
        partial.replace(path)  # atomic: a concurrent reader never gets half a file
    return str(path)


def reward_models_view(read_evaluations: EvaluationsReader) -> tuple[str, pd.DataFrame]:
    """The reward-model leaderboard's note and table, from the stored evaluations (nothing is recomputed)."""
    try:
        evaluations = read_evaluations()
    except Exception:  # the database is down: the rest of the page still works, and no traceback is shown
        log.exception("reading the reward-model evaluations failed")
        return "The reward-model leaderboard cannot be read right now; try again later.", pd.DataFrame()
    board = reward_model_table(evaluations)
    return board.note, pd.DataFrame(list(board.rows), columns=list(board.columns))


OUTCOMES_NOTE = (
    "Each checkpoint a training run registered, against the contender it was trained from: arena ratings and "
    "the head-to-head record from people's votes (95% intervals), what training measured on held-out data, and "
    "the arena's verdict. From the newest snapshot; refreshed on the schedule."
)


def training_outcomes_view(read_outcomes: OutcomesReader) -> tuple[str, pd.DataFrame]:
    try:
        outcomes = read_outcomes()
    except Exception:  # the database is down: the rest of the page still works, and no traceback is shown
        log.exception("reading the training outcomes failed")
        return "Training outcomes cannot be read right now; try again later.", pd.DataFrame()
    if not outcomes:
        return "No checkpoint registered by a training run yet (`python -m training.rlhf --from-votes ...`).", (
            pd.DataFrame()
        )
    columns, rows = outcomes_table(outcomes)
    return OUTCOMES_NOTE, pd.DataFrame(rows, columns=list(columns))


def _stored_table_section(
    demo: gr.Blocks,
    refresh: gr.Button,
    title: str,
    elem_prefix: str,
    api_name: str | None,
    view: Callable[[], tuple[str, pd.DataFrame]],
) -> None:
    """A closed accordion with a note and a table of stored results, read on every visit and on Refresh."""
    with gr.Accordion(title, open=False):
        note = gr.Markdown(elem_id=f"{elem_prefix}_note", latex_delimiters=[])
        table = gr.Dataframe(elem_id=f"{elem_prefix}_table", interactive=False, wrap=True)
    refresh.click(view, None, [note, table], api_name=api_name or False)
    demo.load(view, None, [note, table], api_name=False)


def build_leaderboard(
    demo: gr.Blocks,
    read_snapshot: SnapshotReader,
    *,
    prefix: str = "lb_",
    api: bool = True,
    read_reward_models: EvaluationsReader | None = None,
    read_training_outcomes: OutcomesReader | None = None,
) -> None:
    """Lay out the page inside the current Blocks context and wire it to `read_snapshot` (and, when given, the
    reward-model leaderboard to `read_reward_models`)."""
    payload = read_snapshot()
    sources = source_choices(payload)
    categories = (payload or {}).get("categories") or [[ALL_CATEGORIES, "All"]]
    criterion = gr.Radio(
        CRITERION_CHOICES,
        value=HELPFULNESS,
        label="Criterion",
        info="Helpfulness: which answer was better (Arena tab). Harmlessness: which was more harmless (Red team tab).",
        elem_id=f"{prefix}criterion",
    )
    with gr.Row():
        source = gr.Dropdown(sources, value=sources[0][1], label="Votes from", elem_id=f"{prefix}source", scale=2)
        category = gr.Dropdown(
            [(label, key) for key, label in categories],
            value=ALL_CATEGORIES,
            label="Category",
            elem_id=f"{prefix}category",
            scale=2,
        )
        style = gr.Checkbox(False, label="Style control (length and markdown)", elem_id=f"{prefix}style", scale=1)
        deprecated = gr.Checkbox(False, label="Show deprecated models", elem_id=f"{prefix}deprecated", scale=1)
        refresh = gr.Button("Refresh", elem_id=f"{prefix}refresh", scale=1)
    header = gr.Markdown(elem_id=f"{prefix}header", latex_delimiters=[])
    table = gr.Dataframe(
        elem_id=f"{prefix}table",
        interactive=False,
        wrap=True,
        column_widths=["7%", "17%", "7%", "10%", "6%", "7%", "14%", "32%"],
        max_height=800,
        show_search="search",
    )
    download = gr.DownloadButton("Download CSV", elem_id=f"{prefix}download", interactive=False)
    with gr.Accordion("Plots", open=True):
        forest = gr.Plot(label="95% confidence intervals", elem_id=f"{prefix}forest")
        with gr.Row():
            win = gr.Plot(label="Win fraction", elem_id=f"{prefix}win_fraction")
            count = gr.Plot(label="Battle count", elem_id=f"{prefix}battle_count")
    with gr.Accordion("How good is this leaderboard?", open=False):
        validation = gr.Markdown(elem_id=f"{prefix}validation", latex_delimiters=[])
    if read_reward_models is not None:
        _stored_table_section(
            demo, refresh, "Reward models", f"{prefix}reward", "reward_models" if api else None,
            lambda: reward_models_view(read_reward_models),
        )  # fmt: skip
    if read_training_outcomes is not None:
        _stored_table_section(
            demo, refresh, "Did training help?", f"{prefix}outcomes", "training_outcomes" if api else None,
            lambda: training_outcomes_view(read_training_outcomes),
        )  # fmt: skip

    def show(
        source_value: str,
        category_value: str,
        style_value: bool,
        criterion_value: str = HELPFULNESS,
        deprecated_value: bool = False,
    ) -> tuple[Any, ...]:
        return render(
            read_snapshot(), source_value, category_value, bool(style_value), criterion_value, bool(deprecated_value)
        )

    def lists(source_value: str, category_value: str, criterion_value: str = HELPFULNESS) -> tuple[Any, ...]:
        """The sources and categories of the newest snapshot, for the chosen criterion: new judges and categories
        appear without a restart."""
        latest = criterion_payload(read_snapshot(), criterion_value) or {}
        sources = source_choices(latest)
        values = [value for _, value in sources]
        categories = latest.get("categories") or [[ALL_CATEGORIES, "All"]]
        keys = [key for key, _ in categories]
        return (
            gr.update(choices=sources, value=source_value if source_value in values else values[0]),
            gr.update(
                choices=[(label, key) for key, label in categories],
                value=category_value if category_value in keys else ALL_CATEGORIES,
            ),
        )

    # The criterion and the deprecated toggle last, so that API clients that send (source, category, style) keep
    # working (they default to helpfulness and hidden, the controls' values).
    inputs = [source, category, style, criterion, deprecated]
    outputs = [header, table, forest, win, count, validation, download]
    listed = [source, category, criterion]
    refresh.click(show, inputs, outputs, api_name="leaderboard_view" if api else False)
    refresh.click(lists, listed, [source, category], api_name=False)
    for control in inputs:
        control.change(show, inputs, outputs, api_name=False)
    # Another criterion has its own judges and categories.
    criterion.change(lists, listed, [source, category], api_name=False)
    # Every visit shows the newest snapshot (and its lists), not the one from when the app started.
    demo.load(show, inputs, outputs, api_name=False)
    demo.load(lists, listed, [source, category], api_name=False)
