"""The front page's chapter map and chapter table, made at build time.

A Sphinx extension (loaded through `local_extensions` in _config.yml) with two
directives for intro.md:

- ``{chapter-map}`` draws the chapters of tools/chapters.yml and what each
  builds on, as an inline SVG (matplotlib). Built chapters link to their page;
  planned ones are drawn dashed and link nowhere.
- ``{chapter-table}`` lists each built chapter with its reading time (words of
  prose and code at READING_WPM words a minute), its running time (how long
  this build took to execute the notebook, from myst-nb's execution record)
  and what the reader can predict after it.

A chapter is built when _toc.yml lists its notebook. Both directives leave a
placeholder that a post-transform fills in once every notebook has run, as
myst-nb's own ``nb-exec-table`` does.
"""
from __future__ import annotations

import dataclasses
import io
import json
import math
import os
import pathlib
import posixpath
import re

import yaml
from docutils import nodes
from myst_nb.sphinx_ import NbMetadataCollector as Nb
from sphinx.addnodes import pending_xref
from sphinx.transforms.post_transforms import SphinxPostTransform
from sphinx.util.docutils import SphinxDirective

ROOT = pathlib.Path(__file__).resolve().parent.parent
MAP_FILE = ROOT / "tools" / "chapters.yml"
FLAG = "scalebook_frontpage"  # myst-nb doc data: this page has a placeholder
READING_WPM = 200
"""Reading speed, words a minute (myst's own default for reading time)."""


@dataclasses.dataclass(frozen=True)
class Chapter:
    id: str
    label: str
    needs: tuple[str, ...]
    predict: str | None
    notebook: str | None  # path without .ipynb, relative to the book root
    built: bool


def toc_files(root: pathlib.Path = ROOT) -> list[str]:
    """Every `file:` entry of _toc.yml (paths without suffix), in order."""
    toc = yaml.safe_load((root / "_toc.yml").read_text(encoding="utf-8"))
    found: list[str] = []

    def walk(node):
        if isinstance(node, dict):
            if "file" in node:
                found.append(str(node["file"]))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(toc)
    return found


def load_chapters(root: pathlib.Path = ROOT,
                  map_file: pathlib.Path | None = None) -> list[Chapter]:
    """The chapters of the map, each marked built or planned."""
    map_file = map_file or root / "tools" / "chapters.yml"
    entries = yaml.safe_load(map_file.read_text(encoding="utf-8"))
    listed = set(toc_files(root))
    ids = [str(e["id"]) for e in entries]
    if len(set(ids)) != len(ids):
        raise ValueError(f"{map_file}: chapter ids repeat: {ids}")
    chapters = []
    for e in entries:
        cid = str(e["id"])
        needs = tuple(str(n) for n in e.get("needs") or ())
        unknown = [n for n in needs if n not in ids]
        if unknown:
            raise ValueError(f"{map_file}: chapter {cid} needs unknown ids "
                             f"{unknown}; known: {ids}")
        notebook = e.get("notebook")
        if notebook is None and cid.isdigit():
            prefix = f"chapters/{int(cid):02d}_"
            notebook = next((f for f in listed if f.startswith(prefix)), None)
        built = notebook is not None and notebook in listed
        if built and not e.get("predict"):
            raise ValueError(f"{map_file}: chapter {cid} is built; give it a "
                             "`predict:` line (what a reader can predict after it)")
        chapters.append(Chapter(cid, e["label"], needs, e.get("predict"),
                                notebook if built else None, built))
    _check_acyclic(chapters)
    return chapters


def _check_acyclic(chapters: list[Chapter]) -> None:
    needs = {c.id: c.needs for c in chapters}
    state: dict[str, int] = {}

    def visit(cid, path):
        if state.get(cid) == 1:
            raise ValueError(f"tools/chapters.yml: the needs form a cycle: "
                             f"{' -> '.join(path + [cid])}")
        if state.get(cid) == 2:
            return
        state[cid] = 1
        for n in needs[cid]:
            visit(n, path + [cid])
        state[cid] = 2

    for c in chapters:
        visit(c.id, [])


def depths(chapters: list[Chapter]) -> dict[str, int]:
    """Column of each chapter in the map: the longest chain of needs before it."""
    needs = {c.id: c.needs for c in chapters}
    memo: dict[str, int] = {}

    def depth(cid):
        if cid not in memo:
            memo[cid] = 1 + max((depth(n) for n in needs[cid]), default=-1)
        return memo[cid]

    return {c.id: depth(c.id) for c in chapters}


def direct_needs(chapters: list[Chapter]) -> dict[str, tuple[str, ...]]:
    """Needs less those implied by another need (the arrows of the map)."""
    needs = {c.id: c.needs for c in chapters}

    def reaches(a, b):  # does a (transitively) need b?
        return any(n == b or reaches(n, b) for n in needs[a])

    return {c.id: tuple(n for n in c.needs
                        if not any(reaches(m, n) for m in c.needs if m != n))
            for c in chapters}


def source_path(root: pathlib.Path, page: str) -> pathlib.Path:
    """The file of a page (path without suffix): its notebook, or a
    Markdown page (a chapter with no code, such as the conclusion)."""
    for suffix in (".ipynb", ".md"):
        path = root / f"{page}{suffix}"
        if path.exists():
            return path
    raise ValueError(f"{page} has no .ipynb or .md file")


def _cells(path: pathlib.Path) -> list[dict]:
    if path.suffix == ".md":
        return [{"cell_type": "markdown", "metadata": {},
                 "source": path.read_text(encoding="utf-8")}]
    return json.loads(path.read_text(encoding="utf-8"))["cells"]


def notebook_words(path: pathlib.Path) -> int:
    """Words a reader reads in a notebook (or a Markdown page): its
    markdown and code sources."""
    words = 0
    for cell in _cells(path):
        tags = cell.get("metadata", {}).get("tags", [])
        if "remove-cell" in tags or ("remove-input" in tags
                                     and cell["cell_type"] == "code"):
            continue
        src = cell["source"]
        src = "".join(src) if isinstance(src, list) else src
        words += len(src.split())
    return words


def reading_minutes(path: pathlib.Path) -> int:
    """Reading time of a notebook, minutes, rounded up."""
    return max(1, math.ceil(notebook_words(path) / READING_WPM))


def notebook_title(path: pathlib.Path) -> str:
    """The first level-1 heading of a notebook (or a Markdown page)."""
    for cell in _cells(path):
        if cell["cell_type"] != "markdown":
            continue
        src = cell["source"]
        src = "".join(src) if isinstance(src, list) else src
        m = re.search(r"^# (.+)$", src, flags=re.M)
        if m:
            return m.group(1).strip()
    raise ValueError(f"{path} has no '# Title' heading")


def draw_map(chapters: list[Chapter], hrefs: dict[str, str]) -> str:
    """The chapter map as SVG text, read top to bottom; built chapters link
    to hrefs[id]."""
    import matplotlib
    from matplotlib.figure import Figure
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    row = depths(chapters)
    arrows = direct_needs(chapters)
    nrows = max(row.values()) + 1
    by_row: dict[int, list[Chapter]] = {}
    for c in chapters:
        by_row.setdefault(row[c.id], []).append(c)
    # Sizes in inches (the axes are drawn 1:1). Each row is centred, and
    # ordered by where the chapters it needs sit (fewer crossing arrows).
    w_box, h_box, pitch_x, pitch_y, caption = 1.55, 0.5, 1.75, 0.8, 0.4
    width = pitch_x * (max(len(v) for v in by_row.values()) - 1) + w_box + 0.2
    height = pitch_y * (nrows - 1) + h_box + 0.2
    x: dict[str, float] = {}
    for k in range(nrows):
        members = sorted(by_row.get(k, []), key=lambda c: (
            sum(x[n] for n in arrows[c.id]) / len(arrows[c.id])
            if arrows[c.id] else 0.0))
        for i, c in enumerate(members):
            x[c.id] = width / 2 + (i - (len(members) - 1) / 2) * pitch_x
    pos = {c.id: (x[c.id], 0.1 + h_box / 2 + row[c.id] * pitch_y)
           for c in chapters}

    fig = Figure(figsize=(width, height + caption))
    ax = fig.add_axes((0, caption / (height + caption), 1,
                       height / (height + caption)))
    ax.set_xlim(0, width)
    ax.set_ylim(height, 0)
    ax.axis("off")
    blue, grey = "#1f5f99", "#8a8a8a"
    for c in chapters:
        for n in arrows[c.id]:
            (x0, y0), (x1, y1) = pos[n], pos[c.id]
            ax.add_patch(FancyArrowPatch(
                (x0, y0 + h_box / 2), (x1, y1 - h_box / 2),
                arrowstyle="-|>", mutation_scale=10, lw=1.0,
                color=blue if c.built else grey, shrinkA=1, shrinkB=1))
    for c in chapters:
        cx, cy = pos[c.id]
        box = FancyBboxPatch((cx - w_box / 2, cy - h_box / 2), w_box, h_box,
                             boxstyle="round,pad=0,rounding_size=0.06",
                             lw=1.4 if c.built else 0.9,
                             ls="-" if c.built else (0, (3, 2)),
                             ec=blue if c.built else grey,
                             fc="#dce9f6" if c.built else "white")
        number = f"{c.id}  " if c.id.isdigit() else ""
        lines, line = [], ""
        for word in (number + c.label).split():
            if line and len(line) + 1 + len(word) > 15:
                lines.append(line)
                line = word
            else:
                line = f"{line} {word}".strip()
        lines.append(line)
        text = ax.text(cx, cy, "\n".join(lines), ha="center", va="center",
                       fontsize=10, linespacing=1.1,
                       color="#102a43" if c.built else "#6b6b6b",
                       fontweight="bold" if c.built else "normal")
        if c.built:
            box.set_url(hrefs[c.id])
            text.set_url(hrefs[c.id])
        ax.add_patch(box)
    fig.text(0.5, 0.12 / (height + caption),
             "Solid: written (click to open). Dashed: planned.\n"
             "An arrow leads from a chapter to the next ones that build on it.",
             ha="center", va="bottom", fontsize=8.5, color="#444444")
    buf = io.StringIO()
    with matplotlib.rc_context({"svg.hashsalt": "chapter-map",
                                "svg.fonttype": "path"}):
        fig.savefig(buf, format="svg", metadata={"Date": None})
    svg = buf.getvalue()
    svg = svg[svg.index("<svg"):]
    # Scale with the page: keep the viewBox, let the width follow the column.
    svg = re.sub(r'<svg([^>]*?) width="[^"]*" height="[^"]*"',
                 r'<svg\1 width="100%" style="height:auto"', svg, count=1)
    return svg


# --------------------------------------------------------------------------
# Sphinx glue (classes at module level: Sphinx pickles the doctrees)

class MapNode(nodes.General, nodes.Element):
    """Placeholder for the chapter map."""


class TableNode(nodes.General, nodes.Element):
    """Placeholder for the chapter table."""


class _Placeholder(SphinxDirective):
    node_class: type = MapNode

    def run(self):
        chapters = load_chapters()
        for path in (MAP_FILE, ROOT / "_toc.yml"):
            self.env.note_dependency(str(path))
        for c in chapters:
            if c.built:
                self.env.note_dependency(str(source_path(ROOT, c.notebook)))
        Nb.set_doc_data(self.env, self.env.docname, FLAG, True)
        return [self.node_class()]


class ChapterMap(_Placeholder):
    node_class = MapNode


class ChapterTable(_Placeholder):
    node_class = TableNode


class Fill(SphinxPostTransform):
    """Replace the placeholders once every notebook has been executed."""

    default_priority = 8  # before reference resolution (10)

    def run(self, **kwargs):
        maps = list(self.document.findall(MapNode))
        tables = list(self.document.findall(TableNode))
        if not (maps or tables):
            return
        chapters = load_chapters()
        here = self.env.docname
        hrefs = {c.id: self.app.builder.get_relative_uri(here, c.notebook)
                 for c in chapters if c.built}
        for node in maps:
            html = ('<figure class="chapter-map" role="img" aria-label='
                    '"Map of the chapters and what each builds on">'
                    f'{draw_map(chapters, hrefs)}</figure>')
            node.replace_self(nodes.raw("", html, format="html"))
        for node in tables:
            node.replace_self(self.table(chapters, here))

    def table(self, chapters, here):
        heads = ["Chapter", "Reading", "Running", "After it you can predict"]
        table = nodes.table(classes=["colwidths-auto", "chapter-table"])
        group = nodes.tgroup(cols=len(heads))
        table += group
        for _ in heads:
            group += nodes.colspec(colwidth=1)
        head = nodes.thead()
        group += head
        row = nodes.row()
        head += row
        for h in heads:
            row += nodes.entry("", nodes.paragraph(text=h))
        body = nodes.tbody()
        group += body
        for c in chapters:
            if not c.built:
                continue
            path = source_path(ROOT, c.notebook)
            runtime = (Nb.get_exec_data(self.env, c.notebook) or {}).get("runtime")
            ran = ("no code" if path.suffix == ".md" else "not measured"
                   if runtime is None else f"{runtime:.0f} s")
            target = posixpath.relpath(c.notebook, posixpath.dirname(here))
            link = pending_xref(refdoc=here, reftarget=target, reftype="doc",
                                refdomain="std", refexplicit=True, refwarn=True)
            link += nodes.inline(text=notebook_title(path))
            cells = [
                nodes.paragraph("", "", nodes.Text(f"{c.id}. "), link),
                nodes.paragraph(text=f"{reading_minutes(path)} min"),
                nodes.paragraph(text=ran),
                nodes.paragraph(text=c.predict[0].upper() + c.predict[1:]),
            ]
            row = nodes.row()
            body += row
            for cell in cells:
                row += nodes.entry("", cell)
        cores = os.cpu_count() or 1
        note = nodes.paragraph(text=(
            f"Reading time counts the words of prose and code at {READING_WPM} "
            "words a minute. Running time is how long the chapter's notebook "
            "took to execute, kernel start included, when the site was built "
            "(the build reuses the run of a notebook that has not changed), on "
            f"a machine with {cores} CPU core{'s' if cores > 1 else ''}."))
        container = nodes.container(classes=["chapter-table"])
        container += table
        container += note
        return container


def refresh(app, env):
    """Rewrite the front page whenever a notebook was executed again."""
    if not Nb.new_exec_data(env):
        return []
    return [doc for doc, data in Nb.get_doc_data(env).items() if data.get(FLAG)]


def setup(app):
    app.add_node(MapNode)
    app.add_node(TableNode)
    app.add_directive("chapter-map", ChapterMap)
    app.add_directive("chapter-table", ChapterTable)
    app.add_post_transform(Fill)
    app.connect("env-updated", refresh)
    return {"version": "1", "parallel_read_safe": True,
            "parallel_write_safe": True}
