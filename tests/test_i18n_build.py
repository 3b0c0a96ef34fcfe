"""A translated build fills glue roles, translates exercise titles, toggle
labels and table-of-contents captions, and indexes Chinese for search: a
small book is built here with a hand-written catalog (tests/test_i18n.py
checks the book's own catalogs).
"""
import json
import pathlib
import subprocess
import sys

from helpers import ROOT

sys.path.insert(0, str(ROOT / "tools"))
PY = sys.executable


# --------------------------------------------------------------------------
# A translated build: glue, exercise titles, search (a two-cell book)

def _glue_nb() -> dict:
    md = lambda s: {"cell_type": "markdown", "metadata": {}, "source": s}  # noqa: E731
    glue = {"cell_type": "code", "execution_count": 1, "metadata": {}, "source": "glue()",
            "outputs": [{"output_type": "display_data", "data": {
                "application/papermill.record/text/plain": "'240'"},
                "metadata": {"scrapbook": {"mime_prefix": "application/papermill.record/",
                                           "name": "cb"}}}]}
    return {"cells": [
        md("# Rooflines\n\nA v5e needs {glue:text}`page.ipynb::cb:s` tokens per batch."),
        glue,
        md(":::{exercise-start} counting FLOPs\n:label: ex-1-1\n:::\n\nHow many FLOPs?"),
        {"cell_type": "code", "execution_count": 2, "metadata": {}, "source": "x = 1",
         "outputs": []},
        md(":::{exercise-end}\n:::"),
    ], "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                   "language": "python"}},
        "nbformat": 4, "nbformat_minor": 5}


PO = '''msgid ""
msgstr ""
"Content-Type: text/plain; charset=UTF-8\\n"
"Language: zh_CN\\n"

msgid "Rooflines"
msgstr "屋顶线模型"

msgid "A v5e needs {glue:text}`page.ipynb::cb:s` tokens per batch."
msgstr "v5e 每批需要 {glue:text}`page.ipynb::cb:s` 个词元。"

msgid "counting FLOPs"
msgstr "计算浮点运算次数"

msgid "Chapters"
msgstr "章节"
'''


def test_a_translated_build_fills_glue_translates_titles_and_captions_and_indexes_chinese(
        tmp_path):
    book = tmp_path / "book"
    (book / "locale/zh_CN/LC_MESSAGES").mkdir(parents=True)
    (book / "page.ipynb").write_text(json.dumps(_glue_nb()), encoding="utf-8")
    (book / "_toc.yml").write_text("format: jb-book\nroot: page\nparts:\n"
                                   "  - caption: Chapters\n    chapters:\n"
                                   "      - file: other\n", encoding="utf-8")
    (book / "other.md").write_text("# Other\n\nText.\n", encoding="utf-8")
    (book / "locale/zh_CN/LC_MESSAGES/page.po").write_text(PO, encoding="utf-8")
    tools = ROOT / "tools"
    (book / "_config.yml").write_text(f"""title: t
execute: {{execute_notebooks: "off"}}
sphinx:
  extra_extensions: [sphinx_exercise]
  local_extensions: {{translatable_titles: {tools}, exercisenumbers: {tools}, cjksearch: {tools},
                      translatable_prompts: {tools}}}
  config: {{language: zh_CN, locale_dirs: [locale/], gettext_compact: false}}
""", encoding="utf-8")
    jb = pathlib.Path(PY).parent / "jupyter-book"
    r = subprocess.run([str(jb), "build", str(book), "-W", "-n", "--keep-going"],
                       capture_output=True, text=True, cwd=book)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    html = (book / "_build/html/page.html").read_text(encoding="utf-8")
    assert "屋顶线模型" in html
    assert "v5e 每批需要 <span class=\"pasted-text\">240</span> 个词元" in html
    assert "计算浮点运算次数" in html and "counting FLOPs" not in html
    other = (book / "_build/html/other.html").read_text(encoding="utf-8")
    assert 'caption-text">章节' in other and 'caption-text">Chapters' not in other
    index = (book / "_build/html/searchindex.js").read_text(encoding="utf-8")
    index = json.loads(index[index.index("(") + 1:index.rindex(")")])
    assert {"词元", "每批", "需要"} <= set(index["terms"])
    assert {"屋顶", "顶线", "线模", "模型"} <= set(index["titleterms"])


def test_search_splits_chinese_into_pairs_like_the_browser():
    import cjksearch
    assert cjksearch.han_terms("分片方式与词元") == ["分片", "片方", "方式", "式与", "与词", "词元"]
    assert cjksearch.han_terms("用 JAX 的网") == ["用", "的网"]


