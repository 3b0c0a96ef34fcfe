"""Sphinx extension: the reader checks an answer on the website itself.

Two changes to the exercise pages:

- **Answer boxes.** Each exercise gets a box at the end of its frame, after
  its check cell. The reader types an answer and presses Check (or Enter);
  the page says PASS, NOT YET with the hint `sb.check` would give, WRONG
  TYPE or NOT ATTEMPTED, with no kernel and no network. What a box knows
  comes from `scalebook.selfcheck`, computed here at build time from the
  question definitions (`scalebook.exercises.chNN`): there is no second copy
  of a hint. An item whose answer is code, or whose expected value is read
  from a program compiled on the reader's machine, gets a note instead:
  run it in Jupyter or Colab (with a Colab link to the student notebook and
  the notebook to download). The box never shows the expected value; it is
  in the page's data, as the worked solution is.
- **Check outputs without values.** A stored `sb.check` output names the
  value that passed ("correct (5449 tokens)."); on every page each PASS line
  is cut to "correct." (`scalebook.grading.without_value`), so no answer is
  one "show output" click away. A live kernel still prints the whole line.

The script (tools/selfcheck/selfcheck.js) and its stylesheet load on
exercise pages only. The box data are cached in the doctree folder, keyed
by a hash of the library's source (computing them compiles a few programs).
"""
from __future__ import annotations

import hashlib
import html
import json
import pathlib
import re
import sys

from docutils import nodes
from sphinx.util import logging

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent
STATIC = HERE / "selfcheck"
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT / "lib"))  # the book's own library, not a copy
import exercise_directives  # noqa: E402

logger = logging.getLogger(__name__)
PAGE = re.compile(r"^exercises/(\d+)_[^/]+$")
HTML_BUILDERS = ("html", "dirhtml")  # not the PDF's single page


def chapter_of(docname: str) -> int | None:
    """The chapter of an exercise page (exercises/07_inference -> 7)."""
    m = PAGE.match(docname)
    return int(m.group(1)) if m else None


def library_hash() -> str:
    digest = hashlib.sha256()
    for p in sorted((ROOT / "lib").rglob("*.py")):
        digest.update(p.relative_to(ROOT).as_posix().encode())
        digest.update(p.read_bytes())
    return digest.hexdigest()[:16]


def specs(app, chapter: int) -> dict[str, dict]:
    """Box data of a chapter's questions (cached per library version)."""
    cache = pathlib.Path(app.doctreedir) / "selfcheck" / \
        f"ch{chapter:02d}-{library_hash()}.json"
    if cache.exists():
        return json.loads(cache.read_text(encoding="utf-8"))
    import scalebook
    from scalebook import selfcheck

    try:
        scalebook.use_cpu_devices(8)  # the exercises' meshes need 8
    except RuntimeError:
        pass  # JAX already started here; questions needing 8 will say so
    data = selfcheck.chapter_specs(chapter)
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps(data), encoding="utf-8")
    return data


def _rules() -> dict:
    from scalebook import selfcheck

    return selfcheck.rules()


def colab_url(app, notebook: str) -> str:
    """The Colab link that opens `notebook` (a path in the repository)."""
    opts = app.config.html_theme_options or {}
    repo = (opts.get("repository_url") or "").rstrip("/")
    branch = opts.get("repository_branch") or "main"
    base = ((opts.get("launch_buttons") or {}).get("colab_url")
            or "https://colab.research.google.com").rstrip("/")
    path = "/".join(p for p in (opts.get("path_to_docs", "").strip("/"),
                                notebook) if p)
    return f"{base}/github/{repo.split('github.com/')[-1]}/blob/{branch}/{path}"


# ---------------------------------------------------------------------------
# The boxes
# ---------------------------------------------------------------------------
def _field(box_id: str, key: str | None, spec: dict) -> str:
    fid = f"{box_id}-{re.sub(r'[^a-z0-9]+', '-', (key or 'answer').lower())}"
    label = html.escape(key) if key else "Your answer"
    part = f' data-part="{html.escape(key)}"' if key else ""
    extra, note = "", ""
    if spec["kind"] == "number":
        extra = ' inputmode="decimal"'
        unit = spec.get("unit")
        note = (f"in {html.escape(unit)}" if unit else "a number")
    elif spec["kind"] == "choice":
        listing = ", ".join(html.escape(o) for o in spec["options"])
        note = f"one of: {listing}"
    elif spec["kind"] == "shape":
        note = "a shape, such as (128, 512)"
    return (f'<div class="sb-selfcheck-field"><label for="{fid}">{label}'
            f'</label><input id="{fid}" type="text"{part}{extra} '
            f'autocomplete="off" spellcheck="false" '
            f'aria-describedby="{fid}-note"><span class="sb-selfcheck-note" '
            f'id="{fid}-note">{note}</span></div>')


def run_note(qid: str, why: str, colab: str, download: str,
             parts: list[str] | None = None) -> str:
    what = ("Your answer here is code" if why == "code" else
            "This checker compiles the program on your machine and reads "
            "what XLA made of it")
    if parts:
        what = (f"Part{'s' if len(parts) > 1 else ''} "
                f"{', '.join(html.escape(p) for p in parts)}: the checker "
                "compiles the program on your machine and reads what XLA "
                "made of it")
    return (f'<p class="sb-selfcheck-run">{what}, so this page cannot check '
            f'it: run this in Jupyter or Colab, where '
            f'<code>sb.check("{html.escape(qid)}", ...)</code> does. '
            f'<a href="{html.escape(colab)}">Open in Colab</a> or '
            f'<a href="{html.escape(download)}" download>download the '
            f'notebook</a>.</p>')


def box_html(qid: str, spec: dict, rules: dict, colab: str,
             download: str) -> str:
    """The HTML of one exercise's box."""
    box_id = "sb-check-" + qid.replace(".", "-")
    title = (f'<p class="sb-selfcheck-title" id="{box_id}-title">Check your '
             f'answer to Exercise {html.escape(qid)} here</p>')
    if spec["kind"] == "run":
        return (f'<div class="sb-selfcheck sb-selfcheck-runonly" '
                f'data-qid="{html.escape(qid)}">'
                + run_note(qid, spec["why"], colab, download) + "</div>")
    if spec["kind"] == "parts":
        fields = "".join(_field(box_id, p["key"], p["spec"])
                         for p in spec["parts"] if p["spec"]["kind"] != "run")
        measured = [p["key"] for p in spec["parts"]
                    if p["spec"]["kind"] == "run"]
        after = run_note(qid, "measured", colab, download, measured) \
            if measured else ""
    else:
        fields, after = _field(box_id, None, spec), ""
    data = json.dumps({"spec": spec, "rules": rules}).replace("</", "<\\/")
    return (f'<div class="sb-selfcheck" data-qid="{html.escape(qid)}" '
            f'role="group" aria-labelledby="{box_id}-title">{title}'
            f'<form class="sb-selfcheck-form" novalidate>{fields}'
            f'<button type="submit">Check</button></form>'
            f'<div class="sb-selfcheck-result" role="status" '
            f'aria-live="polite"></div>{after}'
            f'<script type="application/json" class="sb-selfcheck-spec">'
            f'{data}</script></div>')


def add_boxes(app, doctree, docname: str) -> None:
    """doctree-resolved: a box at the end of each exercise's frame."""
    chapter = chapter_of(docname)
    if chapter is None or app.builder.name not in HTML_BUILDERS:
        return
    from sphinx_exercise.nodes import exercise_enumerable_node

    data, rules = specs(app, chapter), _rules()
    stem = docname.split("/")[-1]
    colab = colab_url(app, f"exercises/student/{stem}.ipynb")
    download = f"../_sources/exercises/student/{stem}.ipynb"
    for node in doctree.findall(exercise_enumerable_node):
        num = exercise_directives.number(node.get("label", ""))
        if num is None:
            continue  # tools/exercisenumbers.py reports such labels
        qid = f"{num[0]}.{num[1]}"
        if qid not in data:
            logger.warning(f"exercise {qid} has no question in "
                           f"scalebook.exercises.ch{chapter:02d}, so it gets "
                           "no answer box: register one", location=docname)
            continue
        node.append(nodes.raw("", box_html(qid, data[qid], rules, colab,
                                           download), format="html"))


def add_assets(app, pagename, templatename, context, doctree) -> None:
    """html-page-context: the box script and style, exercise pages only."""
    if chapter_of(pagename) is not None:
        app.add_js_file("selfcheck.js")
        app.add_css_file("selfcheck.css")


def add_static(app) -> None:
    """builder-inited: serve tools/selfcheck/ as static files. (It is not
    the book's _static/, whose every .js Jupyter Book adds to every page.)"""
    app.config.html_static_path.append(str(STATIC))


# ---------------------------------------------------------------------------
# Check outputs: PASS, without the value
# ---------------------------------------------------------------------------
def redact_check_outputs(app, doctree) -> None:
    """doctree-read: each stored PASS line says only "correct."."""
    from scalebook.grading import without_value

    for block in doctree.findall(nodes.literal_block):
        if "output" not in block.get("classes", ()):
            continue
        text = block.astext()
        new = without_value(text)
        if new != text:
            block.children = [nodes.Text(new)]
            block.rawsource = new


def setup(app):
    # The boxes' data and script change with the library and the script,
    # which Sphinx does not watch: a change to either rebuilds every page.
    js = hashlib.sha256((STATIC / "selfcheck.js").read_bytes()).hexdigest()
    app.add_config_value("scalebook_selfcheck_hash",
                         library_hash() + js[:16], "env")
    app.connect("builder-inited", add_static)
    app.connect("doctree-read", redact_check_outputs)
    app.connect("doctree-resolved", add_boxes)
    app.connect("html-page-context", add_assets)
    return {"version": "1", "parallel_read_safe": True,
            "parallel_write_safe": True}
