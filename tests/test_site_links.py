"""The offline link checker that `make book` runs over _build/html."""
import pathlib

from helpers import ROOT

import checklinks

REPO = ("https://github.com/o/book", "main")


def site_with(tmp_path, pages: dict[str, str]) -> pathlib.Path:
    site = tmp_path / "html"
    for name, body in pages.items():
        path = site / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"<html><head></head><body>{body}</body></html>")
    return site


def problems(site, root=ROOT):
    return checklinks.check(site, root=root, repo=REPO)[0]


def test_links_to_existing_pages_and_anchors_pass(tmp_path):
    site = site_with(tmp_path, {
        "index.html": '<a href="ch/one.html#part-2">x</a> <a href="#top" id="top">t</a>'
                      '<img src="_static/a%20b.png"><link rel="stylesheet" href="s.css?v=1">',
        "ch/one.html": '<h2 id="part-2">Part 2</h2><a href="../index.html">home</a>',
    })
    (site / "_static").mkdir()
    (site / "_static" / "a b.png").write_bytes(b"png")
    (site / "s.css").write_text("")
    assert problems(site) == []


def test_a_missing_page_and_a_missing_anchor_are_reported(tmp_path):
    site = site_with(tmp_path, {
        "index.html": '<a href="gone.html">x</a> <a href="ch.html#nowhere">y</a>'
                      '<a href="#also-nowhere">z</a>',
        "ch.html": '<h2 id="somewhere">S</h2>',
    })
    found = problems(site)
    assert any("missing file: gone.html" in p for p in found)
    assert any("missing anchor: ch.html#nowhere" in p for p in found)
    assert any("missing anchor: #also-nowhere" in p for p in found)


def test_a_resource_from_the_network_is_reported_a_link_is_only_listed(tmp_path):
    site = site_with(tmp_path, {"index.html":
        '<script src="https://cdn.example.org/mathjax.js"></script>'
        '<link rel="stylesheet" href="//cdn.example.org/x.css">'
        '<a href="https://example.org/paper">paper</a>'})
    found, external, _ = checklinks.check(site, root=ROOT, repo=REPO)
    assert len(found) == 2 and all("from the network" in p for p in found)
    assert external == ["https://example.org/paper"]


def test_links_into_the_repository_must_name_a_file_of_it(tmp_path):
    colab = "https://colab.research.google.com/github/o/book/blob/main/"
    site = site_with(tmp_path, {"index.html":
        f'<a href="{REPO[0]}">repo</a>'
        f'<a href="{colab}exercises/student/01_rooflines.ipynb">ok</a>'
        f'<a href="{colab}exercises/student/99_nothing.ipynb">missing</a>'
        f'<a href="{REPO[0]}/blob/dev/intro.md">other branch</a>'
        '<a href="https://colab.research.google.com/github/x/y/blob/main/a.ipynb">x</a>'})
    found = problems(site)
    assert len(found) == 3, found
    assert any("99_nothing.ipynb, which is not in the repository" in p for p in found)
    assert any("names branch 'dev'" in p for p in found)
    assert any("outside the book's repository" in p for p in found)


def test_theme_templates_and_source_copies_are_not_pages(tmp_path):
    site = site_with(tmp_path, {"index.html": "<p>home</p>",
                                "_static/webpack-macros.html": '<a href="{{ x }}">',
                                "_sources/x.html": '<a href="gone.html">'})
    assert [p.name for p in checklinks.pages(site)] == ["index.html"]
    assert problems(site) == []


def test_the_configured_repository_is_read_from_config():
    import scalebook
    url, branch = checklinks.repository(ROOT)
    assert url == scalebook.REPOSITORY_URL and branch


def test_main_fails_without_a_built_site(tmp_path, capsys):
    assert checklinks.main(["checklinks", str(tmp_path)]) == 1
    assert "build the book first" in capsys.readouterr().out
