"""The front page's chapter map and table (tools/frontpage.py)."""
import json

import pytest

from helpers import ROOT

import frontpage


def write_book(tmp_path, toc_files, chapters_yml):
    (tmp_path / "_toc.yml").write_text(
        "format: jb-book\nroot: intro\nchapters:\n"
        + "".join(f"  - file: {f}\n" for f in toc_files))
    (tmp_path / "tools").mkdir()
    (tmp_path / "tools" / "chapters.yml").write_text(chapters_yml)
    return tmp_path


def test_chapters_in_the_toc_are_built_and_the_rest_planned():
    chapters = frontpage.load_chapters(ROOT)
    listed = set(frontpage.toc_files(ROOT))
    for c in chapters:
        assert c.built == (c.notebook is not None and c.notebook in listed)
        if c.built:
            assert frontpage.source_path(ROOT, c.notebook).exists()
            assert c.predict
    built = {c.notebook for c in chapters if c.built}
    assert built == {f for f in listed if f.startswith("chapters/")}, (
        "every chapter in _toc.yml needs an entry in tools/chapters.yml")


def test_a_built_chapter_without_a_prediction_is_an_error(tmp_path):
    root = write_book(tmp_path, ["chapters/01_a"], "- {id: 1, label: A, needs: []}\n")
    with pytest.raises(ValueError, match="predict"):
        frontpage.load_chapters(root)


def test_unknown_needs_and_cycles_are_errors(tmp_path):
    root = write_book(tmp_path, [], "- {id: 1, label: A, needs: [7]}\n")
    with pytest.raises(ValueError, match="unknown ids"):
        frontpage.load_chapters(root)
    (root / "tools" / "chapters.yml").write_text(
        "- {id: 1, label: A, needs: [2]}\n- {id: 2, label: B, needs: [1]}\n")
    with pytest.raises(ValueError, match="cycle"):
        frontpage.load_chapters(root)


def test_the_map_draws_only_direct_needs_and_links_only_built_chapters(tmp_path):
    root = write_book(tmp_path, ["chapters/01_a", "chapters/02_b"],
                      "- {id: 1, label: A, needs: [], predict: x}\n"
                      "- {id: 2, label: B, needs: [1], predict: y}\n"
                      "- {id: 3, label: C, needs: [1, 2]}\n")
    chapters = frontpage.load_chapters(root)
    assert [c.built for c in chapters] == [True, True, False]
    assert frontpage.direct_needs(chapters)["3"] == ("2",)
    assert frontpage.depths(chapters) == {"1": 0, "2": 1, "3": 2}

    svg = frontpage.draw_map(chapters, {"1": "a.html", "2": "b.html"})

    assert svg.startswith("<svg") and 'width="100%"' in svg
    links = [h for h in svg.split('xlink:href="')[1:] if not h.startswith("#")]
    assert sorted(h.split('"')[0] for h in links) == ["a.html"] * 2 + ["b.html"] * 2


def notebook(tmp_path, cells):
    path = tmp_path / "nb.ipynb"
    path.write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4,
                                "nbformat_minor": 5}))
    return path


def test_reading_time_counts_prose_and_code_a_reader_sees(tmp_path):
    words = " ".join(["word"] * 300)
    path = notebook(tmp_path, [
        {"cell_type": "markdown", "metadata": {}, "source": "# Title\n" + words},
        {"cell_type": "code", "metadata": {}, "source": words, "outputs": []},
        {"cell_type": "code", "metadata": {"tags": ["remove-cell"]},
         "source": words * 10, "outputs": []},
    ])
    assert frontpage.notebook_words(path) == 602
    assert frontpage.reading_minutes(path) == 4  # 602 words at 200 a minute
    assert frontpage.notebook_title(path) == "Title"
