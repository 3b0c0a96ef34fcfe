"""The layout reader follows XLA's tiled-layout rules (Chapter 9)."""
import math

import pytest

from scalebook import hlo, hlo_layout as hl


def test_the_worked_example_of_xlas_document_lands_at_17():
    # F32[3,5] in 2x2 tiles: element (2,3) is in tile (1,1) at (0,1).
    lay = hl.parse("f32[3,5]{1,0:T(2,2)}")
    assert lay.linear_index((2, 3)) == (1 * 3 + 1) * 4 + 1
    assert lay.padded_dims == (4, 6)
    assert lay.stored_bytes == 4 * 6 * 4


def test_every_element_gets_its_own_slot_inside_the_buffer():
    for text in ["f32[3,5]{1,0:T(2,2)}", "bf16[6,10]{1,0:T(2,4)(2,1)}",
                 "f32[8,8]{1,0:T(2,4)(2,1,1,1)}", "f32[4,6]{0,1}"]:
        lay = hl.parse(text)
        pos = {lay.linear_index((i, j)) for i in range(lay.dims[0])
               for j in range(lay.dims[1])}
        assert len(pos) == lay.elements
        assert max(pos) < lay.stored_elements


def test_second_tile_of_two_rows_interleaves_pairs_of_rows():
    lay = hl.parse("bf16[4,8]{1,0:T(2,4)(2,1)}")
    # inside the first 2x4 tile, column j of rows 0 and 1 sit side by side
    assert [lay.linear_index((r, 1)) for r in (0, 1)] == [2, 3]
    assert lay.linear_index((0, 4)) == 8     # the next tile starts at 8


def test_tile_over_major_tile_indices_matches_the_documented_51():
    lay = hl.parse("f32[8,8]{1,0:T(2,4)(2,1,1,1)}")
    assert lay.linear_index((6, 5)) == 51


def test_bf16_tpu_tile_pads_a_32x32_matrix_four_times():
    lay = hl.parse("bf16[32,32]{1,0:T(8,128)(2,1)}")
    assert lay.logical_bytes == 32 * 32 * 2
    assert lay.stored_bytes == 32 * 128 * 2
    assert lay.padding_factor == 4
    assert "32-bit word" in lay.explain()


def test_memory_space_and_order_are_read():
    lay = hl.parse("bf16[64,16,2048]{2,1,0:T(8,128)(2,1)S(1)}")
    assert lay.memory_space == 1 and "VMEM" in lay.explain()
    col = hl.parse("f32[2,3]{0,1}")
    assert not col.row_major and col.physical_dims == (3, 2)
    assert col.linear_index((1, 0)) == 1


def test_plain_cpu_types_have_no_padding():
    lay = hl.parse("f32[64,128]{1,0}")
    assert lay.tiles == () and lay.padding_factor == 1
    assert hl.parse("f32[8]").order == (0,)


@pytest.mark.parametrize("bad, words", [
    ("f32[3,5]{1,1}", "each of the 2 dims once"),
    ("q32[3]", "unknown element type"),
    ("(f32[2], f32[3])", "layouts_in"),
    ("f32[4]{0:T(2,2)}", "more dims than the array"),
    ("f32[4,4]{1,0:T(2,4}", "cannot read the layout attribute"),
])
def test_bad_notation_says_what_is_wrong(bad, words):
    with pytest.raises(ValueError, match=words):
        hl.parse(bad)


def test_stored_excerpts_parse_and_say_they_are_illustrative():
    names = hl.excerpts()
    assert {"tpu_bf16_matmul", "tpu_collectives"} <= set(names)
    for name in names:
        text = hl.excerpt(name)
        assert "Illustrative" in text.splitlines()[0]
        ins = hlo.instructions(text)
        assert ins
        for i in ins.values():
            for lay in hl.layouts_in(i.shape):
                assert lay.stored_bytes >= lay.logical_bytes


def test_collectives_in_the_tpu_excerpt_are_counted():
    colls = hlo.collectives(hl.excerpt("tpu_collectives"))
    assert [c.kind for c in colls] == ["all-gather", "reduce-scatter"]
    ag, rs = colls
    assert ag.bytes_per_device == 1024 * 2048 * 2 * 3 / 4
    assert rs.bytes_per_device == 1024 * 512 * 4 * 3 / 4
    with pytest.raises(ValueError, match="no HLO excerpt"):
        hl.excerpt("nope")


def test_instructions_index_names_lines_and_callees():
    text = hl.excerpt("tpu_bf16_matmul")
    ins = hlo.instructions(text)
    f = ins["fusion.1"]
    assert f.opcode == "fusion" and f.calls == ("fused_matmul",)
    assert f.fusion_kind == "kOutput"
    assert text.splitlines()[f.line_no - 1].strip().startswith("ROOT %fusion.1")
    assert ins["dot.1"].computation == "fused_matmul"
