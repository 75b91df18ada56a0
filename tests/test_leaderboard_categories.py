"""Specification of facts.categories: the rule-based prompt classifier and the category names."""

from __future__ import annotations

import json

import pytest

from facts.categories import CATEGORIES, category_id, classify_prompt
from tests.shared_data import require_llmfao

EXAMPLES = {
    "coding": [
        "Write a Python function that prints the next 20 leap years. Reply with only the function.",
        "Explain the bug in the following code:\n\n```\nresult = pool.apply_async(task())\nprint(result.get())\n```",
        "Write a Rust function that reverses a linked list.",
        "How do I write a web server in Go?",
        "Why does my React component re-render twice?",
        "SELECT name FROM users WHERE id = 1; why is this slow?",
        "My code throws a NullPointerException when I call getUser(). Why?",
        "Give me the SVG code for a smiley.",
        "Write a function that checks whether a number is prime.",
        "What's the difference between a list and a tuple in Python?",
    ],
    "math": [
        "Solve for x: 3x + 5 = 20",
        "What is the derivative of sin(x) * x^2?",
        "A train leaves at 3 pm going 60 km/h. How long does it take to travel 180 km?",
        "What is 17 * 23?",
        "Prove that the square root of 2 is irrational.",
        "Sally (a girl) has 3 brothers. Each brother has 2 sisters. How many sisters does Sally have?",
    ],
    "creative_writing": [
        "Write a short story about a dragon who learns to bake.",
        "Write a haiku about autumn leaves.",
        "Tell a joke about going on vacation.",
        "Write a cover letter for a junior data analyst position.",
        "Pretend you are my grandmother and tell me about the old days.",
        "Write a movie script about a heist.",
        "Write a poem about math",
        "Write me a product description for a 100W wireless fast charger for my website.",
    ],
    "brainstorming": [
        "Give me 10 ideas for a birthday party for a 7-year-old.",
        "What are some ways to stay productive while working from home?",
        "Suggest names for a coffee shop near the beach.",
        "Give two concise bullet-point arguments against the Münchhausen trilemma (don't explain what it is)",
    ],
    "open_qa": [
        "Who was the first person to walk on the moon?",
        "Why is the sky blue?",
        "Explain how vaccines work.",
        "Is Taiwan an independent country?",
        "How do I remove rust from my bike chain?",
        "What is the function of the liver?",
        "How do I extract juice from lemons without a juicer?",
        "I need to go to my cooking class, what should I bring?",
    ],
    "closed_qa": [
        "Based on the passage below, when did the company go public?\n\nAcme Corp was founded in 1990 and went "
        "public in 1998 after a decade of growth.",
        "Context: The Amazon is the largest river by discharge volume.\nQuestion: Which river discharges most?",
        "Who signed it?\n\n" + "The treaty was drafted over many months by delegates from each province. " * 5,
    ],
    "summarization": [
        "Summarize the following article in three sentences:\n\nThe city council voted on Tuesday to approve ...",
        "TL;DR this: Scientists have discovered a new species of frog in the Andes ...",
    ],
    "rewrite": [
        "Rewrite this email to sound more professional: hey, can u send me the report asap",
        "Paraphrase: The quick brown fox jumps over the lazy dog.",
        "Translate 'Where is the train station?' into German.",
        "Fix the grammar in this sentence: me and him goes to school yesterday.",
    ],
    "extraction": [
        "Extract the name of the vendor from the invoice: PURCHASE #0521 NIKE XXX3846. Reply with only the name.",
        "Extract all the dates mentioned in the following text: The meeting on March 3 was moved to April 10.",
        "From the email below, pull out the sender's phone number.\n\nHi, call me at 555-1234. Bob",
        "List all the names of people mentioned in this paragraph: Alice met Bob and Carol at the park.",
    ],
    "classification": [
        "Classify the following tweet as positive, negative or neutral: I love this new phone!",
        "Is this email spam or not? 'You won a free cruise, click here'",
        "Categorize these animals into mammals and reptiles: dog, snake, cat, lizard.",
        'Help me find out if this customer review is more "positive" or "negative".\n\nQ: Great staff.\nA: ',
    ],
    "chat": ["hi there!", "How are you?", "Thanks!", "I'm feeling a bit down today.", "asdf qwerty"],
}


@pytest.mark.parametrize(
    ("expected", "prompt"), [(category, prompt) for category, prompts in EXAMPLES.items() for prompt in prompts]
)
def test_realistic_prompts_get_their_category(expected: str, prompt: str) -> None:
    assert classify_prompt(prompt) == expected


def test_every_category_has_examples_and_a_display_name() -> None:
    assert set(EXAMPLES) == set(CATEGORIES)
    assert CATEGORIES["creative_writing"] == "Creative writing"
    assert all(key.isidentifier() and key.islower() for key in CATEGORIES)


def test_a_json_template_in_a_fence_does_not_make_a_prompt_about_code() -> None:
    prompt = 'What are the 5 planets closest to the sun? Reply with JSON like this:\n\n```\n[{"planet": string}]\n```'
    assert classify_prompt(prompt) == "open_qa"


LLMFAO_EXPECTED = {
    "k8s": "creative_writing",
    "qft": "open_qa",
    "permutation": "coding",
    "bug-task": "coding",
    "vendor-extract": "extraction",
    "svg": "coding",
    "munchhausen": "brainstorming",
    "basic-sentiment": "classification",
    "cot-apple": "math",
    "taiwan": "open_qa",
    "sally": "math",
    "cot-sally": "math",
    "holidays": "creative_writing",
    "bagel": "rewrite",
    "planets-json": "open_qa",
    "blue": "creative_writing",
    "leap": "coding",
    "fibonacci": "coding",
    "product-description": "creative_writing",
}
# LLMFAO's own coarse types, and the categories each can plausibly hold.
PLAUSIBLE = {
    "code": {"coding"},
    "creativity": {"creative_writing", "coding"},
    "knowledge": {"open_qa", "closed_qa", "rewrite"},
    "instruct": {"extraction", "classification", "open_qa", "closed_qa", "rewrite", "summarization"},
    "reflexion": {"math", "brainstorming", "creative_writing", "open_qa"},
}


def llmfao_prompts() -> list[dict[str, str]]:
    with (require_llmfao() / "prompts.jsonl").open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


def test_the_llmfao_prompts_get_plausible_categories() -> None:
    prompts = llmfao_prompts()
    assert {p["slug"] for p in prompts} == set(LLMFAO_EXPECTED)
    for prompt in prompts:
        category = classify_prompt(prompt["text"])
        assert category == LLMFAO_EXPECTED[prompt["slug"]], prompt["slug"]
        assert category in PLAUSIBLE[prompt["type"]], prompt["slug"]


@pytest.mark.parametrize(
    ("name", "expected"), [("coding", "coding"), ("Creative writing", "creative_writing"), (" open qa ", "open_qa")]
)
def test_category_id_accepts_ids_and_display_names(name: str, expected: str) -> None:
    assert category_id(name) == expected


def test_category_id_names_the_known_categories_when_it_fails() -> None:
    with pytest.raises(ValueError, match=r"unknown category 'poetry'.*creative_writing"):
        category_id("poetry")
