"""The rule that decides which tests run again on the low-end JAX."""
import pathlib

from jax_use import jax_free_test_files, proven_jax_free, uses_jax

FREE = {"comms", "hardware"}


def test_a_module_importing_only_proven_modules_is_jax_free():
    src = ("import math\nimport pytest\nimport scalebook as sb\n"
           "from scalebook import comms\nfrom scalebook.hardware import chip\n"
           "def test_x():\n    sb.comms.all_gather\n    sb.hardware.chip\n")
    assert not uses_jax(src, FREE)


def test_jax_a_jax_layer_module_or_an_unknown_name_count_as_jax_using():
    assert uses_jax("import jax\n", FREE)
    assert uses_jax("import jax.numpy as jnp\n", FREE)
    assert uses_jax("from scalebook import model\n", FREE)
    assert uses_jax("import scalebook.hlo\n", FREE)
    assert uses_jax("from scalebook.sharding import x\n", FREE)
    assert uses_jax("import scalebook as sb\nsb.check\n", FREE)
    assert uses_jax("from hint_checks import sub\n", FREE)
    assert uses_jax("from . import helpers\n", FREE)


def test_the_proven_set_comes_from_test_jax_free_and_selects_some_files():
    free = proven_jax_free()
    assert {"hardware", "comms", "counting"} <= free
    chosen = jax_free_test_files(pathlib.Path(__file__).parent)
    assert "test_hardware.py" in chosen
    assert "test_exercises_ch05.py" not in chosen
