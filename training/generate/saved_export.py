"""The direct-chat answers people saved as training examples, as the chat JSONL `python -m training.sft --chat` reads.

    python -m training.generate export-saved --db sqlite:///data/arena.db --out data/saved.jsonl
    python -m training.generate export-saved --db postgresql://arena@db:5432/arena --out saved.jsonl --set direct-chat

One line per saved answer, its newest version, with the person's edit as the last assistant message when they made
one, and a "provenance" object (store.sft_examples). The operator holds the database: this reads it with
Store.open_existing (never created or migrated) and writes --out atomically. No saved example (in the set, or at
all) is exit 2 and writes nothing: an empty file would silently replace a good export.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from store import Store


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", help="database URL (default: the arena's settings)")
    parser.add_argument("--out", type=Path, required=True, help="the chat JSONL file to write")
    parser.add_argument("--set", dest="set_name", metavar="NAME", help="one saved set (default: every set)")


def run(args: argparse.Namespace) -> int:
    from store import DATABASE_ERRORS, Store, StoreError

    try:
        url = args.db
        if url is None:
            from settings import Settings

            url = Settings().resolved_database_url
        if args.out.is_dir():
            raise ValueError(f"--out {args.out} is a folder; give a file name such as {args.out / 'saved.jsonl'}")
        store = Store.open_existing(url)
        try:
            records = store.sft_examples.write_chat_jsonl(args.out, args.set_name)
            if records == 0:
                raise ValueError(_nothing(store, args.set_name))
        finally:
            store.dispose()
    except (ValueError, OSError, StoreError, *DATABASE_ERRORS) as exc:
        print(f"error: {_one_line(exc)}", file=sys.stderr)
        return 2
    which = f"set {args.set_name!r}" if args.set_name else "every set"
    print(f"wrote {records} saved example{'s' if records != 1 else ''} ({which}) to {args.out}")
    return 0


def _nothing(store: Store, set_name: str | None) -> str:
    sets = [summary.set_name for summary in store.sft_examples.sets()]
    if not sets:
        return "nobody has saved a training example in this database yet; nothing was written"
    return f"no saved examples in set {set_name!r} (sets: {', '.join(sets)}); nothing was written"


def _one_line(exc: BaseException) -> str:
    # SQLAlchemy errors carry the statement over several lines; the first line says what failed.
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
