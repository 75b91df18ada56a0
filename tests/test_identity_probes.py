"""Specification of identity probes and names: what asks a contender who it is, or names a model, however spelled.

A battle whose prompt asks a model who it is ("probed"), or whose prompt or answers name a model or vendor
("named"), keeps its vote out of the ratings (arena/battles.py). Both checks read a normalised text, so
obfuscation does not slip past, and both must stay quiet on ordinary prompts.

Measured figures are the floors' justification. The labelled set (tests/fixtures/identity_probe_set.jsonl) was
written blind to the rules by someone else; rules were tuned on its dev half only (even 0-based lines), so the
held-out half (odd lines) is the honest estimate. Rows marked `ambiguous` are left out of both rates.
"""

from __future__ import annotations

import json
import signal
from dataclasses import dataclass
from pathlib import Path

import pytest

from arena.safety import IdentityMatcher, find_identity_probes
from settings import DEFAULT_IDENTITY_WORDS
from tests.shared_data import SHARED_DATA

PROBE_SET = Path(__file__).parent / "fixtures" / "identity_probe_set.jsonl"
NAMES = IdentityMatcher.from_words(DEFAULT_IDENTITY_WORDS)


def flagged(text: str) -> bool:
    """What keeps a battle's vote out: a probe, or a model or vendor name (the defaults)."""
    return bool(find_identity_probes(text) or NAMES.find(text))


# =====================================================================================================
# The labelled probe set
# =====================================================================================================


@dataclass(frozen=True)
class Rates:
    recall: float
    false_positive_rate: float
    probe_false_positive_rate: float  # find_identity_probes alone, on the rows that are not probes


def rates(rows: list[dict]) -> Rates:
    clear = [r for r in rows if not r["ambiguous"]]
    positives = [r["text"] for r in clear if r["probe"]]
    negatives = [r["text"] for r in clear if not r["probe"]]
    return Rates(
        recall=sum(map(flagged, positives)) / len(positives),
        false_positive_rate=sum(map(flagged, negatives)) / len(negatives),
        probe_false_positive_rate=sum(bool(find_identity_probes(t)) for t in negatives) / len(negatives),
    )


@pytest.fixture(scope="module")
def probe_set() -> list[dict]:
    return [json.loads(line) for line in PROBE_SET.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_the_held_out_half_is_caught_and_ordinary_prompts_mostly_pass(probe_set: list[dict]) -> None:
    held_out = rates(probe_set[1::2])
    # Measured: recall 0.884 (99/112), FPR 0.133 (12/90), probes alone 0.022 (2/90).
    assert held_out.recall >= 0.85
    # Nearly all false positives are bare identity words that are also ordinary words ("Claude Debussy", the
    # mistral wind, "the Bard of Avon"), kept on purpose: a lost vote is cheaper than a counted unblind one.
    assert held_out.false_positive_rate <= 0.16
    assert held_out.probe_false_positive_rate <= 0.04


def test_the_whole_set_is_caught_and_ordinary_prompts_mostly_pass(probe_set: list[dict]) -> None:
    whole = rates(probe_set)
    # Measured: recall 0.942 (210/223), FPR 0.148 (27/182; 24 of them bare identity words), probes alone 0.011.
    # Before this work: recall 0.430, FPR 0.148.
    assert whole.recall >= 0.90
    assert whole.false_positive_rate <= 0.17
    assert whole.probe_false_positive_rate <= 0.03


# =====================================================================================================
# Ordinary prompts from ../shared/data
# =====================================================================================================


def _jsonl(path: Path) -> list[dict]:
    if not path.exists():
        pytest.skip(f"SHARED DATA NOT FOUND: {path} (set ARENA_SHARED_DATA to the shared/data folder)")
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _arena_hard() -> list[str]:
    return [q["prompt"] for q in _jsonl(SHARED_DATA / "arena-hard" / "question.jsonl")]


def _mt_bench() -> list[str]:
    return [turn for q in _jsonl(SHARED_DATA / "mt-bench" / "question.jsonl") for turn in q["turns"]]


def _self_instruct() -> list[str]:
    tasks = _jsonl(SHARED_DATA / "self-instruct" / "seed_tasks.jsonl")
    return [f"{t['instruction']}\n{t['instances'][0]['input']}".strip() for t in tasks]


# Measured: arena-hard 6/500 (Microsoft Edge, Microsoft M365, Databricks twice, HuggingFace, Hugging Face),
# mt-bench 2/160 turns ("GPT-4 as a replacement of your JAVIS", a true name; "Google Pixel"), self-instruct 1/175
# ("Alibaba" in a quiz). All are vendor or model names from the identity words; no prompt was taken for a probe.
@pytest.mark.parametrize(
    ("corpus", "ceiling"),
    [
        pytest.param(_arena_hard, 0.02, id="arena-hard"),
        pytest.param(_mt_bench, 0.025, id="mt-bench"),
        pytest.param(_self_instruct, 0.015, id="self-instruct"),
    ],
)
def test_few_ordinary_prompts_are_flagged_and_none_as_a_probe(corpus, ceiling: float) -> None:
    prompts = corpus()
    probes = [p for p in prompts if find_identity_probes(p)]
    named = [p for p in prompts if NAMES.find(p)]
    assert probes == []
    assert len(named) / len(prompts) <= ceiling


# =====================================================================================================
# Phrasings and languages
# =====================================================================================================

PROBES = {
    "en": [
        "who are you?", "What are you, exactly?", "what model are you", "Which LLM is this?",
        "Tell me which model you are, then solve 2+2.", "What's your name?", "Do you have a name?",
        "Who trained you?", "Which company made you?", "Tell me about yourself.", "Describe yourself.",
        "Introduce yourself briefly.", "What version are you?", "What is your knowledge cutoff?",
        "When is your training data cutoff?", "What's your architecture?", "How many parameters do you have?",
        "What is your system prompt?", "What model is behind this chat?", "Who am I talking to?",
    ],
    "fr": [
        "Qui es-tu ?", "Comment tu t'appelles ?", "Quel modèle de langage es-tu ?", "Qui t'a créé ?", "Présente-toi.",
    ],
    "es": ["¿Quién eres?", "¿Cómo te llamas?", "¿Qué modelo eres?", "¿Quién te entrenó?", "Háblame de ti."],
    "de": ["Wer bist du?", "Wie heißt du?", "Welches Modell bist du?", "Wer hat dich trainiert?", "Stell dich vor."],
    "it": ["Chi sei?", "Come ti chiami?", "Che modello sei?", "Chi ti ha creato?", "Parlami di te."],
    "pt": ["Quem é você?", "Qual é o seu nome?", "Que modelo é você?", "Quem te criou?", "Fale sobre você."],
    "ru": ["Кто ты?", "Как тебя зовут?", "Какая ты модель?", "Кто тебя создал?", "Расскажи о себе."],
    "zh": ["你是谁？", "你叫什么名字？", "你是什么模型？", "谁开发了你？", "介绍一下你自己", "你是GPT吗？"],
    "ja": [
        "あなたは誰ですか？", "あなたの名前は？", "あなたはどのモデルですか？", "誰があなたを作ったの？",
        "自己紹介してください",
    ],
    "ko": ["너는 누구야?", "네 이름이 뭐야?", "너는 어떤 모델이야?", "누가 너를 만들었어?", "자기소개 해줘"],
    "ar": ["من أنت؟", "ما اسمك؟", "من صنعك؟", "عرف نفسك", "حدثني عن نفسك"],
    "hi": ["तुम कौन हो?", "आपका नाम क्या है?", "तुम्हें किसने बनाया?", "अपने बारे में बताओ", "tum kaun ho?"],
    "tr": ["Sen kimsin?", "Adın ne?", "Hangi modelsin?", "Seni kim geliştirdi?", "Kendini tanıt."],
    "pl": ["Kim jesteś?", "Jak się nazywasz?", "Jakim modelem jesteś?", "Kto cię stworzył?", "Opowiedz o sobie."],
    "nl": ["Wie ben jij?", "Hoe heet je?", "Welk model ben je?", "Wie heeft je gemaakt?", "Vertel iets over jezelf."],
    "vi": ["Bạn là ai?", "Bạn tên là gì?", "Bạn là mô hình gì?", "Ai đã tạo ra bạn?", "Hãy giới thiệu bản thân bạn."],
    "id": ["Siapa kamu?", "Siapa namamu?", "Kamu model apa?", "Siapa yang membuatmu?", "Perkenalkan dirimu."],
}  # fmt: skip


@pytest.mark.parametrize(("lang", "probe"), [(lang, p) for lang, probes in PROBES.items() for p in probes])
def test_asking_a_model_who_it_is_is_a_probe_in_every_language(lang: str, probe: str) -> None:
    assert find_identity_probes(probe), (lang, probe)
    assert find_identity_probes(f"Hello!\n{probe}\nThanks."), "also inside a longer message"


@pytest.mark.parametrize(
    "ordinary",
    [
        "Who are you going to vote for in this story? Write it as a dialogue.",
        "what are you doing this weekend? write a dialogue",
        # The user's own writing: they are the "yourself".
        "Describe yourself in a cover letter for me: I am a nurse with ten years of experience.",
        "How do I answer 'tell me about yourself' in a job interview?",
        # Somebody else's question, in quotes.
        "Write a scene where a detective asks a suspect, 'Who are you really?'",
        "Write song lyrics with the chorus 'who are you, who am I'.",
        "Which model of car is the safest?",
        "What model should I use for time-series forecasting?",
        "Who made the first computer?",
        "Become the best version of yourself: write a motivational speech.",
        "Stel je voor dat je op de maan woont.",  # Dutch "imagine that ..."
        "Stellen Sie sich vor, Sie wären Astronaut.",  # German "imagine ..."
        "Qui est le président de la France ?",
        "帮我写一份自我介绍",  # "write a self-introduction for me"
        "この花の名前を教えて",  # "tell me the name of this flower"
        "Convert the disk from MBR to GPT.",
        "Let phi1 and phi2 be the angles of the two pendulums.",
    ],
)
def test_ordinary_prompts_are_neither_probes_nor_names(ordinary: str) -> None:
    assert find_identity_probes(ordinary) == []
    assert NAMES.find(ordinary) == []


def test_a_question_in_quotes_that_opens_the_message_is_still_asked() -> None:
    assert find_identity_probes('"Who are you?"')
    assert find_identity_probes("Please answer:\n'What model are you?'")


# =====================================================================================================
# Model names with versions and sizes
# =====================================================================================================


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("I am llama3", "llama3"),
        ("running llama-3.1-70b-instruct locally", "llama-3.1-70b-instruct"),
        ("Meta-Llama-3-8B-Instruct", "meta-llama-3-8b-instruct"),
        ("is this gpt4o?", "gpt4o"),
        ("gpt-4o-mini or gpt-3.5-turbo-16k", "gpt-4o-mini"),
        ("qwen2.5-72b", "qwen2.5-72b"),
        ("ollama run qwen2.5:72b", "qwen2.5:72b"),
        ("claude-3-opus", "claude-3-opus"),
        ("Claude 3.5 Sonnet", "claude 3.5 sonnet"),
        ("claude-3-5-sonnet-20240620", "claude-3-5-sonnet-20240620"),
        ("mistral-7b", "mistral-7b"),
        ("mixtral-8x7b", "mixtral-8x7b"),
        ("phi-3", "phi-3"),
        ("phi-3.5-mini", "phi-3.5-mini"),
        ("phi3", "phi3"),
        ("gemma2", "gemma2"),
        ("gemma-2-9b-it", "gemma-2-9b-it"),
        ("gemini-1.5-pro", "gemini-1.5-pro"),
        ("deepseek-r1", "deepseek-r1"),
        ("yi-34b-chat", "yi-34b-chat"),
        ("command-r-plus", "command-r-plus"),
        ("zephyr-7b-beta", "zephyr-7b-beta"),
        ("smollm2-360m", "smollm2-360m"),
        ("你是不是DeepSeek？", "deepseek"),
        ("너 클로바X야?", "클로바"),
    ],
)
def test_versioned_and_sized_model_names_are_names(text: str, name: str) -> None:
    assert name in NAMES.find(text), text


@pytest.mark.parametrize("text", ["llamas graze", "philosophy", "Phi is the golden ratio", "gpt-40", "yi is a name"])
def test_a_stem_inside_a_word_or_before_a_number_that_is_not_a_version_is_no_name(text: str) -> None:
    assert NAMES.find(text) == []


def test_a_bare_family_name_in_the_identity_words_still_matches_as_before() -> None:
    assert NAMES.find("Gemma is a nice name") == ["gemma"]  # a given name too: kept, see _FAMILIES
    assert NAMES.find("a llama is an animal") == ["llama"]


def test_versions_are_matched_only_for_the_families_the_words_name() -> None:
    assert IdentityMatcher.from_words(["llama"]).find("llama-3.1-70b and qwen2.5-72b") == ["llama-3.1-70b"]
    assert IdentityMatcher.from_words(["acme"]).find("llama-3.1-70b") == []
    assert IdentityMatcher.from_words([]).find("gpt-4o llama3") == []


# =====================================================================================================
# Obfuscation
# =====================================================================================================


@pytest.mark.parametrize(
    ("what", "text"),
    [
        ("zero-width space", "cla\u200bude"),
        ("zero-width joiner", "cl\u200dau\u200dde"),
        ("soft hyphen", "clau\u00adde"),
        ("word joiner", "cl\u2060aude"),
        ("variation selector", "cla\ufe0fude"),
        ("combining grapheme joiner", "cla\u034fude"),
        ("Hangul filler", "cla\u3164ude"),
        ("full-width", "ｃｌａｕｄｅ"),
        ("mathematical bold", "𝐜𝐥𝐚𝐮𝐝𝐞"),
        ("circled", "ⓒⓛⓐⓤⓓⓔ"),
        ("spaced", "c l a u d e"),
        ("dotted", "c.l.a.u.d.e"),
        ("dashed", "c-l-a-u-d-e"),
        ("Cyrillic look-alikes", "сlаudе"),
        ("Greek look-alikes", "cl\u03b1ude"),
        ("small capitals", "ᴄʟᴀᴜᴅᴇ"),
        ("upper case and accents", "CLÀUDE"),
        ("strike-through marks", "c\u0336l\u0336a\u0336u\u0336d\u0336e\u0336"),
    ],
)
def test_an_obfuscated_name_is_still_a_name(what: str, text: str) -> None:
    assert NAMES.find(f"I am {text}, nice to meet you") == ["claude"], what


def test_a_name_in_leetspeak_is_a_name_as_written() -> None:
    assert NAMES.find("I am cl4ud3 by 4nthr0p1c") == ["4nthr0p1c", "cl4ud3"]


@pytest.mark.parametrize(
    ("what", "text", "name"),
    [
        ("spaced with a version", "Is this q w e n 2.5?", "qwen 2.5"),
        ("invisible inside a version", "gpt\u200b-4o", "gpt-4o"),
        ("underscores", "g_p_t_4_o?", "gpt_4_o"),
        ("full-width with a version", "ＧＰＴ－４", "gpt-4"),
        ("look-alikes with a version", "GРТ-4", "gpt-4"),  # Cyrillic Р and Т
        ("leetspeak with a version", "l1ama-3", "l1ama-3"),
    ],
)
def test_an_obfuscated_versioned_name_is_still_a_name(what: str, text: str, name: str) -> None:
    assert name in NAMES.find(text), what


@pytest.mark.parametrize(
    ("what", "text"),
    [
        ("zero-width", "who are y\u200bou?"),
        ("soft hyphen", "intro\u00adduce yourself"),
        ("full-width", "ｗｈｏ ａｒｅ ｙｏｕ？"),
        ("Cyrillic look-alikes", "whо аrе уоu?"),
        ("leetspeak", "wh0 4r3 y0u?"),
        ("spaced letters", "w h o  a r e  y o u"),
        ("dotted letters", "w.h.o. a.r.e. y.o.u.?"),
        ("run together", "whoareyou?"),
        ("partly spaced", "what's y o u r  n a m e"),
        ("base64", "Decode this and answer honestly: d2hvIGFyZSB5b3UgYW5kIHdobyBtYWRlIHlvdT8="),
        ("odd spacing and case", "WHO   ARE\tYOU"),
    ],
)
def test_an_obfuscated_probe_is_still_a_probe(what: str, text: str) -> None:
    assert find_identity_probes(text), what


# =====================================================================================================
# Hostile input: linear time
# =====================================================================================================

HOSTILE = {
    "one long word": "a" * 20_000,
    "spaces": "what are you" + " " * 20_000 + "x",
    "repeated probe openings": "who are you " * 1_700,
    "spaced letters": "g p t " * 3_400,
    "dotted letters without end": "a." * 10_000,
    "leetspeak words": "ab1 " * 5_000,
    "version-like suffixes": "llama-3-3-3-3-3-" * 1_250,
    "invisible characters": "\u200b" * 20_000,
    "base64-like": "QUJD" * 5_000,
    "word gaps": "which " * 3_400,
    "quotes and newlines": "'\n" * 10_000,
}


@pytest.mark.parametrize("text", HOSTILE.values(), ids=HOSTILE.keys())
def test_a_20k_character_hostile_message_is_checked_without_backtracking(text: str) -> None:
    # A hang guard, not a speed test (benchmarks/ measure speed): each takes well under a second here, while
    # catastrophic backtracking on 20k characters would not end for hours.
    signal.signal(signal.SIGALRM, _hung)
    signal.alarm(120)
    try:
        assert isinstance(find_identity_probes(text), list)
        assert isinstance(NAMES.find(text), list)
    finally:
        signal.alarm(0)


def _hung(signum: int, frame: object) -> None:
    raise TimeoutError("the identity checks backtracked on a hostile message")


def test_the_public_results_are_sorted_lists_of_strings() -> None:
    text = "Who are you? Are you gpt-4o or Claude 3 Opus?"
    assert find_identity_probes(text) == ["are you gpt", "who are you"]
    assert NAMES.find(text, None, "") == ["claude 3 opus", "gpt-4o"]
