"""Gradio's queue protocol spoken by hand, for tests that must send what no well-behaved client sends.

gradio_client cleans and checks what it sends; a hostile client does not. These helpers post raw JSON to
`/gradio_api/queue/join` (any fn_index, any payload, any header) and read the session's event stream.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

import httpx


@dataclass(frozen=True)
class Joined:
    status: int
    body: Any
    session: str


def app_config(url: str) -> dict[str, Any]:
    return httpx.get(f"{url}/config", timeout=10).json()


def fn_index(
    config: dict[str, Any], *, api_name: str | None = None, elem_id: str | None = None, trigger: str = "click"
) -> int:
    """The index of an event: by its API name, or by the elem_id of the component that triggers it."""
    if api_name is not None:
        for dependency in config["dependencies"]:
            if dependency.get("api_name") == api_name:
                return int(dependency["id"])
        raise LookupError(f"no event named {api_name!r}")
    component = next(c["id"] for c in config["components"] if c.get("props", {}).get("elem_id") == elem_id)
    for dependency in config["dependencies"]:
        if [component, trigger] in [list(t) for t in dependency["targets"]]:
            return int(dependency["id"])
    raise LookupError(f"no {trigger} event on #{elem_id}")


def join(
    url: str,
    index: int,
    data: list[Any],
    *,
    session: str | None = None,
    headers: dict[str, str] | None = None,
    raw_body: bytes | None = None,
) -> Joined:
    """POST /queue/join; `raw_body` sends bytes as they are (JSON no encoder would write)."""
    session = session or uuid.uuid4().hex[:11]
    body = {"data": data, "fn_index": index, "session_hash": session, "event_data": None, "trigger_id": None}
    content = raw_body if raw_body is not None else json.dumps(body).encode()
    response = httpx.post(
        f"{url}/gradio_api/queue/join",
        content=content,
        headers={"content-type": "application/json", **(headers or {})},
        timeout=30,
    )
    try:
        parsed = response.json()
    except ValueError:
        parsed = response.text
    return Joined(response.status_code, parsed, session)


def listen(
    url: str, session: str, *, headers: dict[str, str] | None = None, timeout: float = 60
) -> list[dict[str, Any]]:
    """The session's messages until its events complete (`process_completed`) or the stream closes."""
    messages: list[dict[str, Any]] = []
    with httpx.stream(
        "GET", f"{url}/gradio_api/queue/data", params={"session_hash": session}, headers=headers or {}, timeout=timeout
    ) as response:
        for line in response.iter_lines():
            if not line.startswith("data:"):
                continue
            message = json.loads(line[5:])
            messages.append(message)
            if message.get("msg") in ("process_completed", "close_stream", "unexpected_error"):
                break
    return messages


def outputs(messages: list[dict[str, Any]]) -> list[Any]:
    """The output data of the last completed (or generating) message; an error's message when it failed."""
    for message in reversed(messages):
        output = message.get("output") or {}
        if "data" in output:
            return list(output["data"])
        if output.get("error"):
            return [str(output["error"])]
    return []


def raw_join_body(index: int, data_json: str, session: str) -> bytes:
    """A join body whose data is written by hand, e.g. with a lone surrogate escape that json.dumps refuses."""
    return (
        f'{{"data": {data_json}, "fn_index": {index}, "session_hash": "{session}", "event_data": null, '
        f'"trigger_id": null}}'
    ).encode()
