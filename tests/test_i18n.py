"""Translations stay in step with the English source (locale/coverage.yml).

- every message of the English source is translated, and not fuzzy, on
  each page a language declares complete (one gettext build of the source);
- no translation drops or changes a protected token (glue, cross-
  references, math, inline code, link targets) or breaks MyST;
- bad input (a .po with a syntax error, a msgstr with an unclosed role, a
  catalog for a page that is gone) fails the check with the file, the line
  and what to do, not a Sphinx traceback;
- the language switch, and the English checks leaving a translated site
  inside the English one alone.
A translated build: tests/test_i18n_build.py; the translated notebooks:
tests/test_i18n_notebooks.py.
"""
from __future__ import annotations

import pathlib
import shutil
import sys

import pytest

from helpers import ROOT

sys.path.insert(0, str(ROOT / "tools"))
import i18n  # noqa: E402
import langsite  # noqa: E402

LANGS = list(i18n.languages().values())


# --------------------------------------------------------------------------
# The real catalogs

@pytest.fixture(scope="module")
def pots():
    """The English source's messages, extracted once (gettext build)."""
    return i18n.gettext_build()


def test_declared_pages_have_every_english_message_translated_and_not_fuzzy(pots):
    problems = i18n.check(pots=pots, coverage=True)
    assert not problems, "\n".join(map(str, problems[:40])) + (
        f"\n... {len(problems)} problems in all" if len(problems) > 40 else "")


def test_every_language_declares_real_pages_and_has_a_catalog_per_page():
    pages = i18n.catalog_names()
    assert "intro" in pages and "ui" in pages and len(pages) > 20
    for lang in LANGS:
        assert set(lang.pages) <= set(pages)
        missing = [p for p in pages if not lang.catalog(p).exists()]
        assert not missing, f"{lang.code}: no catalog for {missing}: run make i18n-update"


def test_mongolian_holds_the_front_page_and_the_conclusion():
    mn = i18n.language("mn")
    assert {"intro", "chapters/11_conclusion"} <= set(mn.pages)
    c = i18n.counts(mn.catalog("chapters/11_conclusion"))
    assert c.total > 20 and c.translated == c.total


def test_no_translation_drops_a_protected_token_or_breaks_myst():
    problems = i18n.check(coverage=False)
    assert not problems, "\n".join(map(str, problems[:40]))


# --------------------------------------------------------------------------
# Protected tokens and MyST

GLUE = "{glue:text}`01_rooflines.ipynb::ch01_cb_v5e:s`"


@pytest.mark.parametrize("msgid, msgstr", [
    (f"A v5e needs {GLUE} tokens.", "v5e 需要 个词元。"),                      # glue dropped
    (f"A v5e needs {GLUE} tokens.", "v5e 需要 {glue:text}`01_rooflines.ipynb::ch01_cb_v5p:s` 个词元。"),
    ("See {numref}`ex-1-2`.", "见 {numref}`ex-1-3`。"),                     # target changed
    ("See {doc}`01_rooflines`.", "见第一章。"),
    ("Time is $T = F / C$ here.", "时间为 $T = F/C$。"),                     # math changed
    ("Call `sb.chip(\"v5e\")` first.", "先调用 `sb.chip('v5e')`。"),          # code changed
    ("Read [the docs](https://docs.jax.dev/a).", "阅读[文档](https://docs.jax.dev/b)。"),
    ("Read <https://docs.jax.dev/a>.", "阅读文档。"),
])
def test_a_dropped_or_changed_token_is_reported(msgid, msgstr):
    assert i18n.token_problems(msgid, msgstr)


@pytest.mark.parametrize("msgid, msgstr", [
    (f"A v5e needs {GLUE} tokens; $B$ counts.", f"$B$ 计数；v5e 需要 {GLUE} 个词元。"),
    ("See {numref}`ex-1-2`.", "见{numref}`练习 %s <ex-1-2>`。"),            # own link text
    ("A {term}`shard` of it.", "它的一个{term}`分片 <shard>`。"),
    ("Read [the docs](https://docs.jax.dev/a).", "阅读[文档](https://docs.jax.dev/a)。"),
])
def test_reordered_words_and_translated_link_text_pass(msgid, msgstr):
    assert i18n.token_problems(msgid, msgstr) == []
    assert i18n.myst_problems(msgstr) == []


@pytest.mark.parametrize("msgstr, says", [
    ("见 {numref}`ex-1-2 和更多", "backticks"),
    ("见 {numref} ex-1-2", "no `content`"),
    ("--- 开头", "front matter"),
    ("时间 $T = F / C", "`$`"),
    ("见 [文档][jax]", "indirect link"),
])
def test_a_msgstr_that_breaks_myst_is_named(msgstr, says):
    assert any(says in p for p in i18n.myst_problems(msgstr)), i18n.myst_problems(msgstr)


# --------------------------------------------------------------------------
# Bad input: file, line, what to do; no traceback

def _book(tmp_path: pathlib.Path) -> pathlib.Path:
    """A copy of the book's declarations with a locale of its own."""
    root = tmp_path / "book"
    (root / "locale").mkdir(parents=True)
    shutil.copyfile(ROOT / "_toc.yml", root / "_toc.yml")
    (root / "locale" / "coverage.yml").write_text(
        "languages:\n  zh_CN:\n    label: 中文\n    site: zh\n    pages: [chapters/11_conclusion]\n",
        encoding="utf-8")
    src = i18n.language("zh_CN").catalogs
    shutil.copytree(src, root / "locale" / "zh_CN" / "LC_MESSAGES",
                    ignore=shutil.ignore_patterns("*.mo"))
    return root


def _translate_all(path: pathlib.Path, text: str = "译文") -> None:
    import polib
    po = polib.pofile(str(path))
    for e in po:
        e.msgstr = e.msgid if i18n.protected(e.msgid) else text
    po.save()


def test_a_po_syntax_error_names_file_and_line(tmp_path):
    root = _book(tmp_path)
    po = root / "locale/zh_CN/LC_MESSAGES/chapters/11_conclusion.po"
    lines = po.read_text(encoding="utf-8").splitlines()
    at = next(i for i, l in enumerate(lines) if l.startswith("msgstr") and i > 20)
    lines[at] = 'msgstr "未闭合的引号'
    po.write_text("\n".join(lines) + "\n", encoding="utf-8")

    problems = i18n.check(root=root, coverage=False)

    assert len(problems) == 1, problems
    p = problems[0]
    assert p.file.endswith("chapters/11_conclusion.po") and str(p.line) == str(at + 1)
    assert "msgfmt -c" in p.what


def test_an_unclosed_role_in_a_msgstr_names_file_line_and_fix(tmp_path):
    import polib
    root = _book(tmp_path)
    path = root / "locale/zh_CN/LC_MESSAGES/chapters/11_conclusion.po"
    po = polib.pofile(str(path))
    entry = next(e for e in po if "{doc}`01_rooflines`" in e.msgid)
    entry.msgstr = "芯片的两个数字告诉你答案（{doc}`01_rooflines）。"
    po.save()

    problems = i18n.check(root=root, coverage=False)

    assert problems and all(p.file.endswith("11_conclusion.po") for p in problems)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[problems[0].line - 1].startswith('msgstr "芯片'), problems[0]
    assert any("backticks" in p.what or "dropped" in p.what for p in problems)


def test_a_catalog_for_a_page_that_is_gone_says_to_remove_it(tmp_path):
    root = _book(tmp_path)
    gone = root / "locale/zh_CN/LC_MESSAGES/chapters/99_gone.po"
    shutil.copyfile(root / "locale/zh_CN/LC_MESSAGES/chapters/11_conclusion.po", gone)

    problems = i18n.check(root=root, coverage=False)

    assert [p.file for p in problems] == [str(gone)]
    assert "git rm" in problems[0].what and "99_gone" in problems[0].what


def test_the_checker_command_reports_bad_input_without_a_traceback(tmp_path, capsys,
                                                                    monkeypatch):
    root = _book(tmp_path)
    po = root / "locale/zh_CN/LC_MESSAGES/intro.po"
    po.write_text(po.read_text(encoding="utf-8") + '\nmsgid "x"\nmsgstr "y\n',
                  encoding="utf-8")
    monkeypatch.setattr(i18n, "ROOT", root)
    monkeypatch.setattr(i18n, "check", lambda codes=None, pots=None, coverage=True,
                        root=root, _check=i18n.check: _check(codes, pots, coverage, root))

    rc = i18n.main(["lint"])

    out = capsys.readouterr().out
    assert rc == 1
    assert "intro.po:" in out and "not closed" in out and "Traceback" not in out


def test_coverage_names_untranslated_and_fuzzy_messages(tmp_path):
    import polib
    root = _book(tmp_path)
    path = root / "locale/zh_CN/LC_MESSAGES/chapters/11_conclusion.po"
    lang = i18n.language("zh_CN", root)
    po = polib.pofile(str(path))
    po[3].msgstr = ""                      # one message left untranslated
    po.save()
    assert any("untranslated" in p.what for p in i18n.coverage_problems(lang, None))
    _translate_all(path)
    assert i18n.coverage_problems(lang, None) == []
    po = polib.pofile(str(path))
    po[3].flags.append("fuzzy")
    po.save()
    problems = i18n.coverage_problems(lang, None)
    assert len(problems) == 1 and "fuzzy" in problems[0].what


# --------------------------------------------------------------------------
# The language switch

def test_the_switch_links_each_page_to_the_same_page_in_the_other_edition(tmp_path):
    site = tmp_path / "html"
    head = '<html><head></head><body><div class="article-header-buttons">x</div></body></html>'
    for folder in (site, site / "zh"):
        (folder / "_static").mkdir(parents=True)
        (folder / "chapters").mkdir()
        (folder / "index.html").write_text(head)
        (folder / "chapters" / "01_rooflines.html").write_text(head)
    (site / "chapters" / "only_english.html").write_text(head)

    assert langsite.add_switches(site) == 4
    assert langsite.add_switches(site) == 0  # idempotent
    en = (site / "chapters/01_rooflines.html").read_text()
    zh = (site / "zh/chapters/01_rooflines.html").read_text()
    assert 'href="../zh/chapters/01_rooflines.html"' in en and ">中文<" in en
    assert 'href="../../chapters/01_rooflines.html"' in zh and ">English<" in zh
    assert "lang-switch" not in (site / "chapters/only_english.html").read_text()


def test_a_translated_site_inside_the_english_one_is_a_site_of_its_own(tmp_path):
    """The English site's checks (links, browser) do not walk into _build/html/zh/."""
    import checklinks
    site = tmp_path / "html"
    for folder in (site, site / "zh"):
        (folder / "_static").mkdir(parents=True)
        (folder / "index.html").write_text("<html></html>")
    (site / "zhongwen.html").write_text("<html></html>")
    assert [p.relative_to(site).as_posix() for p in checklinks.pages(site)] == \
        ["index.html", "zhongwen.html"]
    assert [p.relative_to(site).as_posix() for p in checklinks.pages(site / "zh")] == \
        ["zh/index.html"]
