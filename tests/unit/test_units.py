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
    import builtins
    real_import = builtins.__import__

    def no_myst(name, *a, **k):
        if name.startswith("myst_nb"):
            raise ImportError(name)
        return real_import(name, *a, **k)
    monkeypatch.setattr(builtins, "__import__", no_myst)
    u.glue("x", "42 ms")
    u.glue("y", "7 GB", display=True)
    assert capsys.readouterr().out == "7 GB\n"
