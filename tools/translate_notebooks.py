"""Translated notebooks for Jupyter and Colab, from the page catalogs.

For each language of locale/coverage.yml with `notebooks: DIR`, writes

- chapters/DIR/NN_name.ipynb from chapters/NN_name.ipynb, and
- exercises/student/DIR/NN_name.ipynb from the student notebook
  exercises/student/NN_name.ipynb (tools/student.py),

by replacing, in every Markdown cell, each heading, paragraph, list item,
table cell and directive title whose text has a translation in the page's
catalog (locale/<lang>/LC_MESSAGES/<page>.po, the same catalogs the site is
built from).  Code cells, their outputs and the metadata are copied as they
are, byte for byte; an untranslated paragraph stays English.  The student
copies' exercise headings ("## Exercise 1.1: title") get the label from
sphinx-exercise's own translation and the title from the catalog.

These notebooks are generated: never edit them by hand; run
`make i18n-notebooks` (or this file) after changing a catalog or a notebook.

usage: python tools/translate_notebooks.py [--check] [LANG ...]
"""
from __future__ import annotations

import copy
import gettext
import json
import pathlib
import re
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import i18n  # noqa: E402
import student  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parent.parent
EXERCISE_HEADING = re.compile(r"^(#+ )Exercise (\d+\.\d+): (.*)$")
EXERCISE_TITLE = re.compile(r"^Exercise \d+\.\d+: ")  # counted by its title


def _parser():
    from markdown_it.renderer import RendererHTML
    from myst_parser.config.main import MdParserConfig
    from myst_parser.parsers.mdit import create_md_parser
    conf = i18n.config(None)
    exts = conf.get("parse", {}).get("myst_enable_extensions", [])
    return create_md_parser(MdParserConfig(enable_extensions=set(exts)), RendererHTML)


_MD = None


def key(text: str) -> str:
    """A block's text as Sphinx's gettext builder writes its msgid."""
    return text.replace("\n", " ").strip()


def translate_markdown(text: str, table: dict[str, str]) -> tuple[str, int, int]:
    """(translated text, characters translated, characters of prose) of one
    Markdown cell: each block whose text is a msgid of `table` is replaced
    by its msgstr, in place (its line's prefix, e.g. `## ` or `- `, kept)."""
    global _MD
    if _MD is None:
        _MD = _parser()
    lines = text.split("\n")
    done = total = 0
    # edits: (first line, last line + 1, new lines)
    edits: list[tuple[int, int, list[str]]] = []

    def walk(tokens, offset):
        nonlocal done, total
        for i, tok in enumerate(tokens):
            if tok.type == "inline" and tok.map:
                s, e = tok.map[0] + offset, tok.map[1] + offset
                msg = key(tok.content)
                if not msg or _is_math_only(msg) or EXERCISE_TITLE.match(msg):
                    continue
                total += len(msg)
                new = table.get(msg)
                if new is None:
                    continue
                done += len(msg)
                content = tok.content.split("\n")
                first = lines[s]
                if len(content) == 1 and content[0] in first and e - s == 1:
                    edits.append((s, e, [first.replace(content[0], new, 1)]))
                else:
                    at = first.find(content[0])
                    prefix = first[:at] if at >= 0 else ""
                    edits.append((s, s + len(content), [prefix + new]))
            elif tok.type in ("colon_fence", "fence") and tok.info.startswith("{") and tok.map:
                name, _, arg = tok.info.partition("}")
                arg = arg.strip()
                s = tok.map[0] + offset
                if arg:
                    total += len(arg)
                    if arg in table:
                        done += len(arg)
                        edits.append((s, s + 1, [lines[s].replace(arg, table[arg], 1)]))
                body = tok.content.split("\n")
                skip = 0
                while skip < len(body) and re.match(r"\s*:[\w-]+:", body[skip]):
                    skip += 1
                inner = "\n".join(body[skip:])
                if inner.strip():
                    walk(_MD.parse(inner), s + 1 + skip)

    walk(_MD.parse(text), 0)
    for s, e, new in sorted(edits, reverse=True):
        lines[s:e] = new
    return "\n".join(lines), done, total


def _is_math_only(msg: str) -> bool:
    return not i18n.MATH.sub("", msg).strip() or msg.startswith("$$")


def exercise_label(lang: i18n.Language) -> str:
    import sphinx_exercise
    where = pathlib.Path(sphinx_exercise.__file__).parent / "translations" / "locales"
    return gettext.translation("exercise", str(where), languages=[lang.code],
                               fallback=True).gettext("Exercise")


def translate_notebook(nb: dict, table: dict[str, str], label: str = "Exercise"
                       ) -> tuple[dict, int, int]:
    """(translated copy of nb, characters translated, characters of prose)."""
    nb = copy.deepcopy(nb)
    done = total = 0
    for cell in nb["cells"]:
        if cell["cell_type"] != "markdown":
            continue
        src, d, t = translate_markdown(student._source(cell), table)
        done, total = done + d, total + t
        lines = []
        for line in src.split("\n"):
            m = EXERCISE_HEADING.match(line)
            if m:  # a student copy's heading for an exercise-start cell
                title = table.get(m.group(3))
                total += len(m.group(3))
                done += len(m.group(3)) if title else 0
                sep = "：" if re.search(r"[\u4e00-\u9fff]", label) else ": "
                line = f"{m.group(1)}{label} {m.group(2)}{sep}{title or m.group(3)}"
            lines.append(line)
        new = "\n".join(lines)
        cell["source"] = _split_like(new, cell["source"])
    return nb, done, total


def _split_like(text: str, like) -> list[str] | str:
    if isinstance(like, str):
        return text
    return text.splitlines(keepends=True)


def targets(lang: i18n.Language) -> list[tuple[str, pathlib.Path, pathlib.Path]]:
    """(page, English notebook, translated notebook) of every notebook page."""
    out = []
    for page in i18n.book_pages():
        path = ROOT / f"{page}.ipynb"
        if not path.exists():
            continue
        if path.parent.name == "exercises":
            src = path.parent / "student" / path.name
            dst = path.parent / "student" / lang.notebooks / path.name
        else:
            src, dst = path, path.parent / lang.notebooks / path.name
        out.append((page, src, dst))
    return out


def generate(lang: i18n.Language, check: bool = False) -> tuple[list[str], dict]:
    """Write (or with check, compare) the translated notebooks of `lang`;
    returns (stale files, page -> share of prose translated)."""
    label = exercise_label(lang)
    stale, shares = [], {}
    for page, src, dst in targets(lang):
        nb = json.loads(src.read_text(encoding="utf-8"))
        new, done, total = translate_notebook(nb, i18n.translations(lang, page), label)
        shares[page] = done / total if total else 1.0
        text = json.dumps(new, indent=1, ensure_ascii=False) + "\n"
        if check:
            if not dst.exists() or dst.read_text(encoding="utf-8") != text:
                stale.append(str(dst.relative_to(ROOT)))
        else:
            dst.parent.mkdir(parents=True, exist_ok=True)
            dst.write_text(text, encoding="utf-8")
    return stale, shares


def main(argv: list[str]) -> int:
    check = "--check" in argv
    codes = [a for a in argv if a != "--check"]
    langs = ([i18n.language(c) for c in codes] if codes
             else [lang for lang in i18n.languages().values() if lang.notebooks])
    bad = 0
    for lang in langs:
        if not lang.notebooks:
            print(f"{lang.code}: no `notebooks:` folder in locale/coverage.yml")
            return 2
        stale, shares = generate(lang, check)
        done = sum(shares.values()) / len(shares) if shares else 0
        print(f"{lang.code}: {len(shares)} notebooks, prose translated "
              f"{done:.0%} on average"
              + ("" if check else f" (written under */{lang.notebooks}/)"))
        if stale:
            bad = 1
            print("translated notebooks out of date (run `make i18n-notebooks`):\n  "
                  + "\n  ".join(stale), file=sys.stderr)
    return bad


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
