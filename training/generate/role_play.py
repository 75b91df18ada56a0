"""Role-play dialogues: a registry model plays a user (a persona, a topic), another answers as the assistant.

    python -m training.generate role-play --user-model smollm2-135m-creative --assistant-model smollm2-135m-greedy \\
        --target 20 --turns 3 --out data/role_play.jsonl

The user-simulator gets a system prompt naming its persona, its topic and the stop token, and sees the dialogue with
the roles swapped (its own messages as the assistant's, the assistant's as the user's, after an opening greeting), so
any chat model can play it. The assistant model sees the dialogue as it is, after its own registry system prompt
(or `--assistant-system`). A dialogue stops when the user-simulator writes the stop token ("stop_token"), after
`--turns` user+assistant turns ("turn_cap"), on an empty message or one repeating either of the two messages before
it ("empty_message", "repeated_message": a degenerate loop), or on a backend error ("error"); the provenance says
which and who. A message that ends a dialogue is not kept (an empty assistant answer is, so that the dialogue is
rejected), and a user message left without its answer is dropped: a kept dialogue always ends with an answer.

Filters (training.generate.filters): the opening user message is screened against the kept dialogues' openings,
with the first answer as its output; a dialogue also needs one complete turn and no empty assistant message. Kept
dialogues go to --out as chat JSONL, `{"messages": [...], "provenance": {...}}`, which `python -m training.sft
--chat` reads; every other attempt goes to the same name with the suffix .rejected.jsonl, with its verdicts. One
attempt is one line in one of the two files: a rerun with the same --out continues to --target kept dialogues (a
half-written last line is dropped), and the persona and topic of attempt i are drawn from (--seed, i) alone, so a
resumed run draws what an uninterrupted one would. Exit codes: 0 the target is reached, 1 it is not (every request
failed, or --max-attempts ran out; a rerun continues), 2 bad arguments or input.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import re
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from models.answers import Answer, answer_all

if TYPE_CHECKING:
    from models.registry import ModelSpec
    from models.types import ChatBackend, ChatMessage
    from training.generate.filters import FilterConfig, FilterVerdict, KeptTexts

DATA_DIR = Path(__file__).resolve().parent / "data"
PERSONAS_FILE = DATA_DIR / "role-play" / "personas.yaml"
TOPICS_FILE = DATA_DIR / "role-play" / "topics.yaml"
SEED_TASKS_FILE = DATA_DIR / "self-instruct" / "seed_tasks.jsonl"
SEEDS, SHIPPED = "seeds", "shipped"  # --topics sources besides a file

STOP_TOKEN = "[END]"
# The first message the user-simulator sees, as its "user": without it its conversation would open with its own
# turn, which some chat templates refuse. It is not part of the dialogue.
GREETING = "Hello! What can I help you with today?"
USER_PROMPT = """\
You are role-playing a person who is chatting with an AI assistant. Stay in character the whole time.
Who you are: {persona}
What you want help with: {topic}
Write only your own next message, in your own words, as this person would type it: no role labels, no quotation \
marks, no stage directions. In your first message, ask for what you want. After each reply, ask a follow-up question, \
ask for a change, or push back, as this person would. When you have what you need, write only {stop} and nothing \
else."""

# Hostile-input limits on the persona and topic files, and sane ranges for the numbers.
MAX_FILE_BYTES = 2_000_000
MAX_ENTRIES = 10_000
MAX_TEXT_CHARS = 1_000
MAX_SEED_TOPIC_CHARS = 2_000
# A seed task's input joins its topic only when short: the simulator writes its messages in its own words, and a
# pasted 6,000-character article (seed_task_62) would crowd a small model's prompt.
MAX_SEED_INPUT_CHARS = 1_000
ENTRY_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
RANGES = {
    "turns": (1, 20),
    "target": (1, 100_000),
    "batch_size": (1, 64),
    "max_new_tokens": (1, 4096),
    "max_attempts": (1, 1_000_000),
}

# Why a dialogue stopped.
STOP_TOKEN_WRITTEN, TURN_CAP, EMPTY, REPEATED, ERROR = (
    "stop_token",
    "turn_cap",
    "empty_message",
    "repeated_message",
    "error",
)
USER, ASSISTANT = "user", "assistant"


class InputError(ValueError):
    """Bad arguments or input files: exit 2 with this message."""


# ------------------------------------------------------------------------------------------------------
# Personas and topics
# ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Persona:
    id: str
    text: str


@dataclass(frozen=True)
class Topic:
    id: str
    text: str
    source: str  # "seeds", or the file it came from
    seed_task_id: str | None = None


def _entries(path: Path, key: str) -> list[tuple[str, str]]:
    """The (id, text) entries of a personas or topics file (see data/role-play/README.md for the format)."""
    import yaml

    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise InputError(f"{path}: larger than {MAX_FILE_BYTES:,} bytes")
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read {path}: {exc}") from exc
    except yaml.YAMLError as exc:
        raise InputError(f"{path}: not valid YAML or JSON ({str(exc).splitlines()[0]})") from exc
    items = raw.get(key) if isinstance(raw, dict) else None
    if not isinstance(items, list) or not items:
        raise InputError(f"{path}: expected a mapping with a non-empty '{key}' list of {{id, text}} entries")
    if len(items) > MAX_ENTRIES:
        raise InputError(f"{path}: {len(items):,} {key}, at most {MAX_ENTRIES:,}")
    entries, seen = [], set()
    for number, item in enumerate(items, start=1):
        where = f"{path}: {key} entry {number}"
        if not isinstance(item, dict) or set(item) != {"id", "text"}:
            raise InputError(f"{where}: expected exactly the keys id and text")
        entry_id, text = item["id"], item["text"]
        if not isinstance(entry_id, str) or not ENTRY_ID.match(entry_id):
            raise InputError(f"{where}: id must be 1-64 letters, digits, '.', '_' or '-', starting with a letter/digit")
        if entry_id in seen:
            raise InputError(f"{where}: id {entry_id!r} is used twice")
        seen.add(entry_id)
        entries.append((entry_id, _entry_text(text, where)))
    return entries


def normalise(text: str) -> str:
    """The filters' normal form (NFKC, no invisible characters, casefolded, whitespace collapsed); imported when
    called, since the filters' ROUGE package takes seconds to import and the CLI builds every parser."""
    from training.generate.filters import normalise as filters_normalise

    return filters_normalise(text)


def _entry_text(text: Any, where: str, limit: int = MAX_TEXT_CHARS, *, one_line: bool = True) -> str:
    if not isinstance(text, str) or not normalise(text):
        raise InputError(f"{where}: text must be a non-empty string")
    # Persona and topic entries are one line of prose; a seed task's input keeps its lines (a poem, code, a list).
    text = " ".join(_clean(text).split()) if one_line else _clean(text).strip()
    if len(text) > limit:
        raise InputError(f"{where}: text is {len(text):,} characters, at most {limit:,}")
    if STOP_TOKEN.casefold() in text.casefold():
        raise InputError(f"{where}: text contains the stop token {STOP_TOKEN}")
    return text


def load_personas(path: Path = PERSONAS_FILE) -> list[Persona]:
    return [Persona(entry_id, text) for entry_id, text in _entries(Path(path), "personas")]


def load_topics(source: str = SEEDS) -> list[Topic]:
    """Topics from the Self-Instruct seed tasks ("seeds": each one's instruction, with its input when it has a
    short one), the shipped list ("shipped"), or a topics file."""
    if source == SEEDS:
        return _seed_topics(SEED_TASKS_FILE)
    path = TOPICS_FILE if source == SHIPPED else Path(source)
    return [Topic(entry_id, text, str(path)) for entry_id, text in _entries(path, "topics")]


def _seed_topics(path: Path) -> list[Topic]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise InputError(f"cannot read the seed tasks at {path}: {exc}") from exc
    topics = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            task = json.loads(line)
            task_id, instruction = task["id"], task["instruction"]
            extra = (task.get("instances") or [{}])[0].get("input") or ""
        except (json.JSONDecodeError, KeyError, TypeError, AttributeError, IndexError) as exc:
            raise InputError(f"{where}: not a seed task ({exc})") from exc
        short = isinstance(extra, str) and extra.strip() and len(extra) <= MAX_SEED_INPUT_CHARS
        text = f"{instruction}\nInput: {extra}" if short else instruction
        topics.append(
            Topic(str(task_id), _entry_text(text, where, MAX_SEED_TOPIC_CHARS, one_line=False), SEEDS, str(task_id))
        )
    if not topics:
        raise InputError(f"{path}: no seed tasks")
    return topics


def choose(personas: Sequence[Persona], topics: Sequence[Topic], seed: int, attempt: int) -> tuple[Persona, Topic]:
    """Attempt i's persona and topic, from (seed, i) alone: a resumed run draws what an uninterrupted one would."""
    rng = random.Random(f"role-play:{seed}:{attempt}")
    return rng.choice(personas), rng.choice(topics)


def user_system_prompt(persona: Persona, topic: Topic) -> str:
    return USER_PROMPT.format(persona=persona.text, topic=topic.text, stop=STOP_TOKEN)


# ------------------------------------------------------------------------------------------------------
# Dialogues
# ------------------------------------------------------------------------------------------------------


@dataclass
class Dialogue:
    attempt: int
    persona: Persona
    topic: Topic
    messages: list[dict[str, str]] = field(default_factory=list)
    stop_reason: str | None = None
    stopped_by: str | None = None  # "user" (the simulator) or "assistant"
    stop_detail: str = ""
    answers_cut: int = 0  # assistant answers that hit --max-new-tokens

    @property
    def turns(self) -> int:
        return sum(m["role"] == ASSISTANT for m in self.messages)

    def stop(self, reason: str, by: str | None, detail: str = "") -> None:
        self.stop_reason, self.stopped_by, self.stop_detail = reason, by, detail


@dataclass(frozen=True)
class Player:
    """A registry model in one of the two roles, with the backend that answers for it."""

    spec: ModelSpec
    backend: ChatBackend
    system_prompt: str | None = None  # replaces the spec's own (--assistant-system); the simulator's is its persona


def user_view(dialogue: Dialogue) -> list[ChatMessage]:
    """What the user-simulator sees: its persona prompt, the greeting, then the dialogue with the roles swapped."""
    from models.types import ChatMessage

    swapped = {USER: ASSISTANT, ASSISTANT: USER}
    view = [
        ChatMessage("system", user_system_prompt(dialogue.persona, dialogue.topic)),
        ChatMessage("user", GREETING),
    ]
    return view + [ChatMessage(swapped[m["role"]], m["content"]) for m in dialogue.messages]  # type: ignore[arg-type]


def assistant_view(dialogue: Dialogue, system_prompt: str | None) -> list[ChatMessage]:
    """What the assistant sees: the dialogue as it is, after --assistant-system when given (else the registry's
    system prompt is added by the spec)."""
    from models.types import ChatMessage

    view = [ChatMessage("system", system_prompt)] if system_prompt else []
    return view + [ChatMessage(m["role"], m["content"]) for m in dialogue.messages]  # type: ignore[arg-type]


def _clean(text: str) -> str:
    # A lone surrogate (possible in decoded JSON) cannot be written as UTF-8 nor tokenized: replace it.
    return text.encode("utf-8", "replace").decode("utf-8")


def _seed_for(seed: int, attempt: int, turn: int, role: str) -> int:
    digest = hashlib.sha256(f"{seed}:{attempt}:{turn}:{role}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


def _repeats(text: str, messages: Sequence[dict[str, str]]) -> bool:
    """A degenerate loop: the message repeats one of the two messages before it (its own side's last one, or the
    one it answers)."""
    return any(normalise(text) == normalise(m["content"]) for m in messages[-2:])


def _user_step(dialogue: Dialogue, answer: Answer) -> None:
    if answer.error is not None:
        dialogue.stop(ERROR, USER, answer.error)
        return
    text = _clean(answer.text).strip()
    if STOP_TOKEN.casefold() in text.casefold():
        dialogue.stop(STOP_TOKEN_WRITTEN, USER, f"the user-simulator wrote {STOP_TOKEN}")
    elif not normalise(text):
        dialogue.stop(EMPTY, USER, "the user-simulator wrote an empty message")
    elif _repeats(text, dialogue.messages):
        dialogue.stop(REPEATED, USER, "the user-simulator repeated a message")
    else:
        dialogue.messages.append({"role": USER, "content": text})


def _assistant_step(dialogue: Dialogue, answer: Answer, max_turns: int) -> None:
    if answer.error is not None:
        dialogue.messages.pop()  # a user message without its answer is not a training example
        dialogue.stop(ERROR, ASSISTANT, answer.error)
        return
    text = _clean(answer.text).strip()
    if not normalise(text):
        # Kept, so that the filters reject the dialogue for it (and say so).
        dialogue.messages.append({"role": ASSISTANT, "content": text})
        dialogue.stop(EMPTY, ASSISTANT, "the assistant wrote an empty message")
        return
    if _repeats(text, dialogue.messages):
        dialogue.messages.pop()
        dialogue.stop(REPEATED, ASSISTANT, "the assistant repeated a message")
        return
    dialogue.messages.append({"role": ASSISTANT, "content": text})
    dialogue.answers_cut += answer.finish_reason == "length"
    if dialogue.turns >= max_turns:
        dialogue.stop(TURN_CAP, None, f"{max_turns} turns")


def play(
    dialogues: Sequence[Dialogue], user: Player, assistant: Player, *, turns: int, max_new_tokens: int, seed: int
) -> None:
    """Play the dialogues to their ends, in lockstep: every open dialogue's user message, then every answer, so
    that a local engine answers the batch in one forward pass per token and a remote one concurrently."""
    for turn in range(1, turns + 1):
        for side, player, step in (
            (USER, user, _user_step),
            (ASSISTANT, assistant, lambda d, a: _assistant_step(d, a, turns)),
        ):
            open_dialogues = [d for d in dialogues if d.stop_reason is None]
            if not open_dialogues:
                return
            requests = [
                player.spec.build_request(
                    user_view(d) if side == USER else assistant_view(d, player.system_prompt),
                    max_new_tokens=max_new_tokens,
                    seed=_seed_for(seed, d.attempt, turn, side),
                )
                for d in open_dialogues
            ]
            for dialogue, answer in zip(
                open_dialogues, answer_all(player.backend, requests, concurrency=len(requests)), strict=True
            ):
                step(dialogue, answer)


def screen_dialogue(dialogue: Dialogue, kept: KeptTexts, config: FilterConfig | None = None) -> list[FilterVerdict]:
    """The verdicts on a played dialogue: one complete turn, the filters on its opening message (against the kept
    openings, with the first answer as the output), and no empty assistant message."""
    from training.generate.filters import FilterConfig, FilterVerdict, screen

    if not dialogue.turns:
        why = dialogue.stop_detail or dialogue.stop_reason or "not played"
        return [FilterVerdict("complete_turn", False, f"no complete user/assistant turn ({why})")]
    empty = [i for i, m in enumerate(dialogue.messages) if m["role"] == ASSISTANT and not normalise(m["content"])]
    return [
        FilterVerdict("complete_turn", True, f"{dialogue.turns} turns"),
        *screen(dialogue.messages[0]["content"], dialogue.messages[1]["content"], kept, config or FilterConfig()),
        FilterVerdict(
            "assistant_messages",
            not empty,
            f"message {', '.join(map(str, empty))} is empty" if empty else "",
        ),
    ]


def record(
    dialogue: Dialogue,
    verdicts: Sequence[FilterVerdict],
    *,
    user: Player,
    assistant: Player,
    max_turns: int,
    seed: int,
) -> dict[str, Any]:
    """One output line: the messages and where they came from."""
    provenance: dict[str, Any] = {
        "generator": "training.generate role-play",
        "user_model": user.spec.name,
        "assistant_model": assistant.spec.name,
        "assistant_system_prompt": assistant.system_prompt or assistant.spec.system_prompt,
        "persona": asdict(dialogue.persona),
        "topic": {"id": dialogue.topic.id, "text": dialogue.topic.text, "source": dialogue.topic.source},
        "seed_task_id": dialogue.topic.seed_task_id,
        "user_system_prompt": user_system_prompt(dialogue.persona, dialogue.topic),
        "turns": dialogue.turns,
        "max_turns": max_turns,
        "stop_reason": dialogue.stop_reason,
        "stopped_by": dialogue.stopped_by,
        "stop_detail": _clean(dialogue.stop_detail),
        "answers_cut_by_max_new_tokens": dialogue.answers_cut,
        "filters": [asdict(verdict) for verdict in verdicts],
        "seed": seed,
        "attempt": dialogue.attempt,
        "created_at": datetime.now(UTC).isoformat(),
    }
    return {"messages": list(dialogue.messages), "provenance": provenance}


# ------------------------------------------------------------------------------------------------------
# Output files
# ------------------------------------------------------------------------------------------------------


def rejected_path(out: Path) -> Path:
    """data/role_play.jsonl -> data/role_play.rejected.jsonl"""
    return out.with_suffix(".rejected.jsonl") if out.suffix == ".jsonl" else out.with_name(out.name + ".rejected.jsonl")


RECORD_START = b'{"messages": ['  # how every line this generator writes begins


def read_lines(path: Path) -> list[dict[str, Any]]:
    """The complete lines of an output file, after dropping a half-written last one (a run stopped mid-write);
    InputError for a file that is not this generator's, which is then left as it is."""
    if not path.exists():
        return []
    if not path.is_file():
        raise InputError(f"{path} is not a file")
    data = path.read_bytes()
    complete = data.rfind(b"\n") + 1
    lines = data[:complete].splitlines()
    rows = [_dialogue_line(line, path, number) for number, line in enumerate(lines, start=1)]
    tail = data[complete:]
    if tail:
        # Only a cut-off line of ours is dropped: the start of a record, and not a whole JSON value.
        if not (tail.startswith(RECORD_START) or RECORD_START.startswith(tail)) or _is_json(tail):
            _dialogue_line(tail, path, len(lines) + 1)  # refuses a foreign line; else it is whole but unended
            raise InputError(f"{path}:{len(lines) + 1}: the last line has no line end; add one or remove the line")
        with path.open("r+b") as file:
            file.truncate(complete)
    return rows


def _is_json(data: bytes) -> bool:
    try:
        json.loads(data)
    except ValueError:
        return False
    return True


def _dialogue_line(line: bytes, path: Path, number: int) -> dict[str, Any]:
    try:
        row = json.loads(line)
        opening = row["messages"][0]["content"] if row["messages"] else ""
        if not isinstance(opening, str) or not isinstance(row["provenance"], dict):
            raise TypeError("messages[0].content must be text and provenance an object")
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        raise InputError(
            f"{path}:{number}: not a role-play dialogue line ({exc}); give another --out to start afresh"
        ) from exc
    return row


def append_lines(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    """Each row as one line written in one call, then flushed to disk: a stop mid-batch leaves whole lines, or a
    half line that the next run drops."""
    if not rows:
        return
    from facts.json_safe import dumps

    with path.open("a", encoding="utf-8") as file:
        for row in rows:
            file.write(dumps(row, ensure_ascii=False) + "\n")
            file.flush()
        os.fsync(file.fileno())


# ------------------------------------------------------------------------------------------------------
# Command line
# ------------------------------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--user-model", required=True, help="registry model playing the user (the simulator)")
    parser.add_argument("--assistant-model", required=True, help="registry model playing the assistant")
    parser.add_argument(
        "--out", required=True, type=Path, help="chat JSONL of kept dialogues (rejected: *.rejected.jsonl)"
    )
    parser.add_argument("--target", type=int, required=True, help="kept dialogues wanted in --out (a rerun continues)")
    parser.add_argument("--turns", type=int, default=3, help="at most this many user+assistant turns (default 3)")
    parser.add_argument(
        "--personas", type=Path, default=PERSONAS_FILE, help="personas YAML/JSON (default: the shipped list)"
    )
    parser.add_argument(
        "--topics",
        default=SEEDS,
        help='"seeds": the 175 Self-Instruct seed tasks (default); "shipped": the shipped list; or a YAML/JSON file',
    )
    parser.add_argument("--assistant-system", help="system prompt for the assistant (default: its registry one)")
    parser.add_argument("--seed", type=int, default=0, help="persona/topic choice and sampling seeds (default 0)")
    parser.add_argument("--batch-size", type=int, default=4, help="dialogues played at once (default 4)")
    parser.add_argument("--max-new-tokens", type=int, default=256, help="cap on each message (default 256)")
    parser.add_argument(
        "--max-attempts", type=int, help="give up after this many dialogues in this run (default 4 x those missing)"
    )
    parser.add_argument("--db", help="database URL for models registered there (default: the app's)")


def _check_ranges(args: argparse.Namespace) -> None:
    for name, (low, high) in RANGES.items():
        value = getattr(args, name)
        if value is not None and not low <= value <= high:
            raise InputError(f"--{name.replace('_', '-')} must be between {low} and {high:,}, got {value}")
    if args.assistant_system is not None and not normalise(args.assistant_system):
        raise InputError("--assistant-system is empty")
    if args.out.exists() and not args.out.is_file():
        raise InputError(f"--out {args.out} is not a file")


def _specs(names: Sequence[str], settings: Any, db: str | None) -> list[ModelSpec]:
    """The models by name: the registry file, then the database's registry (checkpoints training runs added),
    opened only when a name is not in the file, and never created."""
    from models.registry import RegistryError, load_model_specs
    from store import Store, StoreError

    try:
        known = {spec.name: spec for spec in load_model_specs(settings.models_file)}
    except RegistryError as exc:
        raise InputError(str(exc).splitlines()[0]) from exc
    missing = [name for name in names if name not in known]
    if missing:
        url = db or settings.resolved_database_url
        try:
            store = Store.open_existing(url)
        except StoreError as exc:
            raise InputError(
                f"no model named {', '.join(map(repr, missing))} in {settings.models_file} ({', '.join(known)}), "
                f"and the database could not be read: {exc}"
            ) from exc
        try:
            known.update({spec.name: spec for spec in store.registry.models(enabled_only=False)})
        finally:
            store.dispose()
        missing = [name for name in names if name not in known]
        if missing:
            raise InputError(
                f"no model named {', '.join(map(repr, missing))}; the registry's models are: {', '.join(known)}"
            )
    return [known[name] for name in names]


def run(args: argparse.Namespace) -> int:
    from settings import Settings

    try:
        _check_ranges(args)
        personas, topics = load_personas(args.personas), load_topics(args.topics)
        kept_rows, rejected_rows = read_lines(args.out), read_lines(rejected_path(args.out))
        settings = Settings()
        user_spec, assistant_spec = _specs([args.user_model, args.assistant_model], settings, args.db)
        try:
            args.out.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError(f"cannot create the folder of --out: {exc}") from exc
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    from models.pool import BackendPool
    from models.types import BackendError

    pool = BackendPool(settings.resolved_model_cache_dir, device=settings.device)
    try:
        user = Player(user_spec, pool.get(user_spec))
        assistant = Player(assistant_spec, pool.get(assistant_spec), args.assistant_system)
    except (BackendError, OSError) as exc:
        print(f"error: cannot load a model: {exc}", file=sys.stderr)
        return 1
    return generate(args, personas, topics, user, assistant, kept_rows, len(kept_rows) + len(rejected_rows), echo=print)


def generate(
    args: argparse.Namespace,
    personas: Sequence[Persona],
    topics: Sequence[Topic],
    user: Player,
    assistant: Player,
    kept_rows: Sequence[dict[str, Any]],
    attempts_before: int,
    *,
    echo: Callable[[str], None],
) -> int:
    """Play batches of dialogues until --out holds --target kept ones; 0 when it does, else 1."""
    from tqdm import tqdm

    from training.generate.filters import KeptTexts, passed

    kept = KeptTexts(row["messages"][0]["content"] for row in kept_rows if row["messages"])
    kept_count = len(kept_rows)
    max_attempts = args.max_attempts or 4 * max(args.target - kept_count, 0)
    attempt, rejected, rejections, failure = attempts_before, 0, Counter[str](), ""
    bar = tqdm(total=args.target, initial=min(len(kept_rows), args.target), unit="dialogue", desc="role-play",
               file=sys.stderr)  # fmt: skip
    try:
        while kept_count < args.target and attempt - attempts_before < max_attempts:
            size = min(args.batch_size, args.target - kept_count, max_attempts - (attempt - attempts_before))
            batch = [Dialogue(i, *choose(personas, topics, args.seed, i)) for i in range(attempt, attempt + size)]
            attempt += size
            play(batch, user, assistant, turns=args.turns, max_new_tokens=args.max_new_tokens, seed=args.seed)
            good, bad = [], []
            for dialogue in batch:  # in order: a later dialogue is screened against the earlier ones kept
                verdicts = screen_dialogue(dialogue, kept)
                row = record(dialogue, verdicts, user=user, assistant=assistant, max_turns=args.turns, seed=args.seed)
                if passed(verdicts):
                    kept.add(dialogue.messages[0]["content"])
                    kept_count += 1
                    good.append(row)
                else:
                    bad.append(row)
                    rejected += 1
                    rejections.update(v.name for v in verdicts if not v.passed)
            append_lines(args.out, good)
            append_lines(rejected_path(args.out), bad)
            bar.update(len(good))
            bar.set_postfix(rejected=rejected)
            if all(d.stop_reason == ERROR and not d.turns for d in batch):
                failure = f"every request failed (e.g. {batch[0].stop_detail})"
                break
    finally:
        bar.close()
    made = kept_count - len(kept_rows)
    why = ", ".join(f"{name} {count}" for name, count in rejections.most_common()) or "none"
    echo(
        f"kept {kept_count} of {args.target} dialogues in {args.out} ({made} new); "
        f"{rejected} rejected this run, to {rejected_path(args.out)} (failed filters: {why})"
    )
    if kept_count >= args.target:
        return 0
    if not failure:
        failure = f"stopped after {attempt - attempts_before} dialogues (--max-attempts {max_attempts})"
    print(f"error: {failure}; {kept_count} of {args.target} kept, a rerun continues", file=sys.stderr)
    return 1
