"""Self-Instruct bootstrapping (Wang et al. 2022): a registry model proposes new instructions from sampled seed and
generated tasks, says whether each is a classification task, writes an instance, and the filters keep or reject it.

    python -m training.generate self-instruct --generator smollm2-135m-greedy --target 50 --out data/si.jsonl
    python -m training.sft --recipe cpu-smoke --records data/si.jsonl --out runs/sft

One round asks `--batch-size` proposals at once. A proposal prompt shows 8 numbered instructions (6 seed tasks, 2 kept
generated ones; all 8 from the seeds until 2 are kept) and asks for more; each new line is a candidate. A candidate
whose instruction already fails a filter (length, banned words, duplicate, ROUGE-L against every kept instruction,
form) is rejected before anything more is asked. The others are classified (classification: the output is one of
a fixed set of labels; greedy, few-shot from the seeds' `is_classification`) and get one instance: output first
for classification (a label, then an input of it), input first otherwise (Self-Instruct's order, so labels are not
all one class), few-shot from the seeds' instances. Then every filter is applied again and the record is kept or
rejected.

Kept records go to --out, one JSON line each: {"instruction", "input", "output", "provenance": {"generator",
"generator_fingerprint", "prompt", "seed_tasks", "machine_tasks", "is_classification", "classification_answer",
"few_shot", "filters", "created_at"}} (what `python -m training.sft --records` reads; it ignores provenance).
Rejected ones go to <out stem>.rejected.jsonl with the same fields and the verdicts that failed them. Each line is
written whole and flushed; a rerun into the same --out reads both files, drops a line a crash cut short, re-seeds
the ROUGE-L pool with the kept instructions and continues to --target. Exit codes: 0 target reached, 1 the
generator failed on every request or the target was not reached within --max-proposals, 2 bad arguments or input.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import re
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from models.answers import Answer, answer_all

if TYPE_CHECKING:  # the filters import rouge_score and nltk (seconds): imported when a run starts, not by the CLI
    from models.registry import ModelSpec
    from models.types import ChatBackend, ChatMessage, GenerationRequest
    from training.generate.filters import FilterConfig, FilterVerdict

SEED_TASKS_FILE = Path(__file__).resolve().parent / "data" / "self-instruct" / "seed_tasks.jsonl"
PROPOSAL_EXAMPLES = 8  # Self-Instruct's prompt: 8 instructions, of which up to 2 machine-generated
PROPOSAL_MACHINE_EXAMPLES = 2
NEW_PER_PROPOSAL = 12  # Self-Instruct asked to continue the list to 20
CLASSIFICATION_EXAMPLES_EACH = 2  # per answer (Yes and No) in the classification few-shot
INSTANCE_EXAMPLES = 3
CLASSIFICATION_MAX_TOKENS = 8  # "Yes" or "No", with room for a chat model's politeness
MAX_SEED_FILE_BYTES = 20_000_000
MAX_SEED_TASKS = 100_000
MAX_TARGET = 1_000_000
DETAIL_CHARS = 200
INSTRUCTION_FILTERS = ("length", "banned_words", "duplicate", "rouge_l", "form")  # decidable before any output


class SelfInstructError(ValueError):
    """Bad arguments or input: the message is printed as `error: ...` and the command exits 2."""


class GeneratorFailed(RuntimeError):
    """The generator failed on every request: the command exits 1."""


# ------------------------------------------------------------------------------------------------------
# Seed tasks
# ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SeedTask:
    id: str
    instruction: str
    input: str
    output: str
    is_classification: bool


def load_seed_tasks(path: Path) -> list[SeedTask]:
    """The seed tasks of a Self-Instruct `seed_tasks.jsonl` (id, instruction, instances[0], is_classification)."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise SelfInstructError(f"cannot read the seed tasks {path}: {exc.strerror or exc}") from exc
    if size > MAX_SEED_FILE_BYTES:
        raise SelfInstructError(f"{path}: {size} bytes; a seed file may hold at most {MAX_SEED_FILE_BYTES}")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise SelfInstructError(f"cannot read the seed tasks {path}: {exc}") from exc
    tasks: list[SeedTask] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        if len(tasks) >= MAX_SEED_TASKS:
            raise SelfInstructError(f"{path}: more than {MAX_SEED_TASKS} seed tasks")
        tasks.append(_seed_task(line, f"{path}:{number}"))
    if not tasks:
        raise SelfInstructError(f"{path} holds no seed tasks")
    ids = [task.id for task in tasks]
    if len(set(ids)) != len(ids):
        twice = sorted({i for i in ids if ids.count(i) > 1})[:5]
        raise SelfInstructError(f"{path}: seed ids used twice: {', '.join(twice)}")
    return tasks


def _seed_task(line: str, where: str) -> SeedTask:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise SelfInstructError(f"{where}: not JSON ({exc.msg})") from exc
    if not isinstance(record, dict):
        raise SelfInstructError(f"{where}: expected a JSON object")
    instances = record.get("instances")
    first = instances[0] if isinstance(instances, list) and instances else None
    fields = {
        "id": record.get("id"),
        "instruction": record.get("instruction"),
        "input": first.get("input") if isinstance(first, dict) else None,
        "output": first.get("output") if isinstance(first, dict) else None,
    }
    wrong = [name for name, value in fields.items() if not isinstance(value, str)]
    if wrong or not isinstance(record.get("is_classification"), bool):
        wrong += [] if isinstance(record.get("is_classification"), bool) else ["is_classification"]
        raise SelfInstructError(
            f"{where}: a seed task needs id, instruction, instances [{{input, output}}] as strings and "
            f"is_classification as a boolean; wrong or missing: {', '.join(wrong)}"
        )
    if not fields["instruction"].strip() or not fields["output"].strip():
        raise SelfInstructError(f"{where}: empty instruction or output")
    return SeedTask(is_classification=record["is_classification"], **fields)


# ------------------------------------------------------------------------------------------------------
# Prompts and parsing
# ------------------------------------------------------------------------------------------------------


def proposal_prompt(instructions: Sequence[str]) -> str:
    """Self-Instruct's numbered list, left open at the next number."""
    listed = "\n".join(f"{number}. {' '.join(text.split())}" for number, text in enumerate(instructions, start=1))
    return (
        "Come up with a series of tasks. Here are some examples:\n\n"
        f"{listed}\n\n"
        f"Continue the list with new, different tasks, one per line, starting at {len(instructions) + 1}."
    )


_NUMBERED = re.compile(r"^\s*(\d+)\s*[.)]\s*(.*)$")
_BULLET = re.compile(r"^\s*(?:[-*•]\s+|#+\s*)")
_ENDS_SENTENCE = (".", "?", "!", ":", '"', ")")


def parse_proposals(text: str, shown: int, cut: bool) -> list[str]:
    """The new instructions in a proposal's answer: the numbered lines past the examples (or, when the model did not
    number them, every line), cleaned. A line the token limit cut (the last one when `cut`) is dropped unless it
    ends a sentence."""
    lines = [line for line in text.splitlines() if line.strip()]
    numbered = [(int(m.group(1)), m.group(2)) for m in map(_NUMBERED.match, lines) if m]
    if numbered:
        past = [body for number, body in numbered if number > shown]
        found = past or [body for _, body in numbered]
        last_is_found = bool(_NUMBERED.match(lines[-1]))
    else:
        found = [_BULLET.sub("", line) for line in lines]
        last_is_found = True
    cleaned = [" ".join(line.replace("**", "").split()).strip() for line in found]
    if cut and cleaned and last_is_found and not cleaned[-1].endswith(_ENDS_SENTENCE):
        cleaned.pop()
    return [line[:1].upper() + line[1:] for line in cleaned if line][:NEW_PER_PROPOSAL]


def _classification_question(instruction: str) -> str:
    return (
        "Can the following task be regarded as a classification task with finite output labels? "
        f"Answer Yes or No.\n\nTask: {instruction}"
    )


def classification_messages(instruction: str, examples: Sequence[SeedTask]) -> list[tuple[str, str]]:
    """(role, content) turns: each example asked and answered, then the new instruction asked."""
    turns: list[tuple[str, str]] = []
    for task in examples:
        turns += [("user", _classification_question(task.instruction))]
        turns += [("assistant", "Yes" if task.is_classification else "No")]
    return [*turns, ("user", _classification_question(instruction))]


def parse_classification(text: str) -> bool:
    words = re.findall(r"[a-z]+", text.lower())
    return bool(words) and words[0] == "yes"


_NONE = "<none>"


def _instance_request(instruction: str, is_classification: bool) -> str:
    if is_classification:
        return (
            "Write one example for the following classification task: first a class label, then an input that "
            f"belongs to it.\n\nTask: {instruction}"
        )
    return (
        f"Write one example for the following task: its input ({_NONE} when the task needs none), then the "
        f"output.\n\nTask: {instruction}"
    )


def _instance_answer(task: SeedTask) -> str:
    given = task.input.strip() or _NONE
    if task.is_classification:
        return f"Class label: {task.output.strip()}\nInput: {given}"
    return f"Input: {given}\nOutput: {task.output.strip()}"


def instance_messages(instruction: str, is_classification: bool, examples: Sequence[SeedTask]) -> list[tuple[str, str]]:
    turns: list[tuple[str, str]] = []
    for task in examples:
        turns += [("user", _instance_request(task.instruction, task.is_classification))]
        turns += [("assistant", _instance_answer(task))]
    return [*turns, ("user", _instance_request(instruction, is_classification))]


_LABEL = re.compile(r"^\s*(class label|input|output)\s*:\s*", re.IGNORECASE | re.MULTILINE)


def parse_instance(text: str, is_classification: bool) -> tuple[str, str]:
    """(input, output) of an instance answer. Labelled parts are read by their labels; an answer with no labels is
    the output itself (a chat model that simply does the task). A missing output stays empty: the empty-output
    filter rejects it."""
    text = re.split(r"^\s*Task\s*:", text, maxsplit=1, flags=re.MULTILINE | re.IGNORECASE)[0]
    marks = list(_LABEL.finditer(text))
    if not marks:
        return "", text.strip()
    parts: dict[str, str] = {}
    for mark, following in zip(marks, [*marks[1:], None], strict=True):
        label = mark.group(1).lower()
        parts.setdefault(label, text[mark.end() : following.start() if following else len(text)].strip())
    given = parts.get("input", "")
    given = "" if given.strip() in (_NONE, "") else given
    output = parts.get("class label" if is_classification else "output") or parts.get("output", "")
    return given, output


# ------------------------------------------------------------------------------------------------------
# The records files
# ------------------------------------------------------------------------------------------------------


def rejected_path(out: Path) -> Path:
    """The sibling file of the rejected candidates: data/si.jsonl -> data/si.rejected.jsonl."""
    return out.with_name(f"{out.stem}.rejected.jsonl" if out.suffix == ".jsonl" else f"{out.name}.rejected.jsonl")


def read_records(path: Path) -> tuple[list[dict[str, Any]], str | None]:
    """The records already in `path`, and a note when a final line cut short by a crash was dropped (the file is
    truncated to its last whole line, so appending continues a clean file). A bad line elsewhere is an error."""
    if not path.exists():
        return [], None
    if not path.is_file():
        raise SelfInstructError(f"{path} is not a file")
    data = path.read_bytes()
    records: list[dict[str, Any]] = []
    start, note = 0, None
    lines = data.split(b"\n")
    for number, raw in enumerate(lines, start=1):
        final = number == len(lines)
        if not raw.strip():
            start += len(raw) + 1
            continue
        try:
            record = json.loads(raw)
            valid = isinstance(record, dict) and isinstance(record.get("instruction"), str)
        except (json.JSONDecodeError, UnicodeDecodeError):
            valid = False
        if not valid and final:
            # The last write of a run that crashed: it never ended its line.
            with path.open("r+b") as handle:
                handle.truncate(start)
            note = f"{path}: dropped a final line cut short ({len(raw)} bytes, line {number})"
            break
        if not valid:
            raise SelfInstructError(f"{path}:{number} is not a record of this command; fix or move the file")
        if final:  # a whole record whose newline was lost: end its line before appending
            with path.open("ab") as handle:
                handle.write(b"\n")
        records.append(record)
        start += len(raw) + 1
    return records, note


class RecordWriter:
    """Appends one record per line, flushed and synced at once, so a crash loses at most the line being written."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._handle: IO[str] = path.open("a", encoding="utf-8")

    def write(self, record: dict[str, Any]) -> None:
        self._handle.write(json.dumps(record, ensure_ascii=False) + "\n")
        self._handle.flush()
        os.fsync(self._handle.fileno())

    def close(self) -> None:
        self._handle.close()


def _lock(handle: IO[str], path: Path) -> None:
    """Two runs appending to one file would interleave their records: the second one is refused."""
    import fcntl

    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError as exc:
        raise SelfInstructError(f"another run is writing {path}; wait for it or choose another --out") from exc


# ------------------------------------------------------------------------------------------------------
# Asking the generator
# ------------------------------------------------------------------------------------------------------


def generator_fingerprint(spec: ModelSpec) -> str:
    """Of what makes the generator's answers (weights, backend, quantization, system prompt, endpoint), not its
    name or description: two records from one fingerprint come from the same model."""
    fields = spec.model_dump(include={"backend", "weights", "quantization", "system_prompt", "options"})
    fields["options"] = {k: v for k, v in fields.get("options", {}).items() if "key" not in k.lower()}
    return hashlib.sha256(json.dumps(fields, sort_keys=True, default=str).encode()).hexdigest()


# ------------------------------------------------------------------------------------------------------
# The bootstrap loop
# ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Decoding:
    max_new_tokens: int = 256
    temperature: float = 0.7  # Self-Instruct's proposals: 0.7, top_p 0.5
    top_p: float = 0.5
    instance_temperature: float = 0.0  # Self-Instruct wrote instances greedily
    seed: int = 0
    batch_size: int = 4


@dataclass
class Summary:
    target: int
    kept_before: int = 0
    rejected_before: int = 0
    kept: int = 0
    rejected: Counter[str] = field(default_factory=Counter)  # filter name -> candidates it failed
    rejected_records: int = 0
    requests: int = 0
    failed_requests: int = 0
    first_error: str | None = None
    proposals: int = 0
    seconds: float = 0.0
    generation_seconds: float = 0.0
    filter_seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def total_kept(self) -> int:
        return self.kept_before + self.kept

    def records_per_minute(self) -> float:
        return 60 * self.kept / self.seconds if self.seconds > 0 else 0.0

    def lines(self) -> list[str]:
        per_filter = ", ".join(f"{name} {count}" for name, count in self.rejected.most_common()) or "none"
        share = self.filter_seconds / self.seconds if self.seconds > 0 else 0.0
        return [
            *self.notes,
            f"kept {self.kept} this run, {self.total_kept} of {self.target} in all"
            f" ({self.kept_before} kept and {self.rejected_before} rejected before)",
            f"rejected {self.rejected_records} (by filter: {per_filter})",
            f"requests {self.requests} ({self.proposals} proposals), failed {self.failed_requests}"
            + (f" (first: {self.first_error})" if self.first_error else ""),
            f"{self.records_per_minute():.2f} records/minute over {self.seconds:.1f} s; generation "
            f"{self.generation_seconds:.1f} s, filters {self.filter_seconds:.3f} s ({share:.2%} of the run)",
        ]


@dataclass
class _Candidate:
    instruction: str
    prompt: str
    seed_ids: list[str]
    machine: list[str]
    is_classification: bool = False
    classification_answer: str = ""
    few_shot: dict[str, list[str]] = field(default_factory=dict)
    input: str = ""
    output: str = ""


class Bootstrap:
    """One run: the seed tasks, the kept pool, the two record files and the generator."""

    def __init__(
        self,
        backend: ChatBackend,
        spec: ModelSpec,
        seeds: Sequence[SeedTask],
        out: Path,
        decoding: Decoding,
        filters: FilterConfig,
        progress: Callable[[int], None] = lambda kept: None,
    ) -> None:
        self.backend, self.spec, self.seeds, self.out = backend, spec, list(seeds), out
        self.decoding, self.filters, self.progress = decoding, filters, progress
        self.fingerprint = generator_fingerprint(spec)
        self.classification_seeds = [task for task in seeds if task.is_classification]
        self.other_seeds = [task for task in seeds if not task.is_classification]

    def run(self, target: int, max_proposals: int) -> Summary:
        summary = Summary(target=target)
        started = time.perf_counter()
        out, rejected_out = self.out, rejected_path(self.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        kept_file = RecordWriter(out)
        try:
            _lock(kept_file._handle, out)
            kept_records, note = read_records(out)
            rejected_records, rejected_note = read_records(rejected_out)
            summary.notes += [n for n in (note, rejected_note) if n]
            summary.kept_before, summary.rejected_before = len(kept_records), len(rejected_records)
            from training.generate.filters import KeptTexts

            self.machine = [record["instruction"] for record in kept_records]
            self.kept = KeptTexts([task.instruction for task in self.seeds] + self.machine)
            # A rerun must not ask what the last run asked: the random stream continues from the records made.
            self.rng = random.Random(f"{self.decoding.seed}:{len(kept_records)}:{len(rejected_records)}")
            self.progress(summary.total_kept)
            rejected_file = RecordWriter(rejected_out)
            try:
                while summary.total_kept < target and summary.proposals < max_proposals:
                    self._round(summary, target, max_proposals, kept_file, rejected_file)
                    if summary.requests and summary.failed_requests == summary.requests:
                        raise GeneratorFailed(
                            f"the generator {self.spec.name!r} failed on every request ({summary.requests}): "
                            f"{summary.first_error}"
                        )
            finally:
                rejected_file.close()
        finally:
            kept_file.close()
            summary.seconds = time.perf_counter() - started
        return summary

    # --- one round -----------------------------------------------------------------------------------

    def _round(
        self, summary: Summary, target: int, max_proposals: int, kept_file: RecordWriter, rejected_file: RecordWriter
    ) -> None:
        count = min(self.decoding.batch_size, max_proposals - summary.proposals)
        proposals = [self._proposal() for _ in range(count)]
        replies = self._ask(
            summary,
            [self._request([("user", p[0])], self.decoding.temperature, self.decoding.top_p) for p in proposals],
        )
        summary.proposals += count
        pending: list[_Candidate] = []
        for (prompt, seed_ids, machine), reply in zip(proposals, replies, strict=True):
            if reply.finish_reason == "error":
                continue
            for instruction in parse_proposals(reply.text, PROPOSAL_EXAMPLES, reply.finish_reason == "length"):
                candidate = _Candidate(instruction, prompt, seed_ids, machine)
                verdicts = self._screen(summary, instruction, answer="")
                early = tuple(v for v in verdicts if v.name in INSTRUCTION_FILTERS)
                if all(v.passed for v in early):
                    pending.append(candidate)
                else:  # no output is asked for an instruction that is already rejected
                    self._reject(summary, rejected_file, candidate, early, output_generated=False)
        for start in range(0, len(pending), self.decoding.batch_size):
            if summary.total_kept >= target:
                return
            chunk = pending[start : start + self.decoding.batch_size]
            chunk = self._classify(summary, chunk)
            chunk = self._write_instances(summary, chunk)
            for candidate in chunk:
                if summary.total_kept >= target:
                    return
                verdicts = self._screen(summary, candidate.instruction, answer=candidate.output)
                if all(v.passed for v in verdicts):
                    kept_file.write(self._record(candidate, verdicts))
                    self.kept.add(candidate.instruction)
                    self.machine.append(candidate.instruction)
                    summary.kept += 1
                    self.progress(summary.total_kept)
                else:
                    self._reject(summary, rejected_file, candidate, verdicts, output_generated=True)

    def _proposal(self) -> tuple[str, list[str], list[str]]:
        machine_count = PROPOSAL_MACHINE_EXAMPLES if len(self.machine) >= PROPOSAL_MACHINE_EXAMPLES else 0
        machine = self.rng.sample(self.machine, machine_count)
        seeds = self.rng.sample(self.seeds, min(PROPOSAL_EXAMPLES - machine_count, len(self.seeds)))
        shown = [task.instruction for task in seeds] + machine
        return proposal_prompt(shown), [task.id for task in seeds], machine

    def _classify(self, summary: Summary, chunk: list[_Candidate]) -> list[_Candidate]:
        requests, shots = [], []
        for candidate in chunk:
            examples = [
                *self.rng.sample(
                    self.classification_seeds, min(CLASSIFICATION_EXAMPLES_EACH, len(self.classification_seeds))
                ),
                *self.rng.sample(self.other_seeds, min(CLASSIFICATION_EXAMPLES_EACH, len(self.other_seeds))),
            ]
            self.rng.shuffle(examples)
            shots.append([task.id for task in examples])
            turns = classification_messages(candidate.instruction, examples)
            requests.append(self._request(turns, 0.0, 1.0, max_new_tokens=CLASSIFICATION_MAX_TOKENS))
        answered = []
        for candidate, ids, reply in zip(chunk, shots, self._ask(summary, requests), strict=True):
            if reply.finish_reason == "error":
                continue
            candidate.is_classification = parse_classification(reply.text)
            candidate.classification_answer = reply.text.strip()[:DETAIL_CHARS]
            candidate.few_shot["classification"] = ids
            answered.append(candidate)
        return answered

    def _write_instances(self, summary: Summary, chunk: list[_Candidate]) -> list[_Candidate]:
        requests, shots = [], []
        for candidate in chunk:
            same_kind = self.classification_seeds if candidate.is_classification else self.other_seeds
            pool = same_kind or self.seeds
            examples = self.rng.sample(pool, min(INSTANCE_EXAMPLES, len(pool)))
            shots.append([task.id for task in examples])
            turns = instance_messages(candidate.instruction, candidate.is_classification, examples)
            requests.append(self._request(turns, self.decoding.instance_temperature, 1.0))
        written = []
        for candidate, ids, reply in zip(chunk, shots, self._ask(summary, requests), strict=True):
            if reply.finish_reason == "error":
                continue
            candidate.input, candidate.output = parse_instance(reply.text, candidate.is_classification)
            candidate.few_shot["instance"] = ids
            written.append(candidate)
        return written

    # --- helpers -------------------------------------------------------------------------------------

    def _request(
        self, turns: Sequence[tuple[str, str]], temperature: float, top_p: float, max_new_tokens: int | None = None
    ) -> GenerationRequest:
        from models.types import ChatMessage

        messages: list[ChatMessage] = [ChatMessage(role, content) for role, content in turns]  # type: ignore[arg-type]
        return self.spec.build_request(
            messages,
            temperature=temperature,
            top_p=top_p,
            max_new_tokens=max_new_tokens or self.decoding.max_new_tokens,
            seed=self.rng.randrange(2**31),
        )

    def _ask(self, summary: Summary, requests: list[GenerationRequest]) -> list[Answer]:
        started = time.perf_counter()
        replies = answer_all(
            self.backend, requests, concurrency=self.decoding.batch_size, batch_size=self.decoding.batch_size
        )
        summary.generation_seconds += time.perf_counter() - started
        summary.requests += len(replies)
        for reply in replies:
            if reply.finish_reason == "error":
                summary.failed_requests += 1
                summary.first_error = summary.first_error or (reply.error or "the model failed")[:DETAIL_CHARS]
        return replies

    def _screen(self, summary: Summary, instruction: str, answer: str) -> tuple[FilterVerdict, ...]:
        from training.generate.filters import screen

        started = time.perf_counter()
        verdicts = screen(instruction, answer, self.kept, self.filters)
        summary.filter_seconds += time.perf_counter() - started
        return verdicts

    def _record(self, candidate: _Candidate, verdicts: Sequence[FilterVerdict], **extra: Any) -> dict[str, Any]:
        return {
            "instruction": candidate.instruction,
            "input": candidate.input,
            "output": candidate.output,
            "provenance": {
                "generator": self.spec.name,
                "generator_fingerprint": self.fingerprint,
                "prompt": candidate.prompt,
                "seed_tasks": candidate.seed_ids,
                "machine_tasks": candidate.machine,
                "is_classification": candidate.is_classification,
                "classification_answer": candidate.classification_answer,
                "few_shot": candidate.few_shot,
                "filters": [{"name": v.name, "passed": v.passed, "detail": v.detail} for v in verdicts],
                **extra,
                "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            },
        }

    def _reject(
        self,
        summary: Summary,
        rejected_file: RecordWriter,
        candidate: _Candidate,
        verdicts: Sequence[FilterVerdict],
        *,
        output_generated: bool,
    ) -> None:
        rejected_file.write(self._record(candidate, verdicts, output_generated=output_generated))
        summary.rejected_records += 1
        summary.rejected.update(v.name for v in verdicts if not v.passed)


# ------------------------------------------------------------------------------------------------------
# Command line
# ------------------------------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--generator", required=True, help="the registry model that writes (local or OpenAI-protocol)")
    parser.add_argument("--out", type=Path, required=True, help="kept records (JSONL); rerunning into it resumes")
    parser.add_argument("--target", type=int, required=True, help="kept records to reach in --out")
    parser.add_argument("--seed-tasks", type=Path, help="a Self-Instruct seed_tasks.jsonl (default: the shipped 175)")
    parser.add_argument(
        "--db", help="database URL of the registry's checkpoints (default: the app's, ARENA_DATABASE_URL)"
    )
    parser.add_argument("--max-new-tokens", type=int, default=256, help="cap of a proposal and of an instance")
    parser.add_argument("--temperature", type=float, default=0.7, help="of proposals (Self-Instruct: 0.7)")
    parser.add_argument("--top-p", type=float, default=0.5, help="of proposals (Self-Instruct: 0.5)")
    parser.add_argument("--instance-temperature", type=float, default=0.0, help="of instances (default greedy)")
    parser.add_argument("--seed", type=int, default=0, help="sampling of examples and of the generator")
    parser.add_argument("--batch-size", type=int, default=4, help="requests at once (one forward pass when local)")
    parser.add_argument("--max-proposals", type=int, help="proposal requests this run may make (default 10 x target)")
    parser.add_argument("--rouge-threshold", type=float, default=0.7, help="reject at this ROUGE-L or above")
    parser.add_argument("--min-words", type=int, default=3, help="fewest words of an instruction")
    parser.add_argument("--max-words", type=int, default=150, help="most words of an instruction")


def _check(args: argparse.Namespace) -> None:
    problems = [
        (not 1 <= args.target <= MAX_TARGET, f"--target must be between 1 and {MAX_TARGET}, got {args.target}"),
        (
            not 1 <= args.max_new_tokens <= 8192,
            f"--max-new-tokens must be between 1 and 8192, got {args.max_new_tokens}",
        ),
        (not 0 <= args.temperature <= 5, f"--temperature must be between 0 and 5, got {args.temperature}"),
        (
            not 0 <= args.instance_temperature <= 5,
            f"--instance-temperature must be between 0 and 5, got {args.instance_temperature}",
        ),
        (not 0 < args.top_p <= 1, f"--top-p must be in (0, 1], got {args.top_p}"),
        (not 1 <= args.batch_size <= 256, f"--batch-size must be between 1 and 256, got {args.batch_size}"),
        (args.max_proposals is not None and args.max_proposals < 1, "--max-proposals must be at least 1"),
        (not 0 < args.rouge_threshold <= 1, f"--rouge-threshold must be in (0, 1], got {args.rouge_threshold}"),
        (args.min_words < 1, f"--min-words must be at least 1, got {args.min_words}"),
        (args.max_words < args.min_words, f"--max-words ({args.max_words}) is below --min-words ({args.min_words})"),
    ]
    for failed, message in problems:
        if failed:
            raise SelfInstructError(message)
    if args.out.is_dir():
        raise SelfInstructError(f"--out {args.out} is a folder; give a .jsonl file")


def resolve_generator(name: str, settings: Any, db: str | None) -> ModelSpec:
    """The generator by name: the arena's registry (checkpoints included) over the registry file. The database is
    only read, never created: without --db a missing default database just means no checkpoints."""
    from models.registry import load_model_specs
    from store import Store, StoreError

    known = {spec.name: spec for spec in load_model_specs(settings.models_file)}
    try:
        store = Store.open_existing(db or settings.resolved_database_url)
    except StoreError:
        if db:
            raise
        store = None
    if store is not None:
        try:
            known.update({spec.name: spec for spec in store.registry.models(enabled_only=False)})
        finally:
            store.dispose()
    if name not in known:
        raise SelfInstructError(f"no model named {name!r}; the registry's models are: {', '.join(known)}")
    return known[name]


def run(args: argparse.Namespace) -> int:
    from models.registry import RegistryError
    from store import StoreError

    try:
        _check(args)
        seeds = load_seed_tasks(args.seed_tasks or SEED_TASKS_FILE)
        from settings import Settings

        settings = Settings()
        spec = resolve_generator(args.generator, settings, args.db)
    except (SelfInstructError, RegistryError, StoreError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    from tqdm import tqdm

    from models.pool import BackendPool
    from training.generate.filters import BANNED_WORDS, FilterConfig

    try:
        backend = BackendPool(settings.resolved_model_cache_dir, device=settings.device).get(spec)
    except Exception as exc:  # a generator that cannot even load: the work failed, not the arguments
        print(f"error: could not load the generator {spec.name!r}: {exc}", file=sys.stderr)
        return 1
    decoding = Decoding(
        args.max_new_tokens, args.temperature, args.top_p, args.instance_temperature, args.seed, args.batch_size
    )
    filters = FilterConfig(args.rouge_threshold, args.min_words, args.max_words, BANNED_WORDS)
    bar = tqdm(total=args.target, desc=f"self-instruct ({spec.name})", unit="record", file=sys.stderr)

    def progress(kept: int) -> None:
        bar.n = min(kept, args.target)
        bar.refresh()

    try:
        summary = Bootstrap(backend, spec, seeds, args.out, decoding, filters, progress).run(
            args.target, args.max_proposals or 10 * args.target
        )
    except SelfInstructError as exc:
        bar.close()
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except GeneratorFailed as exc:
        bar.close()
        print(f"error: {exc}", file=sys.stderr)
        return 1
    bar.close()
    for line in summary.lines():
        print(line)
    if summary.total_kept < args.target:
        print(
            f"error: {summary.total_kept} of {args.target} records kept after {summary.proposals} proposals; rerun "
            "to continue (it resumes) or raise --max-proposals",
            file=sys.stderr,
        )
        return 1
    return 0
