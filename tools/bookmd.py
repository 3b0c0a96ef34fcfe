"""Export the chapters as one Markdown file, for readers who feed the book to tools.

Reads the chapter notebooks listed in _toc.yml (in order) with their stored
outputs, and writes:

- markdown cells as they are, with each glued value ({glue:text}`name`)
  replaced by the value the notebook stored, {cite}`key` by [key] (the
  references are listed at the end), {doc}`path` by the notebook's path and
  a reference to an exercise ({numref}`ex-1-14`, {ref}`ex-1-14`) by its
  name, "Exercise 1.14";
- code cells as ```python blocks, without the nbval marker comments;
- outputs as text: streams and text/plain results as ```text blocks, text/markdown
  as Markdown, a figure as a one-line note (images are not embedded).

Cells tagged remove-cell are left out; remove-input and remove-output drop
the code or the outputs, as on the website.

usage: python tools/bookmd.py [_build/book.md]
"""
from __future__ import annotations

import json
import pathlib
import re
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import exercise_directives  # noqa: E402
import frontpage  # noqa: E402  (reads _toc.yml)

ROOT = pathlib.Path(__file__).resolve().parent.parent
GLUE_MIME = "application/papermill.record/"
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
NBVAL_MARKER = re.compile(r"^\s*#\s*NBVAL_[A-Z_]+\s*$")
FIGURE_NOTE = "*(Figure: see the website or run the notebook.)*"


def _text(value) -> str:
    return "".join(value) if isinstance(value, list) else (value or "")


def glued_values(nb: dict) -> dict[str, str]:
    """name -> stored text of every value the notebook glued."""
    values = {}
    for cell in nb["cells"]:
        for out in cell.get("outputs", []):
            name = out.get("metadata", {}).get("scrapbook", {}).get("name")
            text = out.get("data", {}).get(GLUE_MIME + "text/plain")
            if name and text is not None:
                text = _text(text)
                if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
                    text = text[1:-1]
                values[name] = text
    return values


def _glue(values: dict[str, str], where: str):
    def replace(m: re.Match) -> str:
        # `page.ipynb::key:spec` (the page-qualified form) or `key:spec`
        key, _, spec = m.group(2).rpartition("::")[2].partition(":")
        if key not in values:
            raise ValueError(f"{where}: {{glue}} `{key}` has no stored value; "
                             "re-execute the notebook")
        value = values[key]
        if spec:
            try:
                return format(float(value), spec)
            except ValueError:
                pass
        return value
    return replace


def convert_markdown(src: str, values: dict[str, str], where: str) -> str:
    src = re.sub(r"\{glue(:text|:md|:)?\}`([^`]+)`", _glue(values, where), src)
    src = re.sub(r"\{cite(:[a-z]+)?\}`([^`]+)`", lambda m: f"[{m.group(2)}]", src)
    src = re.sub(r"\{doc\}`(?:[^`<]*<)?([^`>]+)>?`",
                 lambda m: f"`{pathlib.PurePosixPath(m.group(1)).name}.ipynb`", src)
    src = re.sub(r"\{(?:num)?ref\}`(?:([^`<]*?)\s*<)?([^`>]+)>?`", _exercise, src)
    src = re.sub(r"\{term\}`([^`<]*?)(?:\s*<[^`>]+>)?`", lambda m: m.group(1), src)
    return src


def _exercise(m: re.Match) -> str:
    """A reference to an exercise label: its own text, else "Exercise N.M"."""
    num = exercise_directives.number(m.group(2))
    if num is None:
        return m.group(0)
    text = m.group(1) or "Exercise %s"
    return text.replace("%s", f"{num[0]}.{num[1]}")


def convert_outputs(outputs: list[dict]) -> list[str]:
    parts, text = [], []

    def flush():
        if text:
            parts.append("```text\n" + "".join(text).rstrip("\n") + "\n```")
            text.clear()

    for out in outputs:
        kind = out.get("output_type")
        data = out.get("data", {})
        if kind == "stream":
            text.append(_text(out.get("text")))
        elif kind in ("execute_result", "display_data"):
            if any(k.startswith(GLUE_MIME) for k in data) or WIDGET_MIME in data:
                continue
            if "text/markdown" in data:
                flush()
                parts.append(_text(data["text/markdown"]).strip())
            elif any(k.startswith("image/") for k in data):
                flush()
                parts.append(FIGURE_NOTE)
            elif "text/plain" in data:
                plain = _text(data["text/plain"])
                if plain.startswith("<IPython.core.display.HTML object>"):
                    flush()
                    parts.append(FIGURE_NOTE)
                else:
                    text.append(plain.rstrip("\n") + "\n")
        elif kind == "error":
            text.append(f"{out.get('ename')}: {out.get('evalue')}\n")
    flush()
    return parts


def notebook_markdown(path: pathlib.Path) -> str:
    """One notebook as Markdown (prose, code, outputs as text)."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    values = glued_values(nb)
    parts = []
    for cell in nb["cells"]:
        tags = set(cell.get("metadata", {}).get("tags", []))
        if "remove-cell" in tags:
            continue
        src = _text(cell.get("source"))
        if cell["cell_type"] == "markdown":
            parts.append(convert_markdown(src, values, str(path)).strip())
        elif cell["cell_type"] == "code":
            if "remove-input" not in tags:
                code = "\n".join(line for line in src.splitlines()
                                 if not NBVAL_MARKER.match(line)).strip("\n")
                if code:
                    parts.append("```python\n" + code + "\n```")
            if "remove-output" not in tags:
                parts += convert_outputs(cell.get("outputs", []))
    return "\n\n".join(p for p in parts if p) + "\n"


def references(keys: set[str], bib: pathlib.Path) -> str:
    """A short reference list for the cited keys, read from a BibTeX file."""
    text = bib.read_text(encoding="utf-8") if bib.exists() else ""
    lines = []
    for m in re.finditer(r"@\w+\{([^,]+),(.*?)\n\}", text, flags=re.S):
        key, body = m.group(1).strip(), m.group(2)
        if key not in keys:
            continue
        field = {f: re.search(rf"\b{f}\s*=\s*[{{\"](.+?)[}}\"],?\s*$", body, re.M | re.I)
                 for f in ("author", "title", "year", "url")}
        got = {f: re.sub(r"[{}]", "", v.group(1)) for f, v in field.items() if v}
        url = re.search(r"\\url\{([^}]+)\}", body)
        if url and "url" not in got:
            got["url"] = url.group(1)
        lines.append(f"- [{key}] {got.get('author', '')}. *{got.get('title', '')}*. "
                     f"{got.get('year', '')}. {got.get('url', '')}".rstrip(". ") + ".")
    return "\n".join(lines)


def chapter_notebooks(root: pathlib.Path = ROOT) -> list[pathlib.Path]:
    """The chapter notebooks listed in _toc.yml, in order."""
    return [root / f"{f}.ipynb" for f in frontpage.toc_files(root)
            if f.startswith("chapters/") and (root / f"{f}.ipynb").exists()]


def book_markdown(root: pathlib.Path = ROOT) -> str:
    import yaml

    title = yaml.safe_load((root / "_config.yml").read_text())["title"]
    chapters = chapter_notebooks(root)
    body = [f"<!-- {path.relative_to(root).as_posix()} -->\n\n" + notebook_markdown(path)
            for path in chapters]
    text = (f"<!-- {title}: the chapters as one Markdown file, generated by "
            "tools/bookmd.py from the executed notebooks. Outputs are as stored "
            "in the notebooks; figures are not included. -->\n\n"
            + "\n---\n\n".join(body))
    cited = set(re.findall(r"\[([A-Za-z][\w:-]*\d{4}[\w-]*)\]", text))
    refs = references(cited, root / "references.bib")
    if refs:
        text += "\n---\n\n# References\n\n" + refs + "\n"
    return text


def main(argv: list[str]) -> int:
    out = pathlib.Path(argv[1] if len(argv) > 1 else "_build/book.md")
    out.parent.mkdir(parents=True, exist_ok=True)
    text = book_markdown()
    out.write_text(text, encoding="utf-8")
    print(f"bookmd: {out}: {len(chapter_notebooks())} chapters, "
          f"{len(text.split())} words")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
