"""Prompt categories for per-category leaderboards: a transparent rule-based classifier, and the hook to swap it.

A classifier is any ``Callable[[str], str]`` from a prompt to a category id; the loaders take one as a
parameter, so an LLM-based or trained classifier can replace `classify_prompt` without touching them.

`classify_prompt` tries the rules below in order; the first that fires names the category. The taxonomy is
Dolly's (open/closed QA, brainstorming, ...) plus coding, math and chat. Order matters where a prompt fits
two: code wins first (a prompt with code in it is about code), then the task verbs that operate on a text the
prompt carries (summarize, rewrite/translate, extract, classify), then explicit creative forms (a poem about
math is creative), weaker code cues, math, other writing, brainstorming, then questions.

1. coding: a fenced block or lines that look like code; an unambiguous language/format name (Python, SQL,
   SVG, ...), or an ambiguous one (Rust, Go, Java, ...) next to a programming word.
2. summarization / rewrite / extraction / classification: their verbs ("summarize", "rephrase",
   "translate", "extract ... from the invoice", "classify", "positive or negative"). These tasks usually
   carry a reference text, but the verb is what tells them apart, so the reference is not required
   (extraction excepted: "extract" alone is too often about juice or teeth, so it needs a source or a
   target like "names").
3. creative_writing: poem, haiku, story, joke, lyrics, chord progression, product description, ...
4. coding (weak cues): "write a function", "debug", "algorithm", ... that survived the creative forms.
5. math: arithmetic in the text (``2 + 2``, ``3x = 9``), math terms (derivative, probability, theorem, ...),
   or a "how many / how much / calculate" question with at least two numbers (a word problem).
6. creative_writing again, for other writing: "write an essay / a letter / a speech", "in the style of",
   role-play.
7. brainstorming: ideas, suggestions, "ways to", "arguments for/against", "what are some".
8. chat: greetings and small talk only ("hi", "how are you?").
9. closed_qa: a question about a reference the prompt carries: "according to the passage", a "Context:"
   label, or a question next to a paragraph of 40+ words.
10. open_qa: any other question ("?", who/what/why..., explain, describe, define).
11. chat: everything else.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from types import MappingProxyType

Classifier = Callable[[str], str]

CATEGORIES: Mapping[str, str] = MappingProxyType(
    {
        "coding": "Coding",
        "math": "Math",
        "creative_writing": "Creative writing",
        "brainstorming": "Brainstorming",
        "open_qa": "Open QA",
        "closed_qa": "Closed QA",
        "summarization": "Summarization",
        "rewrite": "Rewrite",
        "extraction": "Extraction",
        "classification": "Classification",
        "chat": "Chat / other",
    }
)


def _rx(pattern: str, flags: int = re.IGNORECASE) -> re.Pattern[str]:
    return re.compile(pattern, flags)


_FENCE = _rx(r"```|~~~")
_CODE_LINE = _rx(
    r"^\s*(?:def |class \w|import \w|from [\w.]+ import|#include|return\b|print\(|console\.log|function\s*\w*\s*\("
    r"|(?:const|let|var|public|private|static|void|fn|func)\s+\w|SELECT\s.+\sFROM\s|<\?php|<(?:svg|html|div|script)\b"
    r"|[\w.\[\]]+\s*=[^=].*|.*;\s*$|.*\)\s*[:{]\s*$)",
    re.IGNORECASE | re.MULTILINE,
)
_LANGUAGE = _rx(
    r"(?<![\w.])(?:python|javascript|typescript|c\+\+|c#|golang|kotlin|php|sql|mysql|postgresql|sqlite|html|css|svg"
    r"|haskell|matlab|powershell|bash|shell script|node\.?js|django|flask|numpy|pytorch|tensorflow|regex"
    r"|regular expression|dockerfile|makefile|json schema|latex code)(?![\w+#])"
)
_AMBIGUOUS = r"(?:rust|java|ruby|swift|scala|perl|react|vue|pandas)"
_PROGRAMMING = (
    r"(?:code|coding|programs?|programming|functions?|library|crate|package|snippet|syntax|script|class|method|api"
    r"|framework|compiler|app|components?|hooks?|modules?|server)"
)
# "Rust" or "Swift" name a language only next to a programming word: "a Rust function", "an API in Go" ("go" and
# "r" are too common to go first: "go to my class").
_AMBIGUOUS_LANGUAGE = _rx(
    rf"\b{_AMBIGUOUS}\W+(?:\w+\W+){{0,3}}?{_PROGRAMMING}\b"
    rf"|\b{_PROGRAMMING}\W+(?:\w+\W+){{0,3}}?(?:in|using|with) (?:{_AMBIGUOUS}|go|r)\b"
)
# Code pasted without a fence: a query, a definition, a method call, a traceback.
_INLINE_CODE = re.compile(
    r"\bSELECT\b.+\bFROM\b|\b(?:def|fn|func) \w+\(|#include\s*<|\b\w+(?:\.\w+)+\([^()]*\)|\b\w+\(\)"
    r"|Traceback \(most recent call last\)|\w+(?:Error|Exception)\b"
)
_SUMMARIZATION = _rx(r"\b(?:summari[sz]e|summary|tl;?dr|key (?:points|takeaways)|in a nutshell|condense|boil down)\b")
_REWRITE = _rx(
    r"\b(?:re-?write|rephrase|paraphrase|reword|proofread|translate|translation|copy-?edit"
    r"|(?:correct|fix|check) (?:the |my |this )?(?:grammar|spelling|punctuation)"
    r"|make (?:it|this|the following) (?:more|less|sound|shorter|longer|clearer|simpler)"
    r"|(?:shorten|simplify|polish|edit) (?:this|the following|my|it)\b"
    r"|in (?:formal|plain|simple|informal) (?:english|language|terms))"
)
_EXTRACTION = _rx(
    r"\b(?:extract|pull out|pick out|identify)\b[^.?!\n]*\b(?:from|in) (?:the |this |these |my |each )?"
    r"(?:following|above|below|text|passage|article|paragraph|e-?mail|invoice|document|receipt|sentence|table|review"
    r"|message|data|list|transcript|resume|cv)\b"
    r"|\bextract\b[^.?!\n]*:"
    r"|\b(?:from|in) (?:the|this) (?:email|e-mail|text|passage|article|paragraph|document|invoice|receipt|message)"
    r"\b[^.?!\n]*\b(?:extract|pull out|pick out|identify)\b"
    r"|\b(?:extract|list|find) (?:all |every |each )?(?:the )?(?:names?|dates?|e-?mail addresses|phone numbers"
    r"|addresses|entities|keywords|amounts|prices|people|places|locations|organi[sz]ations)\b[^.?!\n]*\b(?:in|from|mentioned)\b"
)
_CLASSIFICATION = _rx(
    r"\b(?:classify|classification of|categori[sz]e|which category|what category|sentiment|label (?:each|the|these)"
    r"|spam or (?:not|ham)|is (?:this|the following)\b.*\b(?:spam|sarcastic|toxic|positive|negative))\b"
    r"|\"?positive\"? or \"?negative\"?|\"?negative\"? or \"?positive\"?"
)
_CREATIVE_FORM = _rx(
    r"\b(?:poem|poetry|haiku|sonnet|limerick|verses?|lyrics|song|rap|ballad|story|stories|short story|tale|fable"
    r"|fairy tale|fan ?fic(?:tion)?|fiction|novel|screenplay|joke|pun|riddle|chord progression|melody"
    r"|product description|slogan|tagline|jingle)\b"
)
_CODING_WEAK = _rx(
    r"\b(?:write|implement|create|define|refactor|optimi[sz]e|fix)\s+(?:\w+\s+){0,3}(?:function|program|class|method)s?\b"
    r"|\bfunctions?\s+(?:that|which)\b|\b(?:this|my|the following) (?:function|code|program|script)\b"
    r"|\b(?:write|fix|review|explain|debug|optimi[sz]e|refactor) (?:\w+ ){0,3}code\b"
    r"|\bcode (?:snippet|review|that|which)\b"
    r"|\b(?:debug\w*|algorithms?|stack ?trace|unit tests?|source code|programming|compiler|api endpoint|git)\b"
    r"|\bbugs? in (?:my|the|this|your)\b"
)
_ARITHMETIC = re.compile(r"\d\s*[+*×÷=^]\s*\d|\d\s+[-/]\s+\d|\b\d*[a-z]\s*\^\s*\d|\b\d+[a-z]\s*[+-]\s*\d+\s*=")
_MATH_TERM = _rx(
    r"\b(?:solve for|equations?|derivative|differentiate|integral|integrate|calculus|algebra|geometry|trigonometry"
    r"|probability|theorem|prove that|proof|matri(?:x|ces)|eigen\w*|logarithm|polynomial|factorial|square root"
    r"|prime factori[sz]ation|arithmetic|mathematics|math problem|fractions?|perimeter|hypotenuse|integer)\b"
)
_WORD_PROBLEM = _rx(
    r"\b(?:how (?:many|much|long|far|fast|old)|calculate|compute|what is the (?:sum|product|total|average))\b"
)
_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")
_WRITING = _rx(
    r"\bwrite (?:me )?(?:a|an|the|some|my)?\s*(?:\w+\s+){0,3}(?:essay|letter|e-?mail|speech|toast|blog(?: post)?"
    r"|article|tweet|post|ad|advert(?:isement)?|bio|biography|review|description|dialogue|monologue|scene|script"
    r"|invitation|message|card|eulogy|chapter|narrative|caption)s?\b"
    r"|\bin the style of\b|\bimagine\b|\bpretend\b|\brole-?play\b|\bonce upon a time\b"
)
_BRAINSTORMING = _rx(
    r"\b(?:brainstorm\w*|(?<!main )ideas?|suggest(?:ions?)?|recommend(?:ations?)?|tips|ways to|names? for|come up with"
    r"|alternatives|arguments? (?:for|against)|pros and cons|what are some|give (?:me )?(?:some|a few|\d+|two|three"
    r"|four|five|a list of)|list (?:some|a few|\d+|ideas))\b"
)
_SMALL_TALK = _rx(
    r"(?:hi|hello|hey|hiya|yo|greetings|good (?:morning|afternoon|evening|night)|thanks?(?: you)?(?: so much)?|thx"
    r"|bye|goodbye|see you|how are you(?: doing)?(?: today)?|how's it going|what's up|sup|who are you"
    r"|what(?:'s| is) your name|are you (?:an? )?(?:ai|bot|robot|human|real|chatgpt)|nice to meet you|lol|ok(?:ay)?"
    r"|cool|great|test(?:ing)?)(?: (?:there|friend|buddy|mate|bot|again|everyone))?"
)
_REFERENCE_MARKER = _rx(
    r"\b(?:based on|according to|using|given|from|in) (?:the|this) (?:following |above |provided |given )?"
    r"(?:text|passage|article|paragraph|context|document|excerpt|story|email|report|table|reference|information)\b"
    r"|^\s*(?:context|passage|text|article|document|reference|excerpt)\s*:",
    re.IGNORECASE | re.MULTILINE,
)
_QUESTION = _rx(
    r"\?|^\s*(?:who|whom|whose|what|what's|when|where|why|which|how|is|are|was|were|do|does|did|can|could|should"
    r"|would|will|explain|describe|define|tell me|compare|list|name)\b",
    re.IGNORECASE | re.MULTILINE,
)


def classify_prompt(text: str) -> str:
    """The category id of a prompt (a key of CATEGORIES), by the rules in this module's docstring."""
    if _is_code(text):
        return "coding"
    for category, pattern in (
        ("summarization", _SUMMARIZATION),
        ("rewrite", _REWRITE),
        ("extraction", _EXTRACTION),
        ("classification", _CLASSIFICATION),
        ("creative_writing", _CREATIVE_FORM),
        ("coding", _CODING_WEAK),
    ):
        if pattern.search(text):
            return category
    if _is_math(text):
        return "math"
    if _WRITING.search(text):
        return "creative_writing"
    if _BRAINSTORMING.search(text):
        return "brainstorming"
    if _is_small_talk(text):
        return "chat"
    if _QUESTION.search(text):
        return "closed_qa" if _has_reference(text) else "open_qa"
    return "chat"


def category_id(name: str) -> str:
    """The id of a category given its id or display name (any case); ValueError naming the known ones."""
    wanted = name.strip().casefold()
    for key, display in CATEGORIES.items():
        if wanted in (key, display.casefold()):
            return key
    raise ValueError(f"unknown category {name!r}; expected one of {', '.join(CATEGORIES)}")


def _is_code(text: str) -> bool:
    if _LANGUAGE.search(text):
        return True
    if _AMBIGUOUS_LANGUAGE.search(text) or _INLINE_CODE.search(text):
        return True
    # A fence alone is not enough: prompts often fence an output template ("reply with JSON like this").
    return bool(_FENCE.search(text)) and bool(_CODE_LINE.search(_fenced(text)))


def _fenced(text: str) -> str:
    parts = re.split(r"```|~~~", text)
    return "\n".join(parts[1::2])


def _is_math(text: str) -> bool:
    if _ARITHMETIC.search(text) or _MATH_TERM.search(text):
        return True
    return bool(_WORD_PROBLEM.search(text)) and len(_NUMBER.findall(text)) >= 2


def _is_small_talk(text: str) -> bool:
    chunks = [c.strip() for c in re.split(r"[,.!?;:)(]+", text) if c.strip()]
    return bool(chunks) and all(_SMALL_TALK.fullmatch(c) for c in chunks)


def _has_reference(text: str) -> bool:
    if _REFERENCE_MARKER.search(text):
        return True
    paragraphs = [p for p in re.split(r"\n\s*\n", text) if p.strip()]
    return len(paragraphs) >= 2 and any(len(p.split()) >= 40 for p in paragraphs)
