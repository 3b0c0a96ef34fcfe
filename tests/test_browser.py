"""The built site in a real browser: headless Chromium (the system's), offline.

`make browser` (part of `make test`) builds the site first when a source
changed, then runs this file. The first test checks every page of
_build/html and prints the per-page table; the others show, on small pages
made here, that each check fails when it should.
"""
import dataclasses
import json
import os
import pathlib
import re
import shutil

import pytest

from helpers import ROOT

import bookpdf
import browsercheck
import frontpage

SITE = pathlib.Path(os.environ.get("SCALEBOOK_SITE", ROOT / "_build" / "html"))
"""The built site to check: `make browser` points this at its stored-output
build; by default, the site `make book` built."""
SHOTS = ROOT / "_build" / "screenshots"
REPORT = ROOT / "_build" / "browser-report.md"


def test_every_page_of_the_built_site_reads_right_in_chromium(capsys):
    if not (SITE / "index.html").exists():
        pytest.fail("no built site in _build/html: run `make browser` (it builds it)")
    if SHOTS.exists():
        shutil.rmtree(SHOTS)

    results = browsercheck.check_site(SITE, SHOTS)

    report = browsercheck.table(results)
    REPORT.write_text(report + "\n", encoding="utf-8")
    with capsys.disabled():
        print("\n" + report + f"\n(screenshots in {SHOTS.relative_to(ROOT)}/)")
    pages = {r.page.split(" ")[0] for r in results}
    built = {f + ".html" for f in frontpage.toc_files(ROOT)}
    assert built <= pages, f"pages not checked: {sorted(built - pages)}"
    for r in results:
        assert r.screenshot and pathlib.Path(r.screenshot).stat().st_size > 10_000
    failures = [f"{r.page}: {p}" for r in results for p in r.problems()]
    assert not failures, "\n".join(failures)


BAD_PAGE = """<!DOCTYPE html><html><head><title>bad</title>
<script src="https://cdn.example.invalid/lib.js"></script></head><body>
<p>Inline math never typeset: <span class="math">\\(x^2\\)</span>.</p>
<img src="missing.png" alt="a figure that is not there">
<script type="application/vnd.jupyter.widget-view+json">{"model_id": "1"}</script>
<script>console.error("boom");</script>
<div class="solution admonition"><p class="admonition-title">Solution to Exercise 1.1</p>
<p>Six sevens make 42.</p></div>
<div class="cell"><div class="cell_input"><pre>sb.check("1.1", answer)</pre></div>
<div class="cell_output"><pre>[PASS] Exercise 1.1: correct (42 FLOPs).</pre></div></div>
<div class="sb-selfcheck" data-qid="1.1"><p>A box on a page with no exercise.</p></div>
</body></html>"""


def test_the_checks_fail_on_what_a_reader_would_trip_over(tmp_path):
    site = tmp_path / "html"
    site.mkdir()
    (site / "index.html").write_text("<html><body><p>home</p></body></html>")
    (site / "bad.html").write_text(BAD_PAGE)

    results = {r.page: r for r in browsercheck.check_site(site, tmp_path / "shots")}

    bad = results["bad.html"]
    assert not bad.ok
    assert any("boom" in m for m in bad.console)
    assert any("cdn.example.invalid" in m for m in bad.console), bad.console
    assert (bad.math, bad.untypeset) == (1, 1)
    assert bad.raw_tex
    assert bad.broken_images == ["missing.png"] and bad.images_ok == 0
    assert any("widget output" in p for p in bad.widget_problems)
    assert "no repository button" in bad.button_problems
    assert (bad.answers, bad.answers_shown) == (1, 1)
    assert any("visible before a toggle" in p for p in bad.answer_problems)
    assert any("says more than PASS" in p for p in bad.selfcheck_problems)
    assert any("boxes outside an exercise page" in p for p in bad.selfcheck_problems)
    assert (tmp_path / "shots" / "bad.png").exists()


EXERCISE_PAGE = """<!DOCTYPE html><html><body><article class="bd-article">
<section id="exercise-1-1"><h2>Exercise 1.1: counting</h2><p>How many?</p>
<div class="cell tag_hide-input"><details class="hide above-input"><summary>Show solution</summary>
<pre># BEGIN SOLUTION
answer = 6 * 7</pre></details></div>
<div class="solution admonition dropdown"><p class="admonition-title">Worked solution</p>
<p>Six sevens make 42.</p></div></section>
<section id="notes"><h2>Notes</h2>
<details><summary>More detail</summary><p>Not a solution.</p></details></section>
</article></body></html>"""


# An exercise page as sphinx-exercise builds it: each exercise a box with
# its answer cell's toggle inside, its solution a dropdown linking back.
def sphinx_exercise_html(n, title, code, worked):
    return f"""<div class="exercise admonition" id="ex-1-{n}"><p class="admonition-title">
<span class="caption-number">Exercise 1.{n} </span> ({title})</p>
<section id="exercise-content"><p>How many?</p>
<div class="cell tag_hide-input"><details class="admonition hide above-input">
<summary><p class="admonition-title">Show solution</p></summary>
<pre>{code}</pre></details></div></section></div>
<div class="solution dropdown admonition" id="sol-1-{n}"><p class="admonition-title">
Solution to<a class="reference internal" href="#ex-1-{n}"> Exercise 1.{n}</a></p>
<section id="solution-content"><p>{worked}</p></section></div>"""


SPHINX_EXERCISE_PAGE = ("""<!DOCTYPE html><html><body><article class="bd-article">
<section id="exercises"><h1>Exercises</h1>"""
                        + sphinx_exercise_html(1, "a solution in words", "answer = 6 * 7",
                                               "Six sevens make 42.")
                        + sphinx_exercise_html(2, "more", "answer = 8 * 9",
                                               "Eight nines make 72.")
                        + "</section></article></body></html>")


def test_pdf_appendix_groups_sphinx_exercise_solutions_by_exercise():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = browsercheck.launch(pw)
        page = browser.new_page()
        page.set_content(SPHINX_EXERCISE_PAGE)
        moved = page.evaluate(bookpdf.APPENDIX_JS)
        boxes = [page.inner_text(f"#ex-1-{i}") for i in (1, 2)]
        headings = page.eval_on_selector_all(
            "#appendix-worked-solutions h3", "hs => hs.map(h => h.textContent)")
        parts = page.eval_on_selector_all(
            "#appendix-worked-solutions h3 + div", "ds => ds.map(d => d.innerText)")
        browser.close()

    assert moved == 4, "two answer cells and two solutions"
    # The exercises stay where they were, with no answer and one link each.
    for box, answer in zip(boxes, ("42", "72")):
        assert answer not in box and "* " not in box
        assert box.count("see the appendix") == 1
    assert headings == ["Exercise 1.1 (a solution in words)", "Exercise 1.2 (more)"]
    assert "6 * 7" in parts[0] and "42" in parts[0] and "72" not in parts[0]
    assert "8 * 9" in parts[1] and "72" in parts[1] and "42" not in parts[1]


def test_pdf_moves_solutions_to_an_appendix_and_counts_pages(tmp_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = browsercheck.launch(pw)
        page = browser.new_page()
        page.set_content(EXERCISE_PAGE)
        moved = page.evaluate(bookpdf.APPENDIX_JS)
        exercise = page.inner_text("#exercise-1-1")
        appendix = page.inner_text("#appendix-worked-solutions")
        kept = page.inner_text("#notes")
        page.add_style_tag(content=bookpdf.PRINT_CSS)
        out = tmp_path / "x.pdf"
        page.pdf(path=str(out), format="A4")
        browser.close()

    assert moved == 2
    assert "42" not in exercise and "6 * 7" not in exercise
    assert "appendix" in exercise
    assert "Exercise 1.1" in appendix and "42" in appendix and "6 * 7" in appendix
    assert "Show solution" not in appendix
    assert "More detail" in kept, "a toggle that is not a solution stays in place"
    # Print CSS: the appendix starts a page of its own.
    assert bookpdf.page_count(out) == 2


# ---------------------------------------------------------------------------
# Self-check boxes judge as sb.check does
# ---------------------------------------------------------------------------
SELFCHECK_JS = ROOT / "tools" / "selfcheck" / "selfcheck.js"
BOX_DATA = re.compile(r'<script type="application/json" class="sb-selfcheck-spec">'
                      r'(.*?)</script>', re.S)


def site_boxes() -> list[dict]:
    """The data of every judging box of the built site's exercise pages."""
    out = []
    for page in sorted((SITE / "exercises").glob("[0-9]*.html")):
        for m in BOX_DATA.finditer(page.read_text(encoding="utf-8")):
            out.append(json.loads(m.group(1).replace("<\\/", "</")))
    return out


def trial_answers(spec: dict) -> list:
    """Answers to try on one item: right, each known mistake, others."""
    if spec["kind"] == "number":
        x = spec["expected"]
        tries = [x, x * (1 + spec["rtol"] / 2), x * 1.5, x * 0.7, x * 37,
                 x / 50, -x if x else -1.0, 0.0]
        return tries + [h["target"] for h in spec["hints"]]
    if spec["kind"] == "choice":
        words = list(spec["options"]) + ["nonsense"]
        words += [o.upper() + "-bound" for o in spec["options"]]
        return words + ["compute", "memory", "flops", "bandwidth", "ici"]
    want = spec["expected"]
    return ([tuple(want), tuple(want[:-1]), tuple(want) + (1,),
             tuple(w * 2 for w in want)]
            + [tuple(h["value"]) for h in spec["hints"]])


def typed(value) -> str:
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, tuple):
        return "(" + ", ".join(map(str, value)) + ")"
    return str(value)


def test_every_box_judges_typed_answers_as_sb_check_does():
    """For every item a box can judge, the verdict in the browser (status,
    and the message when it is not a PASS) equals scalebook.grading's on
    the same answer: right ones, each known mistake, and others."""
    from playwright.sync_api import sync_playwright

    from scalebook import grading

    boxes = site_boxes()
    if not boxes:
        pytest.fail(f"no self-check boxes in {SITE}: build the site first")
    cases = []
    for data in boxes:
        spec, qid = data["spec"], data["spec"]["qid"]
        leaves = ([(p["key"], p["spec"]) for p in spec["parts"]
                   if p["spec"]["kind"] != "run"]
                  if spec["kind"] == "parts" else [(None, spec)])
        top = grading.question(qid)
        for key, leaf in leaves:
            q = top.parts[key] if key is not None else top
            q = dataclasses.replace(q, expected=q._expected_value())  # once
            for answer in trial_answers(leaf):
                fb = q.grade(answer)
                cases.append({"spec": leaf, "rules": data["rules"],
                              "text": typed(answer), "status": fb.status,
                              "message": fb.message, "qid": q.qid})
    with sync_playwright() as pw:
        browser = browsercheck.launch(pw)
        page = browser.new_page()
        page.set_content("<html><body></body></html>")
        page.add_script_tag(path=str(SELFCHECK_JS))
        got = page.evaluate("""cases => cases.map(c => {
            try { return sbSelfCheck.judge(c.spec, c.rules, c.text); }
            catch (e) { return {status: 'threw', message: String(e)}; } })""",
                            cases)
        browser.close()
    wrong = [f"{c['qid']} {c['text']!r}: browser {g['status']} {g['message']!r}, "
             f"python {c['status']} {c['message']!r}"
             for c, g in zip(cases, got)
             if g["status"] != c["status"]
             or (c["status"] != "pass" and g["message"] != c["message"])]
    assert len(cases) > 500
    assert not wrong, f"{len(wrong)} of {len(cases)} differ:\n" + "\n".join(wrong[:20])
