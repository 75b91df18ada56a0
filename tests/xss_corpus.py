"""Script-injection payloads, shared by the HTML-level tests (tests/test_display.py) and the browser
(tests/test_browser.py).

Each payload, if it ever ran, would execute `{js}`; the tests fill in a marker (e.g. `window.__xss=7`) or
`alert(7)` and check that nothing ran and that no link with a script scheme can be clicked. Families:
OWASP's XSS filter evasion cheat sheet (tags, event handlers, encodings, broken markup), markdown's own ways of
making links (inline, reference definitions in quotes and lists, autolinks, images), the two bypasses found in
the hand-written escaping this replaced, math and diagram renderers of the chat component, and lookalike text.
"""

from __future__ import annotations

PAYLOADS: dict[str, str] = {
    # ---- HTML tags and event handlers (OWASP) ----------------------------------------------------
    "script tag": "<script>{js}</script>",
    "script tag, uppercase and spaced": "<SCRIPT >{js}</SCRIPT >",
    "img onerror": "<img src=x onerror={js}>",
    "img onerror, quoted": '<img src="x" onerror="{js}">',
    "svg onload": "<svg onload={js}>",
    "svg with script": "<svg><script>{js}</script></svg>",
    "body onload": "<body onload={js}>",
    "iframe javascript": '<iframe src="javascript:{js}"></iframe>',
    "iframe srcdoc": '<iframe srcdoc="<script>{js}</script>"></iframe>',
    "anchor javascript": '<a href="javascript:{js}">click</a>',
    "anchor with a tab in the scheme": '<a href="jav\tascript:{js}">click</a>',
    "anchor with entity-encoded scheme": '<a href="&#106;avascript:{js}">click</a>',
    "details ontoggle": "<details open ontoggle={js}>x</details>",
    "input autofocus": "<input autofocus onfocus={js}>",
    "object data": '<object data="javascript:{js}"></object>',
    "embed data url": '<embed src="data:text/html,<script>{js}</script>">',
    "meta refresh": '<meta http-equiv="refresh" content="0;url=javascript:{js}">',
    "base href": '<base href="javascript:{js}//">',
    "style import": "<style>@import 'javascript:{js}';</style>",
    "math xlink": '<math><mi xlink:href="javascript:{js}">x</mi></math>',
    "attribute breakout": '"><img src=x onerror={js}>',
    "nested script": "<scr<script>ipt>{js}</scr</script>ipt>",
    "comment confusion": '<!--<img src="--><img src=x onerror={js}//">',
    "unclosed tag": "<img src=x onerror={js} ",
    # ---- markdown links and images ----------------------------------------------------------------
    "inline link": "[click](javascript:{js})",
    "inline link, mixed case": "[click](JaVaScRiPt:{js})",
    "inline link in angle brackets": "[click](<javascript:{js}>)",
    "inline link, encoded colon": "[click](javascript&#58;{js})",
    "inline link, entity scheme": "[click](&#x6A;avascript:{js})",
    "inline link, vbscript": "[click](vbscript:{js})",
    "inline link, data url": "[click](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "reference link": "[click][1]\n\n[1]: javascript:{js}",
    "reference link in a quote": "> [click][1]\n>\n> [1]: javascript:{js}",
    "reference link in a list item": "- [click][1]\n\n  [1]: javascript:{js}",
    "autolink": "<javascript:{js}>",
    "autolink breakout": '<http://example.com/"onmouseover="{js}">',
    "image javascript": "![x](javascript:{js})",
    "image breakout": '![x](x" onerror="{js})',
    # ---- the two bypasses of the regex escaping ---------------------------------------------------
    "code span opened by an escaped backtick": "\\`<img src=x onerror={js}>`",
    "escaped backtick, then a real link": "\\`x` [click](javascript:{js})",
    # ---- renderers inside the chat component --------------------------------------------------------
    "katex href": "$$\\href{{javascript:{js}}}{{x}}$$",
    "mermaid click": '```mermaid\ngraph TD; A-->B; click A href "javascript:{js}"\n```',
    # ---- lookalikes --------------------------------------------------------------------------------
    "full-width scheme": "[click](ｊａｖａｓｃｒｉｐｔ:{js})",
    "zero-width inside the scheme": "[click](java\u200bscript:{js})",
}

SCRIPT_SCHEMES = ("javascript:", "vbscript:", "data:")


def filled(js: str) -> dict[str, str]:
    return {
        name: payload.replace("{js}", js).replace("{{", "{").replace("}}", "}") for name, payload in PAYLOADS.items()
    }
