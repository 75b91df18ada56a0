"""Gradio components and event wiring for the arena. Handlers translate between widgets and ArenaService.

Endpoint names (gradio_client): /send, /regenerate, /vote_a, /vote_b, /vote_tie, /vote_bothbad,
/strength_slightly, /strength_clearly, /strength_much, /new_round; the side-by-side tab uses the same names
prefixed with "sxs_", direct chat uses /chat and /chat_clear.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

from arena.battles import ArenaError, ArenaService, Caller, Mode, TurnUpdate, VoteOutcome
from arena.safety import InputError, inert_markdown, session_hash, voter_hash
from arena.storage import BattleView
from leaderboard.io import read_battles
from leaderboard.judge_audit import audit_judges, render_markdown
from leaderboard.ui import SnapshotReader, build_leaderboard

ABOUT = """
## What is Huggy Arena?
An open arena for the people who train helpful chatbots. Chat with two anonymous models side by side, then
say which answer is better and by how much. Names are revealed after your vote. Votes become Bradley-Terry
ratings on the leaderboard, and they train the next reward model and RLHF checkpoint, which then enters the
arena as one more anonymous contender: the arena measures whether the training helped.

## How to vote
- **Helpfulness first.** Prefer the answer that does what was asked, correctly and completely. Style comes
  after substance; a longer answer is not a better one by itself.
- **Judge every turn.** You may vote after any turn; the vote is about the latest pair of answers, in the
  context of the conversation so far.
- **Keep it short.** Conversations are capped (2,048 tokens by default); start a new round for a new topic.
- **Ties are fine.** "Tie" when both are equally good, "Both are bad" when neither helps.
- **Don't ask the models who they are.** Naming a model or vendor could reveal who is who: such votes are
  stored but do not count in the ratings.

Your conversations and votes are stored to compute ratings and to train models. Your IP address is never
stored: votes carry a salted hash of your IP address and browser session.
"""


def theme() -> gr.themes.Base:
    """The default theme with local fonts: a self-hosted arena must not depend on Google Fonts."""
    return gr.themes.Default(
        font=[gr.themes.Font(name) for name in ("ui-sans-serif", "system-ui", "Noto Sans", "sans-serif")],
        font_mono=[gr.themes.Font(name) for name in ("ui-monospace", "Noto Sans Mono", "monospace")],
    )


CSS = """
#arena_notice, #sxs_notice {min-height: 1.5em}
"""


@dataclass(frozen=True)
class Identity:
    """How a browser request maps to a Caller: salted hashes of its session and IP."""

    salt: str
    trust_proxy_headers: bool = True

    def caller(self, request: gr.Request | None) -> Caller:
        session = getattr(request, "session_hash", None) if request else None
        return Caller(
            session_id=session_hash(self.salt, session), voter_id=voter_hash(self.salt, self._ip(request), session)
        )

    def _ip(self, request: gr.Request | None) -> str | None:
        if request is None:
            return None
        headers = getattr(request, "headers", {}) or {}
        if self.trust_proxy_headers:
            # Behind a proxy (Spaces, Cloudflare) the client host is the proxy itself.
            if ip := headers.get("cf-connecting-ip"):
                return str(ip).strip()
            if forwarded := headers.get("x-forwarded-for"):
                return str(forwarded).split(",")[0].strip()
        client = getattr(request, "client", None)
        return getattr(client, "host", None)


def chat_messages(
    battle: BattleView | None, side: int, pending: TurnUpdate | None = None, user_text: str = ""
) -> list[dict[str, str]]:
    """The chat shown on one side: stored turns, then the turn being streamed (made inert for display)."""
    messages: list[dict[str, str]] = []
    for turn in battle.turns if battle else ():
        if pending is not None and turn.index >= pending.turn:
            break
        answer = turn.answer_a if side == 0 else turn.answer_b
        messages.append({"role": "user", "content": inert_markdown(turn.user_message)})
        messages.append({"role": "assistant", "content": inert_markdown(answer or "")})
    if pending is not None:
        answer = pending.answer_a if side == 0 else (pending.answer_b or "")
        error = pending.error_a if side == 0 else pending.error_b
        messages.append({"role": "user", "content": inert_markdown(user_text)})
        shown = inert_markdown(answer) + (f"\n\n**Error:** {inert_markdown(error)}" if error else "")
        messages.append({"role": "assistant", "content": shown or "…"})
    return messages


def _notice(*lines: str) -> str:
    """Notices as inert markdown: an error message may quote what a client sent (a model name, say)."""
    return "\n\n".join(
        inert_markdown(f"⚠️ {line}" if not line.startswith(("✅", "🏁")) else line) for line in lines if line
    )


def _reveal_text(outcome: VoteOutcome) -> str:
    if not outcome.revealed:
        return ""
    lines = []
    for side, contender in zip("AB", outcome.revealed, strict=True):
        if contender is not None:
            about = f": {contender.description}" if contender.description else ""
            lines.append(f"**Model {side}** was **{contender.name}**{about}")
    return "🏁 " + "\n\n".join(lines)


class BattlePanel:
    """The two-chat layout shared by the anonymous Arena tab and the Side-by-side tab."""

    def __init__(self, service: ArenaService, identity: Identity, mode: Mode, prefix: str, concurrency: int) -> None:
        self.service, self.identity, self.mode, self.prefix = service, identity, mode, prefix
        self.concurrency = concurrency
        names = [m.name for m in service.contenders()]
        self.pickers: list[gr.Dropdown] = []
        if mode == "side_by_side":
            with gr.Row():
                for label, default in (("Model A", 0), ("Model B", 1)):
                    self.pickers.append(
                        gr.Dropdown(
                            names, value=names[default] if len(names) > default else None, label=label, interactive=True
                        )
                    )
        self.battle_id = gr.State(None)
        with gr.Row():
            self.chat_a = gr.Chatbot(
                label="Model A", elem_id=f"{prefix}chat_a", height=420, buttons=["copy"], feedback_options=None
            )
            self.chat_b = gr.Chatbot(
                label="Model B", elem_id=f"{prefix}chat_b", height=420, buttons=["copy"], feedback_options=None
            )
        self.notice = gr.Markdown(elem_id=f"{prefix}notice")
        with gr.Row():
            self.vote_buttons = [
                gr.Button("👈 A is better", interactive=False, elem_id=f"{prefix}vote_a"),
                gr.Button("👉 B is better", interactive=False, elem_id=f"{prefix}vote_b"),
                gr.Button("🤝 Tie", interactive=False, elem_id=f"{prefix}vote_tie"),
                gr.Button("👎 Both are bad", interactive=False, elem_id=f"{prefix}vote_bothbad"),
            ]
        with gr.Row(visible=False) as self.strength_row:
            self.strength_buttons = [
                gr.Button("Slightly better", elem_id=f"{prefix}strength_slightly"),
                gr.Button("Clearly better", elem_id=f"{prefix}strength_clearly"),
                gr.Button("Much better", elem_id=f"{prefix}strength_much"),
            ]
        with gr.Row():
            self.textbox = gr.Textbox(
                placeholder="Ask both models anything, then vote…",
                show_label=False,
                scale=5,
                elem_id=f"{prefix}input",
                max_lines=8,
            )
            self.send_button = gr.Button("Send", variant="primary", scale=1, elem_id=f"{prefix}send")
        with gr.Row():
            self.regenerate_button = gr.Button("🔄 Regenerate", interactive=False, elem_id=f"{prefix}regenerate")
            self.new_round_button = gr.Button("🎲 New round", elem_id=f"{prefix}new_round")
        self._wire()

    # ---- outputs ----------------------------------------------------------------------------------
    @property
    def _turn_outputs(self) -> list[Any]:
        return [
            self.chat_a,
            self.chat_b,
            self.notice,
            self.battle_id,
            self.textbox,
            *self.vote_buttons,
            self.regenerate_button,
            self.send_button,
            self.strength_row,
        ]

    def _turn_state(
        self,
        chat_a: Any,
        chat_b: Any,
        notice: str,
        battle_id: str | None,
        *,
        streaming: bool,
        can_vote: bool,
        textbox: Any = None,
    ) -> tuple[Any, ...]:
        vote = gr.update(interactive=can_vote and not streaming and self.mode != "direct")
        if textbox is None:
            textbox = gr.update(interactive=not streaming)
        elif isinstance(textbox, str):
            # A new value alone would leave the box disabled from streaming: set both.
            textbox = gr.update(value=textbox, interactive=not streaming)
        return (
            chat_a,
            chat_b,
            notice,
            battle_id,
            textbox,
            vote,
            vote,
            vote,
            vote,
            gr.update(interactive=can_vote and not streaming),
            gr.update(interactive=not streaming),
            gr.update(visible=False),
        )

    # ---- handlers ---------------------------------------------------------------------------------
    def send(self, message: str, battle_id: str | None, request: gr.Request) -> Iterator[tuple[Any, ...]]:
        yield from self._send(message, battle_id, [], request)

    def send_named(
        self, message: str, battle_id: str | None, model_a: str, model_b: str, request: gr.Request
    ) -> Iterator[tuple[Any, ...]]:
        yield from self._send(message, battle_id, [model_a, model_b], request)

    def _send(
        self, message: str, battle_id: str | None, models: list[str], request: gr.Request
    ) -> Iterator[tuple[Any, ...]]:
        caller = self.identity.caller(request)
        try:
            updates = self.service.send(caller, battle_id, message, mode=self.mode, models=models)
        except (ArenaError, InputError) as exc:
            yield self._error_state(caller, battle_id, str(exc), keep_text=True)
            return
        yield from self._stream(caller, updates, str(message or "").strip(), battle_id)

    def regenerate(self, battle_id: str | None, request: gr.Request) -> Iterator[tuple[Any, ...]]:
        caller = self.identity.caller(request)
        try:
            updates = self.service.regenerate(caller, battle_id)
            battle = self.service.battle(caller, battle_id)
        except (ArenaError, InputError) as exc:
            yield self._error_state(caller, battle_id, str(exc))
            return
        yield from self._stream(caller, updates, battle.turns[-1].user_message, battle_id)

    def _stream(
        self, caller: Caller, updates: Iterator[TurnUpdate], user_text: str, battle_id: str | None
    ) -> Iterator[tuple[Any, ...]]:
        battle: BattleView | None = None
        try:
            for update in updates:
                if battle is None or battle.id != update.battle_id:
                    battle = self.service.battle(caller, update.battle_id)
                chat_a = chat_messages(battle, 0, update, user_text)
                chat_b = chat_messages(battle, 1, update, user_text)
                if update.done:
                    yield self._turn_state(
                        chat_a,
                        chat_b,
                        _notice(*update.notices),
                        update.battle_id,
                        streaming=False,
                        can_vote=True,
                        textbox="",
                    )
                else:
                    yield self._turn_state(
                        chat_a,
                        chat_b,
                        "",
                        update.battle_id,
                        streaming=True,
                        can_vote=False,
                        textbox=gr.update(value="", interactive=False),
                    )
        except ArenaError as exc:
            yield self._error_state(caller, battle.id if battle else battle_id, str(exc))

    def _error_state(
        self, caller: Caller, battle_id: str | None, message: str, *, keep_text: bool = False
    ) -> tuple[Any, ...]:
        battle = None
        if battle_id:
            try:
                battle = self.service.battle(caller, battle_id)
            except ArenaError:
                battle_id = None
        can_vote = bool(battle and battle.last_turn and battle.vote_for(battle.last_turn) is None)
        return self._turn_state(
            chat_messages(battle, 0),
            chat_messages(battle, 1),
            _notice(message),
            battle_id,
            streaming=False,
            can_vote=can_vote,
            textbox=gr.update(interactive=True) if keep_text else None,
        )

    def vote(self, winner: str) -> Callable[..., tuple[Any, ...]]:
        def handler(battle_id: str | None, request: gr.Request) -> tuple[Any, ...]:
            caller = self.identity.caller(request)
            try:
                outcome = self.service.vote(caller, battle_id, winner)
            except (ArenaError, InputError) as exc:
                return self._vote_state(_notice(str(exc)), keep_buttons=True)
            return self._after_vote(outcome)

        return handler

    def strength(self, strength: str) -> Callable[..., tuple[Any, ...]]:
        def handler(battle_id: str | None, request: gr.Request) -> tuple[Any, ...]:
            caller = self.identity.caller(request)
            try:
                outcome = self.service.set_strength(caller, battle_id, strength)
            except (ArenaError, InputError) as exc:
                return self._vote_state(_notice(str(exc)))
            return self._after_vote(outcome)

        return handler

    @property
    def _vote_outputs(self) -> list[Any]:
        return [
            self.notice,
            *self.vote_buttons,
            self.strength_row,
            self.regenerate_button,
            self.textbox,
            self.send_button,
            self.chat_a,
            self.chat_b,
        ]

    def _vote_state(
        self, notice: str, *, keep_buttons: bool = False, strength: bool = False, revealed: VoteOutcome | None = None
    ) -> tuple[Any, ...]:
        buttons = gr.update() if keep_buttons else gr.update(interactive=False)
        closed = revealed is not None and revealed.revealed is not None
        names = revealed.revealed if closed and revealed else None
        return (
            notice,
            buttons,
            buttons,
            buttons,
            buttons,
            gr.update(visible=strength),
            gr.update() if keep_buttons else gr.update(interactive=False),
            gr.update(interactive=not closed, placeholder="Start a new round to keep chatting." if closed else None),
            gr.update(interactive=not closed),
            gr.update(label=f"Model A: {names[0].name}") if names else gr.update(),
            gr.update(label=f"Model B: {names[1].name}") if names and names[1] else gr.update(),
        )

    def _after_vote(self, outcome: VoteOutcome) -> tuple[Any, ...]:
        if outcome.needs_strength:
            side = "A" if outcome.vote.winner == "model_a" else "B"
            text = _notice(f"✅ {side} is better. How much better?", *outcome.notices)
            return self._vote_state(text, strength=True)
        text = _notice("✅ Thanks, your vote is recorded.", *outcome.notices, _reveal_text(outcome))
        return self._vote_state(text, revealed=outcome)

    def new_round(self) -> tuple[Any, ...]:
        return self._turn_state(
            gr.update(value=[], label="Model A"),
            gr.update(value=[], label="Model B"),
            "",
            None,
            streaming=False,
            can_vote=False,
            textbox=gr.update(value="", interactive=True, placeholder="Ask both models anything, then vote…"),
        )

    # ---- wiring -----------------------------------------------------------------------------------
    def _wire(self) -> None:
        p = self.prefix
        send = self.send_named if self.pickers else self.send
        send_inputs = [self.textbox, self.battle_id, *self.pickers]
        generate = {"concurrency_limit": self.concurrency, "concurrency_id": f"{p}generate"}
        self.send_button.click(send, send_inputs, self._turn_outputs, api_name=f"{p}send", **generate)
        self.textbox.submit(send, send_inputs, self._turn_outputs, api_name=False, **generate)
        self.regenerate_button.click(
            self.regenerate, [self.battle_id], self._turn_outputs, api_name=f"{p}regenerate", **generate
        )
        winners = ("model_a", "model_b", "tie", "tie (bothbad)")
        for button, winner, name in zip(self.vote_buttons, winners, ("a", "b", "tie", "bothbad"), strict=True):
            button.click(self.vote(winner), [self.battle_id], self._vote_outputs, api_name=f"{p}vote_{name}")
        for button, strength in zip(self.strength_buttons, ("slightly", "clearly", "much"), strict=True):
            button.click(
                self.strength(strength), [self.battle_id], self._vote_outputs, api_name=f"{p}strength_{strength}"
            )
        self.new_round_button.click(self.new_round, None, self._turn_outputs, api_name=f"{p}new_round")
        if self.pickers:
            # Changing a model mid-conversation starts a new conversation with the new pair.
            for picker in self.pickers:
                picker.change(self.new_round, None, self._turn_outputs, api_name=False)


class DirectChat:
    """One named model, with decoding settings and a system prompt of the person's choice."""

    def __init__(self, service: ArenaService, identity: Identity, concurrency: int) -> None:
        self.service, self.identity = service, identity
        specs = service.contenders()
        names = [s.name for s in specs]
        self.battle_id = gr.State(None)
        with gr.Row():
            with gr.Column(scale=3):
                self.model = gr.Dropdown(
                    names, value=names[0] if names else None, label="Model", elem_id="direct_model"
                )
                self.chat = gr.Chatbot(
                    label="Chat", elem_id="direct_chat", height=460, buttons=["copy"], feedback_options=None
                )
                self.notice = gr.Markdown(elem_id="direct_notice")
                with gr.Row():
                    self.textbox = gr.Textbox(
                        placeholder="Message…", show_label=False, scale=5, elem_id="direct_input", max_lines=8
                    )
                    self.send_button = gr.Button("Send", variant="primary", scale=1, elem_id="direct_send")
                self.clear_button = gr.Button("🗑️ New conversation", elem_id="direct_clear")
            with gr.Column(scale=1):
                self.system_prompt = gr.Textbox(
                    label="System prompt (empty: the model's own)", lines=4, elem_id="direct_system"
                )
                self.temperature = gr.Slider(
                    0.0, 2.0, value=0.7, step=0.05, label="Temperature", elem_id="direct_temperature"
                )
                self.top_p = gr.Slider(0.05, 1.0, value=1.0, step=0.05, label="Top-p", elem_id="direct_top_p")
                self.max_tokens = gr.Slider(
                    16, 1024, value=256, step=16, label="Max new tokens", elem_id="direct_max_tokens"
                )
        inputs = [
            self.textbox,
            self.battle_id,
            self.model,
            self.system_prompt,
            self.temperature,
            self.top_p,
            self.max_tokens,
        ]
        outputs = [self.chat, self.notice, self.battle_id, self.textbox, self.model]
        self.send_button.click(
            self.send, inputs, outputs, api_name="chat", concurrency_id="generate_direct", concurrency_limit=concurrency
        )
        self.textbox.submit(
            self.send, inputs, outputs, api_name=False, concurrency_id="generate_direct", concurrency_limit=concurrency
        )
        self.clear_button.click(
            lambda: ([], "", None, "", gr.update(interactive=True)), None, outputs, api_name="chat_clear"
        )

    def send(
        self,
        message: str,
        battle_id: str | None,
        model: str,
        system_prompt: str,
        temperature: float,
        top_p: float,
        max_tokens: float,
        request: gr.Request,
    ) -> Iterator[tuple[Any, ...]]:
        caller = self.identity.caller(request)
        overrides = {
            "system_prompt": system_prompt or None,
            "temperature": float(temperature),
            "top_p": float(top_p),
            "max_new_tokens": int(max_tokens),
        }
        try:
            updates = self.service.send(caller, battle_id, message, mode="direct", models=[model], overrides=overrides)
        except (ArenaError, InputError) as exc:
            battle = self._battle(caller, battle_id)
            yield chat_messages(battle, 0), _notice(str(exc)), battle_id, gr.update(), gr.update()
            return
        text = str(message or "").strip()
        battle: BattleView | None = None
        for update in updates:
            if battle is None:
                battle = self.service.battle(caller, update.battle_id)
            chat = chat_messages(battle, 0, update, text)
            notice = _notice(*update.notices) if update.done else ""
            # A conversation stays with one model: switching models starts a new conversation.
            yield (
                chat,
                notice,
                update.battle_id,
                gr.update(value="", interactive=update.done),
                gr.update(interactive=False),
            )

    def _battle(self, caller: Caller, battle_id: str | None) -> BattleView | None:
        if not battle_id:
            return None
        try:
            return self.service.battle(caller, battle_id)
        except ArenaError:
            return None


EMPTY_AUDIT = "No judge votes yet."


class JudgeAuditPanel:
    """The judges' biases against people: on the arena's own votes, or on a battles file someone uploads."""

    def __init__(self, audit_arena: Callable[[], str]) -> None:
        gr.Markdown(
            "How the LLM judges lean (position, length, unique tokens, self-preference) and how often they agree "
            "with people on the same battle turns. Run it on the arena's votes, or upload votes in the "
            "clean-battle schema (JSON, JSONL or CSV; e.g. `python -m leaderboard.llmfao` output)."
        )
        with gr.Row():
            run = gr.Button("Audit the arena's votes", elem_id="audit_run")
            upload = gr.File(label="…or audit a battles file", file_types=[".json", ".jsonl", ".csv"])
        report = gr.Markdown(elem_id="audit_report")
        run.click(lambda: audit_arena(), None, report, api_name="judge_audit")
        upload.upload(audit_file, upload, report, api_name=False)


def audit_file(path: str | None) -> str:
    if not path:
        return ""
    try:
        return render_markdown(audit_judges(read_battles(Path(path)), rounds=200))
    except (OSError, ValueError) as exc:
        return f"⚠️ {exc}"


def build_ui(
    service: ArenaService,
    identity: Identity,
    *,
    concurrency: int = 4,
    leaderboard: SnapshotReader | None = None,
    judge_audit: Callable[[], str] | None = None,
    admin_tab: Callable[[], None] | None = None,
) -> gr.Blocks:
    """The whole app: Arena, Side-by-side, Direct chat, Leaderboard, About; the leaderboard also at /leaderboard."""
    read_leaderboard: SnapshotReader = leaderboard or (lambda: None)
    with gr.Blocks(title="Huggy Arena") as demo:
        gr.Markdown("# 🤗 Huggy Arena\nChat with two anonymous models, vote for the better answer, see who they were.")
        with gr.Tabs():
            with gr.Tab("Arena", id="arena"):
                gr.Markdown(
                    "Ask anything. Both anonymous models answer; vote after any turn. "
                    "Names are revealed after your vote."
                )
                BattlePanel(service, identity, "anonymous", "", concurrency)
            with gr.Tab("Side-by-side", id="side_by_side"):
                gr.Markdown(
                    "Pick two models by name. These votes are stored as non-anonymous and do not count in the ratings."
                )
                BattlePanel(service, identity, "side_by_side", "sxs_", concurrency)
            with gr.Tab("Direct chat", id="direct"):
                DirectChat(service, identity, concurrency)
            with gr.Tab("Leaderboard", id="leaderboard"):
                build_leaderboard(demo, read_leaderboard, prefix="lb_", api=True)
            with gr.Tab("Judge audit", id="judge_audit"):
                JudgeAuditPanel(judge_audit or (lambda: EMPTY_AUDIT))
            if admin_tab is not None:
                with gr.Tab("Admin", id="admin"):
                    admin_tab()
            with gr.Tab("About", id="about"):
                gr.Markdown(ABOUT)
    # The same page on its own URL, for people who only come for the ratings.
    with demo.route("Leaderboard", "/leaderboard"):
        gr.Markdown("# 🤗 Huggy Arena leaderboard\nBradley-Terry ratings from anonymous, unflagged votes.")
        build_leaderboard(demo, read_leaderboard, prefix="lbp_", api=False)
    demo.queue(default_concurrency_limit=concurrency)
    return demo
