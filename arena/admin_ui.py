"""The Admin tab: Gradio components and wiring only; every decision is AdminService's."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gradio as gr

from arena.admin import HISTORY_COLUMNS, MODEL_COLUMNS, AdminDenied, AdminService


def build_admin_tab(admin: AdminService) -> None:
    gr.Markdown("Operators only: enter the admin token (the server's `ARENA_ADMIN_TOKEN`).")
    token = gr.Textbox(label="Admin token", type="password", elem_id="admin_token")
    load = gr.Button("Open", elem_id="admin_open")
    message = gr.Markdown(elem_id="admin_message")
    status = gr.Markdown()
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

    def guarded(action: Callable[..., str | None]) -> Callable[..., tuple[Any, ...]]:
        def handler(secret: str, *args: Any) -> tuple[Any, ...]:
            try:
                note = action(secret, *args)
                views_now = refresh(secret)
            except AdminDenied as exc:
                return (f"⚠️ {exc}", "", None, None, gr.update())
            return (note or "", *views_now[1:])

        return handler

    load.click(guarded(lambda secret: None), [token], views, api_name=False)
    run.click(guarded(admin.run_now), [token, job], views, api_name=False)
    enable.click(guarded(lambda secret, name: admin.set_enabled(secret, name, True)), [token, model], views,
                 api_name=False)  # fmt: skip
    disable.click(guarded(lambda secret, name: admin.set_enabled(secret, name, False)), [token, model], views,
                  api_name=False)  # fmt: skip
