"""The glossary page: one term list, shared with the Chinese edition.

glossary.md defines the terms with Sphinx's `glossary` directive; the
Chinese edition translates them from locale/zh_CN/glossary.tsv (English
term, Chinese term, note). A term in the glossary that the list lacks would
go untranslated, so every glossary term must be in the list.
"""
import re

from helpers import ROOT

import frontpage

GLOSSARY = ROOT / "glossary.md"
TSV = ROOT / "locale" / "zh_CN" / "glossary.tsv"


def glossary_entries() -> dict[str, str]:
    """term -> its definition, read from the glossary directive."""
    text = GLOSSARY.read_text(encoding="utf-8")
    body = re.search(r"```\{glossary\}\n(.*?)\n```", text, re.S).group(1)
    entries, term = {}, None
    for line in body.splitlines():
        if not line.strip() or line.startswith(":"):
            continue
        if not line.startswith(" "):
            term = line.strip()
            entries[term] = ""
        else:
            entries[term] += line.strip() + " "
    return entries


def tsv_terms() -> dict[str, str]:
    rows = [ln.split("\t") for ln in TSV.read_text(encoding="utf-8").splitlines()
            if ln.strip() and not ln.startswith("#")]
    return {r[0]: r[1] for r in rows}


def test_every_glossary_term_is_in_the_chinese_term_list():
    missing = sorted(set(glossary_entries()) - set(tsv_terms()))
    assert not missing, (f"glossary terms missing from {TSV.relative_to(ROOT)}"
                         f" (add each with its Chinese term): {missing}")


def test_every_term_list_row_has_a_chinese_term():
    assert all(zh.strip() for zh in tsv_terms().values())


def test_each_entry_is_short_and_links_a_chapter_of_the_book():
    entries = glossary_entries()
    assert 70 <= len(entries) <= 110, len(entries)
    chapters = set(frontpage.toc_files(ROOT))
    for term, definition in entries.items():
        links = re.findall(r"\{doc\}`([^`]+)`", definition)
        assert links and all(link in chapters for link in links), (
            f"{term!r} must link a chapter of the book: {links}")
        sentences = re.split(r"(?<=[.!?])\s+(?=[A-Z(])", definition.strip())
        assert len(sentences) <= 4, f"{term!r} is too long: {definition}"


def test_the_glossary_is_in_the_table_of_contents():
    assert "glossary" in frontpage.toc_files(ROOT)
