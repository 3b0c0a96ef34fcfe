"""The Chinese edition in headless Chromium (the system's), offline.

`make browser-zh` (part of `make test`) builds the Chinese site from the
stored outputs into the English test site's zh/ folder, then runs this file
with SCALEBOOK_SITE pointing at the English site.  Every Chinese page gets
browsercheck's checks (console errors, typeset math, images, buttons that
open the Chinese notebooks, no answer visible before its toggle); every page
of both editions carries the language switch; the search page splits a
Chinese query into the terms the index holds.

Without SCALEBOOK_SITE (the plain unit run) the site tests are skipped: the
site is built by `make browser-zh`, which sets it.
"""
import os
import re
import pathlib
import shutil

import pytest

from helpers import ROOT

import i18n
import langcheck

SITE = pathlib.Path(os.environ["SCALEBOOK_SITE"]) if os.environ.get("SCALEBOOK_SITE") else None
LANG = i18n.language(os.environ.get("SCALEBOOK_LANG", "zh_CN"))
SHOTS = ROOT / "_build" / f"screenshots-{LANG.site}"
# Screenshots of three pages: the front page, a chapter with figures and
# formulas, an exercise page (a full-page shot of every page costs minutes).
SHOT_PAGES = {"intro.html", "chapters/01_rooflines.html", "exercises/01_rooflines.html"}
needs_site = pytest.mark.skipif(SITE is None, reason="run by `make browser-zh`, "
                                "which builds the Chinese site and sets SCALEBOOK_SITE")


@needs_site
def test_every_chinese_page_reads_right_in_chromium(capsys):
    langcheck.cjk_font("zh")
    if SHOTS.exists():
        shutil.rmtree(SHOTS)

    results = langcheck.check_site(SITE, LANG, SHOTS, SHOT_PAGES)

    with capsys.disabled():
        print("\n" + langcheck.browsercheck.table(results)
              + f"\n(screenshots in {SHOTS.relative_to(ROOT)}/)")
    pages = {r.page.split(" ")[0] for r in results}
    built = {f + ".html" for f in i18n.book_pages()}
    assert built <= pages, f"Chinese pages not checked: {sorted(built - pages)}"
    for r in results:
        if r.page.split(" ")[0] in SHOT_PAGES:
            assert pathlib.Path(r.screenshot).stat().st_size > 10_000
    failures = [f"{r.page}: {p}" for r in results for p in r.problems()]
    assert not failures, "\n".join(failures)


@needs_site
def test_every_page_of_both_editions_switches_to_the_same_page():
    problems = langcheck.switch_problems(SITE, LANG)
    assert not problems, "\n".join(problems[:30])


@needs_site
def test_the_search_page_splits_a_chinese_query_as_the_index_does():
    import cjksearch
    query = "分片方式 FSDP"
    assert langcheck.search_split(SITE, LANG, query) == \
        cjksearch.han_terms(query) + ["FSDP"]


def test_the_button_check_fails_on_an_english_notebook(tmp_path):
    """On a Chinese page, a Colab button that opens the English notebook
    and a download of the English notebook are both reported."""
    res = langcheck.browsercheck.PageResult("chapters/01_rooflines.html")
    (tmp_path / "chapters").mkdir()
    (tmp_path / "en.ipynb").write_text('{"cells": []}')  # not the Chinese notebook
    repo = langcheck.checklinks.repository(ROOT)[0]
    dom = {"repository": [repo], "download": ["../en.ipynb"],
           "launch": ["https://colab.research.google.com/github/"
                      + repo.split("github.com/")[1] + "/blob/main/chapters/01_rooflines.ipynb"]}
    langcheck.lang_buttons(LANG)(res, dom, "chapters/01_rooflines.html", tmp_path,
                                 ROOT / "chapters/01_rooflines.ipynb")
    if LANG.notebooks:
        assert any("download button serves" in p for p in res.button_problems)
        assert any("Colab button opens" in p for p in res.button_problems)


def test_the_switch_check_fails_on_a_page_without_a_switch(tmp_path):
    site = tmp_path / "html"
    for folder, lang in ((site, "en"), (site / LANG.site, LANG.code.replace("_", "-"))):
        (folder / "_static").mkdir(parents=True)
        (folder / "index.html").write_text(f'<html lang="{lang}"><body></body></html>')
    problems = langcheck.switch_problems(site, LANG)
    assert len(problems) == 2 and all("no language switch" in p for p in problems)


ZH_EXERCISE_PAGE = """<!DOCTYPE html><html lang="zh-CN"><body><article class="bd-article">
<section id="exercises"><h1>练习：屋顶线模型</h1>
<div class="exercise admonition" id="ex-1-1"><p class="admonition-title">
<span class="caption-number">练习 1.1 </span> (计算 FLOPs)</p>
<section id="exercise-content"><p>需要多少次浮点运算？</p>
<div class="cell tag_hide-input"><details class="admonition hide above-input">
<summary><p class="admonition-title">显示解答</p></summary>
<pre># BEGIN SOLUTION
answer = 6 * 7</pre></details></div></section></div>
<div class="solution dropdown admonition" id="sol-1-1"><p class="admonition-title">
解答<a class="reference internal" href="#ex-1-1"> 练习 1.1</a></p>
<section id="solution-content"><p>六乘七得四十二。</p></section></div>
<div class="cell tag_hide-input"><details class="admonition hide above-input">
<summary><p class="admonition-title">显示代码单元</p></summary>
<pre>plot()</pre></details></div>
</section></article></body></html>"""


def test_the_chinese_pdf_moves_solutions_by_class_and_embeds_a_cjk_font(tmp_path):
    """No English word finds a Chinese solution; the appendix speaks
    Chinese; the printed PDF carries a CJK font, not empty boxes."""
    from playwright.sync_api import sync_playwright
    import bookpdf

    langcheck.cjk_font("zh")
    with sync_playwright() as pw:
        browser = langcheck.browsercheck.launch(pw)
        page = browser.new_page()
        page.set_content(ZH_EXERCISE_PAGE)
        moved = page.evaluate(bookpdf.APPENDIX_JS, bookpdf.labels("zh-CN"))
        box = page.inner_text("#ex-1-1")
        appendix = page.inner_text("#appendix-worked-solutions")
        hidden_plot = page.inner_text("#exercises > .cell")
        out = tmp_path / "zh.pdf"
        page.pdf(path=str(out), format="A4")
        browser.close()

    assert moved == 2, "the answer cell and the worked solution"
    assert "42" not in box and "6 * 7" not in box and "解答：见附录。" in box
    assert appendix.startswith("附录：习题解答")
    assert "练习 1.1 (计算 FLOPs)" in appendix and "四十二" in appendix
    assert "显示代码单元" in hidden_plot, "a hidden cell outside an exercise stays"
    fonts = set(re.findall(rb"/(?:BaseFont|FontName)\s*/[A-Z]{6}\+([\w-]+)", out.read_bytes()))
    assert any(b"CJK" in f or b"Hei" in f or b"Han" in f for f in fonts), fonts
