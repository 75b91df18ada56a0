"""The Admin tab: Gradio components and wiring only; every decision is AdminService's."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gradio as gr

from arena.admin import HISTORY_COLUMNS, MODEL_COLUMNS, AdminDenied, AdminService
from ui.display import display_html
from ui.web import client_host


def build_admin_tab(admin: AdminService, client_of: Callable[[str | None], str]) -> None:
    """`client_of(address)`: the salted key of a client address, the unit of the wrong-token limit."""
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
        model = gr.Dropdown([], label="Model", allow_custom_value=True)
        enable = gr.Button("Enable")
        disable = gr.Button("Disable")
    models = gr.Dataframe(headers=MODEL_COLUMNS, label="Registry", interactive=False, elem_id="admin_models")

    def refresh(secret: str) -> tuple[Any, ...]:
        names = [row[0] for row in admin.models(secret)]
        return (
            "",
            admin.scheduler_status(secret),
            admin.job_history(secret),
            admin.models(secret),
            gr.update(choices=names),
        )

    views = [message, status, history, models, model]

    def attempt(action: Callable[[], str | None], secret: str, request: gr.Request | None) -> tuple[Any, ...]:
        try:
            admin.check(secret, client=client_of(client_host(request)))
            note = action()
            views_now = refresh(secret)
        except AdminDenied as exc:
            return (display_html(f"⚠️ {exc}"), "", None, None, gr.update())
        return (display_html(note or ""), *views_now[1:])

    # Explicit signatures: Gradio passes the request only to a parameter annotated gr.Request.
    def open_tab(secret: str, request: gr.Request) -> tuple[Any, ...]:
        return attempt(lambda: None, secret, request)

    def run_job(secret: str, job_id: str, request: gr.Request) -> tuple[Any, ...]:
        return attempt(lambda: admin.run_now(secret, job_id), secret, request)

    def enable_model(secret: str, name: str, request: gr.Request) -> tuple[Any, ...]:
        return attempt(lambda: admin.set_enabled(secret, name, True), secret, request)

    def disable_model(secret: str, name: str, request: gr.Request) -> tuple[Any, ...]:
        return attempt(lambda: admin.set_enabled(secret, name, False), secret, request)

    load.click(open_tab, [token], views, api_name=False)
    run.click(run_job, [token, job], views, api_name=False)
    enable.click(enable_model, [token, model], views, api_name=False)
    disable.click(disable_model, [token, model], views, api_name=False)
