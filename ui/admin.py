"""The Admin tab: Gradio components and wiring only; every decision is AdminService's."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gradio as gr

from arena.admin import HISTORY_COLUMNS, MODEL_COLUMNS, AdminDenied, AdminService
from arena.safety import InputError
from arena.sft_examples import SavedExamplesAdmin
from store import SftSetSummary
from ui.display import display_html
from ui.tempfiles import prune
from ui.web import client_host

SET_COLUMNS = ["set", "answers", "edited by people", "versions saved", "last saved (UTC)"]
# Exports hold what people wrote: each is written into a folder only the server's user can read, handed to the
# browser through Gradio's cache (a secret-salted path), and deleted here after an hour.
EXPORT_MAX_AGE_SECONDS = 3600.0


def build_admin_tab(
    admin: AdminService, client_of: Callable[[str | None], str], export_folder: Path | None = None
) -> None:
    """`client_of(address)`: the salted key of a client address, the unit of the wrong-token limit.
    `export_folder`: where saved training examples are exported to (default: a new private temporary folder)."""
    saved = SavedExamplesAdmin(admin, export_folder or Path(tempfile.mkdtemp(prefix="huggy-arena-exports-")))
    gr.Markdown("Operators only: enter the admin token (the server's `ARENA_ADMIN_TOKEN`).")
    token = gr.Textbox(label="Admin token", type="password", elem_id="admin_token")
    load = gr.Button("Open", elem_id="admin_open")
    message = gr.Markdown(elem_id="admin_message", latex_delimiters=[])
    status = gr.Markdown(latex_delimiters=[])
    with gr.Row():
        job = gr.Dropdown(list(admin.job_ids), label="Job", value=admin.job_ids[0] if admin.job_ids else None)
        run = gr.Button("Run now", elem_id="admin_run_now")
    history = gr.Dataframe(
        headers=HISTORY_COLUMNS, label="Job history (newest first)", interactive=False, elem_id="admin_history"
    )
    with gr.Row():
        model = gr.Dropdown([], label="Model", allow_custom_value=True, elem_id="admin_model")
        enable = gr.Button("Enable")
        disable = gr.Button("Disable")
        # Deprecated: out of anonymous battles, still on the leaderboard and in direct chat.
        deprecate = gr.Button("Deprecate", elem_id="admin_deprecate")
        undeprecate = gr.Button("Bring back", elem_id="admin_undeprecate")
    models = gr.Dataframe(headers=MODEL_COLUMNS, label="Registry", interactive=False, elem_id="admin_models")
    gr.Markdown(
        "### Saved training examples\nDirect-chat answers people saved (with their edits), as the chat JSONL "
        "`python -m training.sft --chat` reads; the newest version of each answer."
    )
    sets = gr.Dataframe(headers=SET_COLUMNS, label="Saved sets", interactive=False, elem_id="admin_sft_sets")
    with gr.Row():
        set_name = gr.Dropdown([], label="Saved set", allow_custom_value=True, elem_id="admin_sft_set")
        export = gr.Button("Export as chat JSONL", elem_id="admin_sft_export")
        show_mix = gr.Button("Task mix against InstructGPT's", elem_id="admin_sft_mix")
    export_file = gr.File(label="Export", interactive=False, elem_id="admin_sft_file")
    export_message = gr.Markdown(elem_id="admin_sft_message", latex_delimiters=[])
    mix_report = gr.Markdown(elem_id="admin_sft_mix_report", latex_delimiters=[])
    mix_plot = gr.Plot(label="Task mix and lengths", elem_id="admin_sft_mix_plot")

    def refresh(secret: str) -> tuple[Any, ...]:
        names = [row[0] for row in admin.models(secret)]
        summaries = saved.sets(secret)
        return (
            "",
            admin.scheduler_status(secret),
            admin.job_history(secret),
            admin.models(secret),
            gr.update(choices=names),
            set_rows(summaries),
            gr.update(choices=[s.set_name for s in summaries]),
        )

    views = [message, status, history, models, model, sets, set_name]

    def attempt(action: Callable[[], str | None], secret: str, request: gr.Request | None) -> tuple[Any, ...]:
        try:
            admin.check(secret, client=client_of(client_host(request)))
            note = action()
            views_now = refresh(secret)
        except AdminDenied as exc:
            return (display_html(f"⚠️ {exc}"), "", None, None, gr.update(), None, gr.update())
        return (display_html(note or ""), *views_now[1:])

    def export_set(secret: str, name: Any, request: gr.Request) -> tuple[Any, str]:
        prune(saved.folder, EXPORT_MAX_AGE_SECONDS)
        try:
            done = saved.export(secret, name, client=client_of(client_host(request)))
        except (AdminDenied, InputError) as exc:
            return None, display_html(f"⚠️ {exc}")
        return str(done.path), display_html(done.message)

    def mix_of_set(secret: str, name: Any, request: gr.Request) -> tuple[str, Any]:
        try:
            report = saved.mix(secret, name, client=client_of(client_host(request)))
        except (AdminDenied, InputError) as exc:
            return display_html(f"⚠️ {exc}"), None
        return display_html(f"#### {name}\n\n{report.markdown()}"), report.figure()

    # Explicit signatures: Gradio passes the request only to a parameter annotated gr.Request.
    def open_tab(secret: str, request: gr.Request) -> tuple[Any, ...]:
        return attempt(lambda: None, secret, request)

    def run_job(secret: str, job_id: str, request: gr.Request) -> tuple[Any, ...]:
        return attempt(lambda: admin.run_now(secret, job_id), secret, request)

    def enable_model(secret: str, name: str, request: gr.Request) -> tuple[Any, ...]:
        return attempt(lambda: admin.set_enabled(secret, name, True), secret, request)

    def disable_model(secret: str, name: str, request: gr.Request) -> tuple[Any, ...]:
        return attempt(lambda: admin.set_enabled(secret, name, False), secret, request)

    def deprecate_model(secret: str, name: str, request: gr.Request) -> tuple[Any, ...]:
        return attempt(lambda: admin.set_deprecated(secret, name, True), secret, request)

    def undeprecate_model(secret: str, name: str, request: gr.Request) -> tuple[Any, ...]:
        return attempt(lambda: admin.set_deprecated(secret, name, False), secret, request)

    load.click(open_tab, [token], views, api_name=False)
    run.click(run_job, [token, job], views, api_name=False)
    enable.click(enable_model, [token, model], views, api_name=False)
    disable.click(disable_model, [token, model], views, api_name=False)
    deprecate.click(deprecate_model, [token, model], views, api_name=False)
    undeprecate.click(undeprecate_model, [token, model], views, api_name=False)
    # Raw values: the set's name is checked against the stored sets, whatever a client sends.
    export.click(export_set, [token, set_name], [export_file, export_message], api_name=False, preprocess=False)
    show_mix.click(mix_of_set, [token, set_name], [mix_report, mix_plot], api_name=False, preprocess=False)
    # Each set's mix, one at a time: picking another set shows its own.
    set_name.input(mix_of_set, [token, set_name], [mix_report, mix_plot], api_name=False, preprocess=False)


def set_rows(summaries: list[SftSetSummary]) -> list[list[Any]]:
    def when(s: SftSetSummary) -> str:
        return s.last_saved_at.strftime("%Y-%m-%d %H:%M") if s.last_saved_at else ""

    return [[s.set_name, s.examples, s.edited, s.versions, when(s)] for s in summaries]
