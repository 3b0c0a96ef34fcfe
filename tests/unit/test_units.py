"""Formatting numbers with units for the prose."""
import pytest

from scalebook import units as u


@pytest.mark.parametrize("x,unit,text", [(1.97e14, "FLOP/s", "197 TFLOP/s"),
                                         (8.2e11, "B/s", "820 GB/s"),
                                         (512, "B", "512 B"), (0, "B", "0 B")])
def test_si_prefixes(x, unit, text):
    assert u.si(x, unit) == text


@pytest.mark.parametrize("t,text", [(2.5, "2.5 s"), (3.2e-4, "320 µs"),
                                    (1.1e-3, "1.1 ms"), (4e-9, "4 ns"),
                                    (1e-12, "0.001 ns")])
def test_seconds(t, text):
    assert u.fmt_seconds(t) == text


def test_bytes_decimal_and_binary():
    assert u.fmt_bytes(3.4e7) == "34 MB"
    assert u.fmt_bytes(8 * 2**30, binary=True) == "8 GiB"
    assert u.fmt_bytes(100, binary=True) == "100 B"


def test_glue_outside_the_book_build_is_silent_or_prints(capsys, monkeypatch):
    import importlib.util
    real_find = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a:
                        None if name == "myst_nb" else real_find(name, *a))
    u.glue("x", "42 ms")
    u.glue("y", "7 GB", display=True)
    assert capsys.readouterr().out == "7 GB\n"


@pytest.mark.parametrize("value, display", [
    ("42 ms", False), ("7 GB", True), (3.5, False), ([1, 2], False)])
def test_glue_writes_exactly_what_myst_nb_glue_writes(monkeypatch, value,
                                                      display):
    glue_ext = pytest.importorskip("myst_nb.ext.glue")
    import IPython.display

    shown = []
    record = lambda obj, **kw: shown.append((obj, kw))   # noqa: E731
    monkeypatch.setattr(IPython.display, "display", record)
    monkeypatch.setattr(glue_ext, "ipy_display", record)
    u.glue("k", value, display=display)
    glue_ext.glue("k", value, display=display)
    assert len(shown) == 2 and shown[0] == shown[1]
    assert u.GLUE_PREFIX == glue_ext.GLUE_PREFIX
