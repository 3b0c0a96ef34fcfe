"""The explorers' tables are `scalebook.tabular.Table`s with raw numbers."""
from jax.sharding import PartitionSpec as P

from scalebook.explore import sharding as exs
from scalebook.explore import transformer as ext
from scalebook.tabular import Table


def test_flops_table_shows_the_ratio_and_marks_components_without_matmuls():
    t = ext.flops_table([("Q", 1000, 1000.0), ("norm", 0, 37.0),
                         ("MLP", 2000, 2010.0)])
    assert isinstance(t, Table)
    assert t.column("XLA/formula") == [1.0, "(no matmul)", 1.005]
    assert t.text_rows()[2] == ["MLP", "2,000", "2,010", "1.0050"]
    assert str(t).splitlines()[3].endswith("(no matmul)")


def test_sharding_static_table_prices_each_choice_and_flags_invalid_ones():
    choices = ((P("X", None), P(None, "Y"), P("X", "Y")),
               (P("X", "X"), P(), P()))
    t = exs.static_table(choices, compile=False)
    assert t.column("bound")[1] is None and t.column("textbook")[1] == \
        "invalid"
    an = exs.analyze(*choices[0], chips=("TPU v5e",))
    assert t.column("comms")[0] == an.times["TPU v5e"].comms_s
    assert t.text_rows()[1][3:5] == ["-", "-"]
