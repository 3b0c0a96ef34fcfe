"""scalebook.tabular.Table: the one renderer for text and HTML tables."""
import numpy as np
import pytest

from scalebook.tabular import Table


def _table():
    return Table(["chip", "HBM (GB)", "year"],
                 [["v5e", 16.0, 2023], ["v5p", 95.25, 2023],
                  ["a much longer name", 1234.5, None]],
                 formats={"HBM (GB)": ",.1f"}, title="Some chips")


def test_numbers_are_right_aligned_and_text_left_aligned():
    lines = str(_table()).splitlines()
    assert lines[0] == "Some chips"
    header, rule, *rows = lines[1:]
    assert header.split() == ["chip", "HBM", "(GB)", "year"]
    assert set(rule) == {"-", " "}
    # Text starts at column 0; numbers end at the same column.
    assert rows[0].startswith("v5e ") and rows[2].startswith("a much")
    ends = {r.index(v) + len(v) for r, v in
            zip(rows, ["16.0", "95.2", "1,234.5"])}
    assert len(ends) == 1
    assert rows[0].endswith("2023") and rows[1].endswith("2023")


def test_formats_apply_to_numbers_and_missing_cells_show_a_dash():
    t = _table()
    assert t.text_rows()[2] == ["a much longer name", "1,234.5", "–"]
    assert t.text_rows()[1][1] == "95.2"     # ",.1f" rounds 95.25 to even
    # A function works as a format too, and raw numbers stay raw.
    t2 = Table(["n"], [[2048]], formats={"n": lambda x: f"{x / 1024:g} Ki"})
    assert t2.text_rows() == [["2 Ki"]] and t2.column("n") == [2048]


def test_column_gives_raw_values_and_unknown_names_say_which_exist():
    t = _table()
    assert t.column("HBM (GB)") == [16.0, 95.25, 1234.5]
    assert t.records()[0] == {"chip": "v5e", "HBM (GB)": 16.0, "year": 2023}
    with pytest.raises(KeyError, match="no column 'HBM'; columns: chip, "
                       "HBM \\(GB\\), year"):
        t.column("HBM")


def test_numpy_scalars_count_as_numbers_and_align_can_be_forced():
    t = Table(["a", "b"], [[np.int64(3), "x"], [np.float32(2.5), "yy"]])
    assert t._right(0) and not t._right(1)
    forced = Table(["a", "b"], [[1, "x"]], align={"a": "left", "b": "right"})
    assert str(forced).splitlines()[-1] == "1  x"
    assert not forced._right(0) and forced._right(1)


def test_html_escapes_every_cell_header_and_title():
    t = Table(["<b>", "x & y"], [["<script>alert(1)</script>", 1.5]],
              title="a < b")
    out = t._repr_html_()
    assert "<script>" not in out and "&lt;script&gt;" in out
    assert "<th style=\"text-align: left\">&lt;b&gt;</th>" in out
    assert "x &amp; y" in out and "<caption>a &lt; b</caption>" in out
    assert '<td style="text-align: right">1.5</td>' in out


def test_empty_table_shows_its_header_and_says_it_is_empty():
    t = Table(["kind", "bytes"], [], empty="(no collectives)")
    assert len(t) == 0 and t.column("kind") == []
    assert str(t).splitlines() == ["kind  bytes", "----  -----",
                                   "(no collectives)"]
    assert 'colspan="2">(no collectives)' in t._repr_html_()
    assert repr(t) == str(t)


def test_bad_tables_are_refused_with_the_fix():
    with pytest.raises(ValueError, match="row 1 has 1 cells but the header "
                       "has 2 columns"):
        Table(["a", "b"], [[1, 2], [3]])
    with pytest.raises(KeyError, match="formats names no column 'c'"):
        Table(["a", "b"], [], formats={"c": ".1f"})
    with pytest.raises(ValueError, match="'left' or 'right'"):
        Table(["a"], [], align={"a": "centre"})
    with pytest.raises(ValueError, match="must differ"):
        Table(["a", "a"], [])
