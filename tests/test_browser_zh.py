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
