"""scalebook.config: the architecture (Config) apart from the workload
(Workload), and the default workload of each preset."""
import pytest

from scalebook import counting as c
from scalebook.config import (DEFAULT_WORKLOADS, PRESETS, Config, Workload,
                              default_workload, preset)


def test_config_is_architecture_only():
    with pytest.raises(TypeError, match="'T'"):
        Config(D=64, F=128, L=1, N=4, K=2, H=16, V=32, T=8)


def test_workload_counts_tokens_per_step():
    w = Workload(B=3, T=512)
    assert (w.B, w.T, w.tokens) == (3, 512, 1536)


@pytest.mark.parametrize("field", ["B", "T"])
def test_workload_refuses_non_positive_and_non_int_sizes(field):
    sizes = dict(B=2, T=16)
    with pytest.raises(ValueError, match=f"Workload.{field} .* must be a "
                       f"positive int, got {field}=0"):
        Workload(**{**sizes, field: 0})
    with pytest.raises(TypeError, match=f"Workload.{field} .* must be an "
                       "int, got 2.5"):
        Workload(**{**sizes, field: 2.5})


def test_every_preset_has_a_default_workload():
    assert set(DEFAULT_WORKLOADS) == set(PRESETS)
    assert default_workload("tiny") == Workload(B=2, T=32)
    assert default_workload(preset("llama3-70b")) == Workload(B=1, T=8192)


def test_a_custom_config_has_no_default_and_is_told_what_to_give():
    cfg = Config(D=64, F=128, L=1, N=4, K=2, H=16, V=32, name="mine")
    with pytest.raises(ValueError, match="'mine' is not a preset.*give B "
                       r"\(sequences\) and T"):
        default_workload(cfg)
    # A config that only borrows a preset's name gets no default either.
    impostor = Config(D=32, F=128, L=1, N=4, K=2, H=16, V=32, name="tiny")
    with pytest.raises(ValueError, match="not a preset"):
        default_workload(impostor)
    with pytest.raises(ValueError, match="unknown model preset 'llama9'"):
        default_workload("llama9")


def test_counting_takes_the_workload_as_ints_or_as_a_workload():
    cfg = Config(D=64, F=128, L=2, N=4, K=2, H=16, V=32)
    by_ints = c.forward_flops_total(cfg, 3, 40)
    assert c.forward_flops_total(cfg, work=Workload(3, 40)) == by_ints
    assert c.train_flops_total(cfg, work=Workload(3, 40)) == 3 * by_ints
    # Twice the sequences: twice the FLOPs (every term is linear in B).
    assert c.forward_flops_total(cfg, 6, 40) == 2 * by_ints
    # A preset falls back on its default workload.
    w = default_workload("tiny-gqa")
    assert c.forward_flops_total("tiny-gqa") == c.forward_flops_total(
        "tiny-gqa", w.B, w.T)


def test_counting_refuses_a_missing_or_doubled_workload():
    cfg = Config(D=64, F=128, L=2, N=4, K=2, H=16, V=32)
    with pytest.raises(ValueError, match="no default workload"):
        c.forward_flops(cfg)
    with pytest.raises(ValueError, match="not both"):
        c.forward_flops(cfg, 1, 8, work=Workload(1, 8))
    with pytest.raises(ValueError, match="Workload.T .* positive"):
        c.train_flops_total(cfg, 1, 0)
    with pytest.raises(TypeError, match="must be a scalebook.config"
                       ".Workload"):
        c.forward_flops(cfg, work=(1, 8))
