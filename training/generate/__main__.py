"""Make and inspect supervised (SFT) data for `python -m training.sft`.

    python -m training.generate self-instruct --generator smollm2-135m-greedy --target 50 --out data/self_instruct.jsonl
    python -m training.generate role-play --user-model smollm2-135m-creative --assistant-model smollm2-135m-greedy \\
        --target 20 --turns 3 --out data/role_play.jsonl
    python -m training.generate export-saved --db sqlite:///arena.db --out data/saved.jsonl
    python -m training.generate mix data/self_instruct.jsonl --target instructgpt

Each subcommand is one module of this package with `add_arguments(parser)` and `run(args) -> int`; this file only
dispatches. Exit codes: 0 done, 1 the work failed (no record could be made), 2 bad arguments or input.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# subcommand -> (module of this package, one-line help)
SUBCOMMANDS = {
    "self-instruct": ("self_instruct", "bootstrap instructions from the 175 seed tasks (Self-Instruct), filtered"),
    "role-play": ("role_play", "dialogues between a simulated user (a persona, a topic) and an assistant model"),
    "export-saved": ("saved_export", "the direct-chat exchanges people saved as training examples, as chat JSONL"),
    "mix": ("mix", "a set's task-category mix against InstructGPT's and its length distributions; sample to a mix"),
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m training.generate", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for name, (module, help_text) in SUBCOMMANDS.items():
        command = commands.add_parser(name, help=help_text, description=help_text)
        importlib.import_module(f"training.generate.{module}").add_arguments(command)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    module = importlib.import_module(f"training.generate.{SUBCOMMANDS[args.command][0]}")
    return int(module.run(args))


if __name__ == "__main__":
    sys.exit(main())
