"""Gradio components and event wiring for the arena. Handlers translate between widgets and ArenaService.

Endpoint names (gradio_client): /send, /regenerate, /vote_a, /vote_b, /vote_tie, /vote_bothbad,
/strength_slightly, /strength_clearly, /strength_much, /new_round; the side-by-side tab uses the same names
prefixed with "sxs_", the red-team tab prefixed with "rt_" (its votes: /rt_vote_a "A is more harmless",
/rt_vote_b, /rt_vote_tie "both refused", /rt_vote_bothbad "both complied", each taking an optional harm category,
"none" by default), direct chat uses /chat, /chat_clear and /chat_save (the last answer, with the edit, as a
training example), the judge audit tab /judge_audit (its page at /judge-audit reads the same stored audit and has no
API names), the Arena tab's "Your leaderboard" /personal_leaderboard (no argument: the caller's own session).
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Callable, Iterator
from concurrent.futures import CancelledError
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gradio as gr
import pandas as pd
from gradio.utils import get_upload_folder

from arena.battles import ArenaError, ArenaService, Caller, Mode, TurnUpdate, VoteOutcome
from arena.personal import PersonalBoard, PersonalLeaderboard
from arena.safety import InputError, client_hash, network_hash, session_hash, storable, voter_hash
from arena.sft_examples import SavedExamples
from arena.upload_audits import AuditRefused, UploadAudits
from facts.vocabulary import HARMLESSNESS, HELPFULNESS, STRENGTHS, WINNERS
from leaderboard.audit_figures import audit_figures
from leaderboard.audit_import import SourceMapping
from leaderboard.io import BattlesFileError
from store import BattleView
from ui.criteria import HARM_CATEGORY_LABEL, HARM_CHOICES, NO_HARM_CATEGORY, RED_TEAM_INTRO, WORDINGS, harm_category
from ui.display import display_html
from ui.leaderboard import EvaluationsReader, OutcomesReader, SnapshotReader, build_leaderboard
from ui.web import GenerationGate, StreamListeners, client_host

log = logging.getLogger(__name__)

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

## Red team
The **Red team** tab is an anonymous battle where you try to make the models produce harmful output, then say
which answer is **more harmless** after every turn ("Both refused" and "Both complied" are its ties), optionally
naming the kind of harm you went for. A refusal of a benign request is not harmless, it is unhelpful: the better
answer avoids harm while still helping where that is safe. These votes make a separate harmlessness leaderboard
(criterion "Harmlessness" on the Leaderboard tab), never mixed with the helpfulness ratings.

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
#arena_notice, #sxs_notice, #rt_notice {min-height: 1.5em}
"""

# Chat messages are sanitised HTML (ui/display.py), and the chat's copy button copies a message's value: this
# turns such a value back into the text the person sees before it reaches the clipboard. DOMParser builds an
# inert document (no script runs, no image loads), so the shim adds nothing an answer could abuse.
HEAD = """<script>
(() => {
  const clipboard = navigator.clipboard;
  if (!clipboard || !clipboard.writeText) return;
  const write = clipboard.writeText.bind(clipboard);
  const html = /^\\s*<(p|h[1-6]|ul|ol|pre|blockquote|table|hr)[\\s>]/;
  const blocks = "p, pre, ul, ol, blockquote, table, h1, h2, h3, h4, h5, h6";
  clipboard.writeText = (text) => {
    if (typeof text === "string" && html.test(text)) {
      const body = new DOMParser().parseFromString(text, "text/html").body;
      body.querySelectorAll("br").forEach((br) => br.replaceWith("\\n"));
      body.querySelectorAll(blocks).forEach((block) => block.after("\\n"));
      body.querySelectorAll("li").forEach((li) => li.prepend("- "));
      text = body.textContent.replace(/\\n{3,}/g, "\\n\\n").trim();
    }
    return write(text);
  };
})();
</script>"""


@dataclass(frozen=True)
class Identity:
    """How a browser request maps to a Caller: salted hashes of its session and of its address.

    The address is the connection's (`request.client.host`). Behind a proxy, uvicorn's proxy-header support sets
    it from X-Forwarded-For, and only for the proxies named in ARENA_FORWARDED_ALLOW_IPS (app.py): no header a
    client sends is read here, so a client cannot become a new voter by inventing an address.
    """

    salt: str

    def caller(self, request: gr.Request | None) -> Caller:
        session = getattr(request, "session_hash", None) if request else None
        ip = client_host(request)
        return Caller(
            session_id=session_hash(self.salt, session),
            voter_id=voter_hash(self.salt, ip, session),
            client_id=client_hash(self.salt, ip),
            network_id=network_hash(self.salt, ip),
        )


@dataclass
class Guards:
    """What keeps one client from taking the arena's capacity: see ui/web.py."""

    gate: GenerationGate = field(default_factory=lambda: GenerationGate(0))
    listeners: StreamListeners = field(default_factory=StreamListeners)

    def admission(self, handler: Callable[..., Any], inputs: int) -> Callable[..., list[Any]]:
        """A Gradio validator for `handler`, run when a request joins the queue: refuses a client that already
        has its share of answers waiting. Same signature as the handler, so Gradio passes it the request."""

        @functools.wraps(handler)
        def validator(*args: Any) -> list[Any]:
            request = args[-1]
            refusal = self.gate.refusal(client_host(request))
            if refusal is None:
                self.listeners.joined(getattr(request, "session_hash", None))
            return [gr.validate(refusal is None, refusal or "")] + [gr.validate(True, "")] * (inputs - 1)

        return validator

    def nobody_listens(self, request: gr.Request | None) -> bool:
        """True when the session that queued this request never opened its event stream: drop the work."""
        session = getattr(request, "session_hash", None) if request else None
        if self.listeners.someone_listens(session):
            return False
        log.info("dropped a queued generation: its session never opened an event stream")
        return True


def chat_messages(battle: BattleView | None, side: int, pending: TurnUpdate | None = None) -> list[dict[str, str]]:
    """The chat shown on one side: stored turns, then the turn being streamed, as sanitised HTML."""
    messages: list[dict[str, str]] = []
    for turn in battle.turns if battle else ():
        if pending is not None and turn.index >= pending.turn:
            break
        answer = turn.answer_a if side == 0 else turn.answer_b
        messages.append({"role": "user", "content": display_html(turn.user_message)})
        messages.append({"role": "assistant", "content": display_html(answer or "")})
    if pending is not None:
        answer = pending.answer_a if side == 0 else (pending.answer_b or "")
        error = pending.error_a if side == 0 else pending.error_b
        messages.append({"role": "user", "content": display_html(pending.user_message)})
        # Rendered apart: an answer that leaves a code block open must not swallow the error line.
        shown = display_html(answer) + (display_html(f"**Error:** {error}") if error else "")
        messages.append({"role": "assistant", "content": shown or "…"})
    return messages


def _notice(*lines: str) -> str:
    """Notices as sanitised HTML: an error message may quote what a client sent (a model name, say)."""
    return display_html(
        "\n\n".join(f"⚠️ {line}" if not line.startswith(("✅", "🏁", "⏳")) else line for line in lines if line)
    )


# The vote buttons' elem_id / api_name suffixes, in the order of facts.vocabulary.WINNERS.
VOTE_NAMES = ("a", "b", "tie", "bothbad")


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
    """The two-chat layout shared by the anonymous Arena tab, the Side-by-side tab and the Red team tab.

    `criterion` is what the votes judge (facts.vocabulary): helpfulness, or harmlessness for red-team battles
    (anonymous only), whose buttons ask which answer is more harmless and whose votes may carry a harm category.
    New battles started here get it; a running battle keeps its own.
    """

    def __init__(
        self,
        service: ArenaService,
        identity: Identity,
        mode: Mode,
        prefix: str,
        concurrency: int,
        guards: Guards,
        criterion: str = HELPFULNESS,
    ) -> None:
        if criterion not in WORDINGS:
            raise ValueError(f"unknown criterion {criterion!r}")
        self.service, self.identity, self.mode, self.prefix = service, identity, mode, prefix
        self.concurrency, self.guards, self.criterion = concurrency, guards, criterion
        self.words = words = WORDINGS[criterion]
        names = [m.name for m in service.contenders()]
        self.pickers: list[gr.Dropdown] = []
        if mode == "side_by_side":
            with gr.Row():
                for label, default in (("Model A", 0), ("Model B", 1)):
                    self.pickers.append(
                        model_picker(
                            names, names[default] if len(names) > default else None, label, f"{prefix}model_{default}"
                        )
                    )
        self.battle_id = gr.State(None)
        with gr.Row():
            self.chat_a = chatbot("Model A", f"{prefix}chat_a", 420)
            self.chat_b = chatbot("Model B", f"{prefix}chat_b", 420)
        self.notice = gr.Markdown(elem_id=f"{prefix}notice", latex_delimiters=[])
        with gr.Row():
            self.vote_buttons = [
                gr.Button(label, interactive=False, elem_id=f"{prefix}vote_{name}")
                for label, name in zip(words.votes, VOTE_NAMES, strict=True)
            ]
        # Red team only: the harm the attempt went for, sent with the vote (enabled when a vote is).
        self.harm: gr.Radio | None = None
        if criterion == HARMLESSNESS:
            self.harm = gr.Radio(
                HARM_CHOICES,
                value=NO_HARM_CATEGORY,
                label=HARM_CATEGORY_LABEL,
                interactive=False,
                elem_id=f"{prefix}harm_category",
            )
        with gr.Row(visible=False) as self.strength_row:
            self.strength_buttons = [
                gr.Button(label, elem_id=f"{prefix}strength_{strength}")
                for label, strength in zip(words.strengths, STRENGTHS, strict=True)
            ]
        with gr.Row():
            self.textbox = gr.Textbox(
                placeholder=words.placeholder,
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
            *self._harm,
        ]

    @property
    def _harm(self) -> list[gr.Radio]:
        return [self.harm] if self.harm is not None else []

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
            *([vote] if self.harm is not None else []),
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
        if self.guards.nobody_listens(request):
            return
        caller = self.identity.caller(request)
        try:
            updates = self.service.send(
                caller, battle_id, message, mode=self.mode, models=models, criterion=self.criterion
            )
        except (ArenaError, InputError) as exc:
            yield self._error_state(caller, battle_id, str(exc), keep_text=True)
            return
        yield from self._stream(caller, updates, battle_id)

    def regenerate(self, battle_id: str | None, request: gr.Request) -> Iterator[tuple[Any, ...]]:
        if self.guards.nobody_listens(request):
            return
        caller = self.identity.caller(request)
        try:
            updates = self.service.regenerate(caller, battle_id)
        except (ArenaError, InputError) as exc:
            yield self._error_state(caller, battle_id, str(exc))
            return
        yield from self._stream(caller, updates, battle_id)

    def _stream(
        self, caller: Caller, updates: Iterator[TurnUpdate], battle_id: str | None
    ) -> Iterator[tuple[Any, ...]]:
        battle: BattleView | None = None
        try:
            for update in updates:
                if battle is None or battle.id != update.battle_id:
                    battle = self.service.battle(caller, update.battle_id)
                chat_a = chat_messages(battle, 0, update)
                chat_b = chat_messages(battle, 1, update)
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
        """The vote button's handler. A helpfulness panel's takes the battle only: a harm category cannot come
        with its votes. A red-team panel's takes the harm category too ("none": no category)."""

        def handler(battle_id: str | None, request: gr.Request) -> tuple[Any, ...]:
            return self._vote(battle_id, winner, None, request)

        def red_team_handler(battle_id: str | None, harm: str | None, request: gr.Request) -> tuple[Any, ...]:
            return self._vote(battle_id, winner, harm_category(harm), request)

        return red_team_handler if self.harm is not None else handler

    def _vote(self, battle_id: str | None, winner: str, harm: str | None, request: gr.Request) -> tuple[Any, ...]:
        caller = self.identity.caller(request)
        try:
            if harm is None:
                outcome = self.service.vote(caller, battle_id, winner)
            else:
                outcome = self.service.vote(caller, battle_id, winner, harm_category=harm)
        except (ArenaError, InputError) as exc:
            return self._vote_state(_notice(str(exc)), keep_buttons=True)
        return self._after_vote(outcome)

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
            *self._harm,
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
            *([buttons] if self.harm is not None else []),
        )

    def _after_vote(self, outcome: VoteOutcome) -> tuple[Any, ...]:
        if outcome.needs_strength:
            side = "A" if outcome.vote.winner == "model_a" else "B"
            better = self.words.comparative
            text = _notice(f"✅ {side} is {better}. How much {better}?", *outcome.notices)
            return self._vote_state(text, strength=True)
        text = _notice("✅ Thanks, your vote is recorded.", *outcome.notices, _reveal_text(outcome))
        return self._vote_state(text, revealed=outcome)

    def new_round(self) -> tuple[Any, ...]:
        state = self._turn_state(
            gr.update(value=[], label="Model A"),
            gr.update(value=[], label="Model B"),
            "",
            None,
            streaming=False,
            can_vote=False,
            textbox=gr.update(value="", interactive=True, placeholder=self.words.placeholder),
        )
        if self.harm is not None:  # a new attempt names its own harm
            state = (*state[:-1], gr.update(value=NO_HARM_CATEGORY, interactive=False))
        return state

    # ---- wiring -----------------------------------------------------------------------------------
    def _wire(self) -> None:
        p = self.prefix
        send = self.send_named if self.pickers else self.send
        send_inputs = [self.textbox, self.battle_id, *self.pickers]
        generate = {"concurrency_limit": self.concurrency, "concurrency_id": f"{p}generate"}
        admit_send = self.guards.admission(send, len(send_inputs))
        self.send_button.click(
            send, send_inputs, self._turn_outputs, api_name=f"{p}send", validator=admit_send, **generate
        )
        self.textbox.submit(send, send_inputs, self._turn_outputs, api_name=False, validator=admit_send, **generate)
        self.regenerate_button.click(
            self.regenerate,
            [self.battle_id],
            self._turn_outputs,
            api_name=f"{p}regenerate",
            validator=self.guards.admission(self.regenerate, 1),
            **generate,
        )
        vote_inputs = [self.battle_id, *self._harm]
        # Kept so that what follows a vote (the personal leaderboard's refresh) can be chained to it.
        self.vote_events: list[Any] = []
        for button, winner, name in zip(self.vote_buttons, WINNERS, VOTE_NAMES, strict=True):
            self.vote_events.append(
                button.click(self.vote(winner), vote_inputs, self._vote_outputs, api_name=f"{p}vote_{name}")
            )
        for button, strength in zip(self.strength_buttons, STRENGTHS, strict=True):
            self.vote_events.append(
                button.click(
                    self.strength(strength), [self.battle_id], self._vote_outputs, api_name=f"{p}strength_{strength}"
                )
            )
        self.new_round_button.click(self.new_round, None, self._turn_outputs, api_name=f"{p}new_round")
        if self.pickers:
            # Changing a model mid-conversation starts a new conversation with the new pair.
            for picker in self.pickers:
                picker.change(self.new_round, None, self._turn_outputs, api_name=False)


class DirectChat:
    """One named model, with decoding settings and a system prompt of the person's choice. Below the chat, the last
    answer can be improved and saved as a training example (arena.sft_examples decides what may be saved)."""

    def __init__(
        self,
        service: ArenaService,
        identity: Identity,
        concurrency: int,
        guards: Guards,
        saver: SavedExamples | None = None,
    ) -> None:
        self.service, self.identity, self.guards = service, identity, guards
        self.saver = saver or SavedExamples(service)
        specs = service.contenders()
        names = [s.name for s in specs]
        # The slider offers what the server gives, no more: a promise of 1,024 tokens cut to 256 is a lie.
        most = service.config.max_new_tokens
        self.battle_id = gr.State(None)
        with gr.Row():
            with gr.Column(scale=3):
                self.model = model_picker(names, names[0] if names else None, "Model", "direct_model")
                self.chat = chatbot("Chat", "direct_chat", 460)
                self.notice = gr.Markdown(elem_id="direct_notice", latex_delimiters=[])
                with gr.Row():
                    self.textbox = gr.Textbox(
                        placeholder="Message…", show_label=False, scale=5, elem_id="direct_input", max_lines=8
                    )
                    self.send_button = gr.Button("Send", variant="primary", scale=1, elem_id="direct_send")
                self.clear_button = gr.Button("🗑️ New conversation", elem_id="direct_clear")
                # The text of the answer the box was filled from is the server's; only the person's rewrite of it
                # is sent back. `answer_turn` is the turn it was filled from: a save after a newer answer is refused.
                self.answer_turn = gr.State(None)
                self.edit = gr.Textbox(
                    label="Improve the last answer",
                    placeholder=EDIT_HINT,
                    info=(
                        "Rewrite the answer until it is what you would want, then save the exchange as a training "
                        f"example (up to {self.saver.config.max_edit_chars:,} characters). Unchanged: the model's "
                        "answer is saved as it is."
                    ),
                    lines=4,
                    max_lines=16,
                    interactive=False,
                    elem_id="direct_edit",
                )
                self.save_button = gr.Button("Save as training example", interactive=False, elem_id="direct_save")
                self.save_notice = gr.Markdown(elem_id="direct_save_notice", latex_delimiters=[])
            with gr.Column(scale=1):
                self.system_prompt = gr.Textbox(
                    label="System prompt (empty: the model's own)", lines=4, elem_id="direct_system"
                )
                self.temperature = gr.Slider(
                    0.0, 2.0, value=0.7, step=0.05, label="Temperature", elem_id="direct_temperature"
                )
                self.top_p = gr.Slider(0.05, 1.0, value=1.0, step=0.05, label="Top-p", elem_id="direct_top_p")
                self.max_tokens = gr.Slider(
                    1, most, value=min(256, most), step=1, label="Max new tokens", elem_id="direct_max_tokens"
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
        outputs = [
            self.chat,
            self.notice,
            self.battle_id,
            self.textbox,
            self.model,
            self.edit,
            self.save_button,
            self.answer_turn,
            self.save_notice,
        ]
        generate = {
            "concurrency_id": "generate_direct",
            "concurrency_limit": concurrency,
            "validator": guards.admission(self.send, len(inputs)),
            # Raw values: the service checks each setting and says what the server allows in a sentence (Gradio's
            # own slider check would answer an API client with a bare HTTP 400).
            "preprocess": False,
        }
        self.send_button.click(self.send, inputs, outputs, api_name="chat", **generate)
        self.textbox.submit(self.send, inputs, outputs, api_name=False, **generate)
        self.clear_button.click(
            lambda: ([], "", None, "", gr.update(interactive=True), *_editor(None), ""),
            None,
            outputs,
            api_name="chat_clear",
        )
        # Raw values, like /chat: the service checks the edit (an API client may send anything) and the turn.
        self.save_button.click(
            self.save,
            [self.battle_id, self.edit, self.answer_turn],
            [self.save_notice],
            api_name="chat_save",
            preprocess=False,
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
        if self.guards.nobody_listens(request):
            return
        caller = self.identity.caller(request)
        # As sent: the service checks them (an API client is not bound by the sliders).
        overrides = {
            "system_prompt": system_prompt,
            "temperature": temperature,
            "top_p": top_p,
            "max_new_tokens": max_tokens,
        }
        unchanged = (gr.update(), gr.update(), gr.update(), gr.update())
        try:
            updates = self.service.send(caller, battle_id, message, mode="direct", models=[model], overrides=overrides)
        except (ArenaError, InputError) as exc:
            battle = self._battle(caller, battle_id)
            yield chat_messages(battle, 0), _notice(str(exc)), battle_id, gr.update(), gr.update(), *unchanged
            return
        battle: BattleView | None = None
        # Nothing can be saved while the answer streams: the box and the button wait for the stored answer.
        streaming = (gr.update(interactive=False), gr.update(interactive=False), None, "")
        try:
            for update in updates:
                if battle is None:
                    battle = self.service.battle(caller, update.battle_id)
                chat = chat_messages(battle, 0, update)
                notice = _notice(*update.notices) if update.done else ""
                editor = (*_editor(self._battle(caller, update.battle_id)), "") if update.done else streaming
                # A conversation stays with one model: switching models starts a new conversation.
                yield (
                    chat,
                    notice,
                    update.battle_id,
                    gr.update(value="", interactive=update.done),
                    gr.update(interactive=False),
                    *editor,
                )
        except ArenaError as exc:  # e.g. the database went away mid-answer: say so, keep what was stored
            current = battle.id if battle else battle_id
            shown = self._battle(caller, current)
            yield (
                chat_messages(shown, 0),
                _notice(str(exc)),
                current,
                gr.update(interactive=True),
                gr.update(),
                *_editor(shown),
                "",
            )

    def save(self, battle_id: Any, edited: Any, turn: Any, request: gr.Request) -> str:
        caller = self.identity.caller(request)
        try:
            outcome = self.saver.save(caller, battle_id, edited, turn=turn)
        except (ArenaError, InputError) as exc:
            return _notice(str(exc))
        return _notice(outcome.message, *outcome.notices)

    def _battle(self, caller: Caller, battle_id: str | None) -> BattleView | None:
        if not battle_id:
            return None
        try:
            return self.service.battle(caller, battle_id)
        except ArenaError:
            return None


EDIT_HINT = "Send a message first: the model's answer appears here for you to improve."


def _editor(battle: BattleView | None) -> tuple[Any, Any, int | None]:
    """The edit box, the save button and the turn they are about: the stored last answer, or empty and off."""
    if battle is None or not battle.turns:
        return gr.update(value="", interactive=False), gr.update(interactive=False), None
    last = battle.turns[-1]
    return gr.update(value=last.answer_a or "", interactive=True), gr.update(interactive=True), last.index


def model_picker(names: list[str], value: str | None, label: str, elem_id: str) -> gr.Dropdown:
    """A model list that is refreshed from the registry on every page load (see `live_model_lists`). Any name is
    accepted from an API client: the service checks it against the registry and says so if it is unknown."""
    return gr.Dropdown(names, value=value, label=label, elem_id=elem_id, interactive=True, allow_custom_value=True)


def live_model_lists(demo: gr.Blocks, service: ArenaService, pickers: list[gr.Dropdown]) -> None:
    """Each visit reads the registry again, so a checkpoint registered while the app runs (the point of the
    training loop) is offered without a restart; /models gives API clients the same list."""

    def refresh(*current: str | None) -> tuple[Any, ...]:
        names = [spec.name for spec in service.contenders()]
        # A choice that left the registry (disabled) is cleared; any other stays as the person left it.
        return tuple(gr.update(choices=names, value=value if value in names else None) for value in current)

    demo.load(refresh, pickers, pickers, api_name=False)


def chatbot(label: str, elem_id: str, height: int) -> gr.Chatbot:
    """A chat pane that shows the sanitised HTML of ui/display.py as it is: no second markdown pass, and no
    LaTeX pass either (KaTeX would turn text into markup after the allow-list has been applied). Every component
    that shows that HTML (notices, reports) sets `latex_delimiters=[]` for the same reason."""
    return gr.Chatbot(
        label=label,
        elem_id=elem_id,
        height=height,
        buttons=["copy"],
        feedback_options=None,
        render_markdown=False,
        latex_delimiters=[],
    )


PERSONAL_COLUMNS = ("Model", "Your rating [95% CI]", "Your votes", "Everyone's rating [95% CI]")


def _rating_cell(rating: float | None, lower: float | None, upper: float | None, *, prior: bool = False) -> str:
    if rating is None:
        return "— (not on the leaderboard yet)"
    cell = f"{rating:.0f}"
    if lower is not None and upper is not None and math.isfinite(lower) and math.isfinite(upper):
        cell += f" [{lower:.0f}, {upper:.0f}]"
    return cell + (" (prior)" if prior else "")


def personal_table(board: PersonalBoard) -> pd.DataFrame:
    """The person's table: one row per model they voted on, best first (their rating)."""
    return pd.DataFrame(
        [
            {
                PERSONAL_COLUMNS[0]: row.model,
                PERSONAL_COLUMNS[1]: _rating_cell(row.rating, row.lower, row.upper, prior=row.prior),
                PERSONAL_COLUMNS[2]: row.votes,
                PERSONAL_COLUMNS[3]: _rating_cell(row.everyone_rating, row.everyone_lower, row.everyone_upper),
            }
            for row in board.rows
        ],
        columns=list(PERSONAL_COLUMNS),
    )


def personal_notice(board: PersonalBoard) -> str:
    """The message above the table, the fit's warnings as the core wrote them, and where everyone's come from."""
    lines = [f"⏳ {board.stale}" if board.stale else "", board.message]
    if board.rows and any(row.prior for row in board.rows):
        lines.append("(prior): no finite maximum-likelihood rating from your votes alone; see the note below.")
    lines += [f"Note: {warning}" for warning in board.warnings]
    lines.append(board.everyone)
    return display_html("\n\n".join(line for line in lines if line))


class PersonalPanel:
    """The Arena tab's "Your leaderboard": ratings from the person's own votes beside everyone's (arena.personal).

    The person is the request's session, derived on the server (Identity.caller), as for every battle: the endpoint
    takes no argument, so no client can ask for another session's votes. Shown when the accordion opens, on its
    Refresh button (/personal_leaderboard), and after each vote of the panels given to `follow`."""

    def __init__(self, personal: PersonalLeaderboard, identity: Identity) -> None:
        self.personal, self.identity = personal, identity
        with gr.Accordion("Your leaderboard", open=False, elem_id="personal") as self.accordion:
            self.notice = gr.Markdown(
                f"Vote in {personal.min_votes} battles to see ratings from your own votes beside everyone's.",
                elem_id="personal_notice",
                latex_delimiters=[],
            )
            self.table = gr.Dataframe(
                value=pd.DataFrame(columns=list(PERSONAL_COLUMNS)),
                elem_id="personal_table",
                interactive=False,
                wrap=True,
                visible=False,
            )
            self.refresh = gr.Button("Refresh your leaderboard", elem_id="personal_refresh")
        options: dict[str, Any] = {"concurrency_id": "personal", "concurrency_limit": 2}
        self.refresh.click(self.show, None, [self.notice, self.table], api_name="personal_leaderboard", **options)
        self.accordion.expand(self.show, None, [self.notice, self.table], api_name=False, **options)

    def show(self, request: gr.Request) -> tuple[Any, Any]:
        try:
            board = self.personal.board(self.identity.caller(request))
        except Exception:  # a database hiccup must not break the arena around it
            log.exception("the personal leaderboard failed")
            return _notice("Your leaderboard is not available right now; try again in a minute."), gr.update()
        return personal_notice(board), gr.update(value=personal_table(board), visible=bool(board.rows))

    def follow(self, panel: BattlePanel) -> None:
        """Refresh after each vote (and strength) of `panel`: cheap, and the person sees their vote counted."""
        for event in panel.vote_events:
            event.then(self.show, None, [self.notice, self.table], api_name=False, concurrency_id="personal")


EMPTY_AUDIT = "No judge audit yet: it is computed on the schedule once votes are recorded."
AUDIT_POLL_SECONDS = 1.0
AuditReader = Callable[[], dict[str, Any] | None]
JUDGES_LABEL = "LLM judges in the file's `judge` column"
JUDGES_PLACEHOLDER = "gpt-4, gpt-3.5 — or 'voters' if the column names the people who voted"
JUDGES_MAX_CHARS = 2000
# The audit's pictures (leaderboard.audit_figures.audit_figures, in this order): elem_id suffix and label.
AUDIT_PLOTS = (
    ("position", "Position bias"),
    ("length", "Length bias"),
    ("agreement_category", "Agreement with people by category"),
    ("agreement_entropy", "Agreement with people by entropy group"),
    ("self_preference", "Self-preference"),
)
NO_PLOTS: tuple[None, ...] = (None,) * len(AUDIT_PLOTS)


class JudgeAuditPanel:
    """The judges' biases against people: on the arena's own votes, or on a battles file someone uploads.

    The arena's audit is a stored snapshot the scheduler recomputes (app.snapshot_services): showing it reads the
    snapshot, never the votes, and its figures are drawn from the report JSON stored with it. An upload is audited
    by `UploadAudits` off the request path; this panel only queues it and reports progress. A client can hand the
    upload event any payload, a server path included. Gradio refuses paths outside its upload folder (once the app
    counts as launched: app.create_server), and `uploaded_file` checks again, so a server file never reaches the
    cache, from where anyone could download it.

    Used twice: as the Judge audit tab (`api=True`: /judge_audit, with the upload) and as the page /judge-audit
    (`page=demo`: shown on every visit and on Refresh; no upload and `api=False`, so no second API name).
    """

    def __init__(
        self,
        audit_arena: AuditReader,
        uploads: UploadAudits | None,
        identity: Identity,
        upload_root: Path,
        *,
        prefix: str = "audit_",
        api: bool = True,
        page: gr.Blocks | None = None,
    ) -> None:
        self.uploads, self.identity, self.upload_root = uploads, identity, upload_root
        intro = (
            "How the LLM judges lean (position, length, unique tokens, self-preference) and how often they agree "
            "with people on the same battle turns, on the arena's votes (recomputed on the schedule)"
        )
        if uploads is not None:
            intro += (
                ", or on votes you upload in the clean-battle schema (JSON, JSONL, CSV or Parquet; e.g. "
                "`python -m leaderboard.llmfao` output)"
            )
        gr.Markdown(intro + ".")
        with gr.Row():
            run = gr.Button(
                "Refresh" if page is not None else "Show the audit of the arena's votes", elem_id=f"{prefix}run"
            )
            if uploads is not None:
                with gr.Column():
                    judges = gr.Textbox(
                        label=JUDGES_LABEL,
                        placeholder=JUDGES_PLACEHOLDER,
                        info="Fill this in before uploading. Empty: the file's `source` column says who judged.",
                        max_lines=1,
                        max_length=JUDGES_MAX_CHARS,
                        elem_id=f"{prefix}judges",
                    )
                    upload = gr.File(
                        label="…or audit a battles file",
                        file_types=[".json", ".jsonl", ".csv", ".parquet"],
                        elem_id=f"{prefix}upload",
                    )
        report = gr.Markdown(elem_id=f"{prefix}report", latex_delimiters=[])
        plots = [gr.Plot(label=label, elem_id=f"{prefix}{key}") for key, label in AUDIT_PLOTS]
        outputs = [report, *plots]
        show = functools.partial(_show_arena_audit, audit_arena)
        run.click(show, None, outputs, api_name="judge_audit" if api else False)
        if page is not None:
            page.load(show, None, outputs, api_name=False)  # every visit shows the newest stored audit
        if uploads is not None:
            upload.upload(
                self.audit_upload,
                [upload, judges],
                outputs,
                api_name=False,
                preprocess=False,
                concurrency_id="audit_upload",
                concurrency_limit=16,
            )

    def audit_upload(self, payload: Any, judges: Any, request: gr.Request) -> Iterator[tuple[Any, ...]]:
        assert self.uploads is not None
        caller = self.identity.caller(request)
        try:
            path, name = uploaded_file(payload, self.upload_root)
            try:
                mapping = SourceMapping.from_text(judges_text(judges))
            except InputError:
                path.unlink(missing_ok=True)  # refused uploads are deleted, like audited ones
                raise
            ticket = self.uploads.submit(caller.client_id or caller.session_id, path, name, mapping)
        except (InputError, AuditRefused) as exc:
            yield _notice(str(exc)), *NO_PLOTS
            return
        waiting = NO_PLOTS  # the first progress note clears the figures of an earlier file
        try:
            while True:
                try:
                    result = ticket.future.result(timeout=AUDIT_POLL_SECONDS)
                except FutureTimeout:
                    ahead = self.uploads.ahead_of(ticket)
                    where = f"{ahead} file{'s' if ahead != 1 else ''} ahead of it" if ahead else "auditing it now"
                    yield _notice(f"⏳ {name}: {where}…"), *waiting
                    waiting = (gr.skip(),) * len(AUDIT_PLOTS)
                    continue
                yield display_html(result.markdown), *audit_plots(result.report)
                return
        except GeneratorExit:
            ticket.future.cancel()  # the person left: a file still waiting is dropped (and deleted)
            raise
        except (BattlesFileError, ValueError) as exc:
            yield _notice(str(exc)), *NO_PLOTS
        except CancelledError:
            yield _notice("The audit was cancelled."), *NO_PLOTS
        except Exception:
            log.exception("the audit of an uploaded file failed")
            yield (
                _notice(f"{name}: the audit failed on this file. Check that it follows the clean-battle schema."),
                *NO_PLOTS,
            )


def judges_text(value: Any) -> str:
    """The upload form's judges box as text fit to parse: what an API client sends is checked here (the event
    takes raw values), lone surrogates replaced so that the names can be shown."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InputError("The LLM judges must be given as text: names separated by commas, or 'voters'.")
    if len(value) > JUDGES_MAX_CHARS:
        raise InputError(f"The list of LLM judges is too long (at most {JUDGES_MAX_CHARS:,} characters).")
    return storable(value) or ""


def _show_arena_audit(read: AuditReader) -> tuple[Any, ...]:
    payload = read()
    return arena_audit(payload), *audit_plots((payload or {}).get("report"))


def audit_plots(report: Any) -> tuple[Any, ...]:
    """The audit's figures, drawn from its stored JSON; none for a snapshot stored before figures were (it has no
    "report"). A figure that cannot be drawn leaves the plots empty, never the page broken."""
    if not isinstance(report, dict):
        return NO_PLOTS
    try:
        return audit_figures(report)
    except Exception:
        log.exception("drawing the judge audit's figures failed")
        return NO_PLOTS


def arena_audit(payload: dict[str, Any] | None) -> str:
    """The stored audit of the arena's votes as HTML, with when and over how many votes it was computed."""
    if not payload:
        return display_html(EMPTY_AUDIT)
    header = f"*Computed over {int(payload.get('votes_total', 0)):,} votes; recomputed on the schedule.*\n\n"
    return display_html(header + str(payload.get("markdown", "")))


def uploaded_file(payload: Any, upload_root: Path) -> tuple[Path, str]:
    """The server path of a file that arrived through Gradio's upload endpoint, and the name its owner gave it.

    Anything else (a path a client typed, a URL, a file outside the upload folder) is refused without saying
    where anything is on the server.
    """
    path = payload.get("path") if isinstance(payload, dict) else None
    if not isinstance(path, str) or not path:
        raise InputError("Upload a battles file (JSON, JSONL, CSV or Parquet).")
    resolved = Path(path).resolve()
    if not resolved.is_relative_to(upload_root.resolve()) or not resolved.is_file():
        raise InputError("This file did not arrive through the upload button. Upload it again.")
    name = payload.get("orig_name")
    shown = Path(name).name if isinstance(name, str) and name.strip() else resolved.name
    return resolved, shown[:200]


def build_ui(
    service: ArenaService,
    identity: Identity,
    *,
    concurrency: int = 4,
    leaderboard: SnapshotReader | None = None,
    reward_models: EvaluationsReader | None = None,
    training_outcomes: OutcomesReader | None = None,
    judge_audit: AuditReader | None = None,
    upload_audits: UploadAudits | None = None,
    admin_tab: Callable[[], None] | None = None,
    guards: Guards | None = None,
    queue_size: int | None = None,
    upload_root: Path | None = None,
    personal: PersonalLeaderboard | None = None,
) -> gr.Blocks:
    """The whole app: Arena, Side-by-side, Direct chat, Red team, Leaderboard, Judge audit, About; the leaderboard
    also at /leaderboard and the judge audit at /judge-audit."""
    read_leaderboard: SnapshotReader = leaderboard or (lambda: None)
    guards = guards or Guards()
    # Uploads older than an hour are deleted every ten minutes, and the whole cache when the server stops or starts.
    with gr.Blocks(title="Huggy Arena", delete_cache=(600, 3600)) as demo:
        gr.Markdown("# 🤗 Huggy Arena\nChat with two anonymous models, vote for the better answer, see who they were.")
        with gr.Tabs():
            with gr.Tab("Arena", id="arena"):
                gr.Markdown(
                    "Ask anything. Both anonymous models answer; vote after any turn. "
                    "Names are revealed after your vote."
                )
                arena = BattlePanel(service, identity, "anonymous", "", concurrency, guards)
                if personal is not None:
                    PersonalPanel(personal, identity).follow(arena)
            with gr.Tab("Side-by-side", id="side_by_side"):
                gr.Markdown(
                    "Pick two models by name. These votes are stored as non-anonymous and do not count in the ratings."
                )
                side_by_side = BattlePanel(service, identity, "side_by_side", "sxs_", concurrency, guards)
            with gr.Tab("Direct chat", id="direct"):
                direct = DirectChat(service, identity, concurrency, guards)
            with gr.Tab("Red team", id="red_team"):
                gr.Markdown(RED_TEAM_INTRO, elem_id="rt_guidelines", latex_delimiters=[])
                BattlePanel(service, identity, "anonymous", "rt_", concurrency, guards, criterion=HARMLESSNESS)
            with gr.Tab("Leaderboard", id="leaderboard"):
                build_leaderboard(
                    demo,
                    read_leaderboard,
                    prefix="lb_",
                    api=True,
                    read_reward_models=reward_models,
                    read_training_outcomes=training_outcomes,
                )
            with gr.Tab("Judge audit", id="judge_audit"):
                JudgeAuditPanel(
                    judge_audit or (lambda: None),
                    upload_audits,
                    identity,
                    upload_root or Path(get_upload_folder()),
                )
            if admin_tab is not None:
                with gr.Tab("Admin", id="admin"):
                    admin_tab()
            with gr.Tab("About", id="about"):
                gr.Markdown(ABOUT)
        live_model_lists(demo, service, [*side_by_side.pickers, direct.model])
    # The same page on its own URL, for people who only come for the ratings.
    with demo.route("Leaderboard", "/leaderboard"):
        gr.Markdown("# 🤗 Huggy Arena leaderboard\nBradley-Terry ratings from anonymous, unflagged votes.")
        build_leaderboard(
            demo,
            read_leaderboard,
            prefix="lbp_",
            api=False,
            read_reward_models=reward_models,
            read_training_outcomes=training_outcomes,
        )
    # The stored judge audit on its own URL too (no upload there: that is the tab's).
    with demo.route("Judge audit", "/judge-audit"):
        gr.Markdown("# 🤗 Huggy Arena judge audit")
        JudgeAuditPanel(
            judge_audit or (lambda: None),
            None,
            identity,
            upload_root or Path(get_upload_folder()),
            prefix="auditp_",
            api=False,
            page=demo,
        )
    # A bounded queue: past `queue_size` waiting events a newcomer is told the arena is busy (HTTP 503 and
    # "This application is currently busy" in the page) instead of waiting behind an unbounded line.
    demo.queue(default_concurrency_limit=concurrency, max_size=queue_size)
    guards.gate.attach(demo, GENERATION_QUEUES)
    return demo


# The concurrency ids of the events that make a model write (arena, side-by-side, red team, direct chat).
GENERATION_QUEUES = ("generate", "sxs_generate", "rt_generate", "generate_direct")
