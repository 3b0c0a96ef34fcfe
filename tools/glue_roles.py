"""Rewrite every plain-key {glue:text} role into the form a translation keeps.

A translated paragraph is parsed again without the notebook's glue data, so
``{glue:text}`key``` renders empty in the Chinese build. The pending form
``{glue:text}`<this notebook>.ipynb::key:s``` names the page whose glue data
holds the key, and renders the same in both builds (Sphinx resolves it after
every page is read). Run it after writing prose with new glue roles:

    python tools/glue_roles.py            rewrite chapters/ and exercises/
    python tools/glue_roles.py --check    exit 1 if a plain-key role is left

tests/test_glue_roles.py runs the check.
"""
from __future__ import annotations

import json
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
ROLE = re.compile(r"\{glue:text\}`([^`]+)`")


def pages() -> list[pathlib.Path]:
    """The notebooks whose Markdown is published (chapters, solution pages)."""
    return sorted([*ROOT.glob("chapters/*.ipynb"),
                   *ROOT.glob("exercises/[0-9]*.ipynb")])


def pending_form(body: str, page: str) -> str:
    """``key`` or ``key:fmt`` -> ``page::key:fmt`` (a format spec is kept)."""
    if "::" in body:
        return body
    key, sep, fmt = body.partition(":")
    return f"{page}::{key}:{fmt if sep else 's'}"


def plain_roles(path: pathlib.Path) -> list[tuple[int, str]]:
    """(cell index, role text) of every role not yet in the pending form."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    found = []
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "markdown":
            continue
        for m in ROLE.finditer("".join(cell["source"])):
            if "::" not in m.group(1):
                found.append((i, m.group(0)))
    return found


def rewrite(path: pathlib.Path) -> int:
    """Rewrite one notebook in place; returns the number of roles changed."""
    text = path.read_text(encoding="utf-8")
    nb = json.loads(text)
    changed = 0
    for cell in nb["cells"]:
        if cell["cell_type"] != "markdown":
            continue
        src = "".join(cell["source"])

        def sub(m: re.Match) -> str:
            nonlocal changed
            new = pending_form(m.group(1), path.name)
            changed += new != m.group(1)
            return "{glue:text}`" + new + "`"

        new_src = ROLE.sub(sub, src)
        if new_src != src:
            cell["source"] = new_src.splitlines(keepends=True)
    if changed:
        out = json.dumps(nb, indent=1, ensure_ascii=False) + "\n"
        path.write_text(out, encoding="utf-8")
    return changed


def main(argv: list[str]) -> int:
    if "--check" in argv:
        left = [(p, i, r) for p in pages() for i, r in plain_roles(p)]
        for p, i, r in left:
            print(f"{p} cell {i}: {r} (run python tools/glue_roles.py)")
        return 1 if left else 0
    total = sum(rewrite(p) for p in pages())
    print(f"{total} glue roles rewritten into the pending form")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
