"""Expert parallelism on GPU clusters: the closed forms of `gpu_moe`
against `scalebook.comms` (the full model) and against the reference
book's numbers (Part 12: all-to-all in and across nodes, the EP roofline,
the MoE data-parallel threshold)."""
import pytest

from scalebook import comms, gpu_moe, hardware

GB = 1e9
W_GPU = 450e9     # an H100's NVLink bandwidth (18 links x 25 GB/s)
W_NODE = 400e9    # an H100 node's InfiniBand egress (8 x 400 Gb/s)
C = 9.89e14       # H100 bf16 dense FLOP/s


def test_in_node_all_to_all_is_V_n_minus_1_over_W_n_squared():
    t = gpu_moe.in_node_all_to_all_time(GB, "H100")
    assert t == pytest.approx(GB * 7 / (W_GPU * 64))
    # comms, which prices every level of the cluster, agrees
    assert t == pytest.approx(
        comms.all_to_all(GB, {"g": 8}, "g", "H100").bandwidth_time)
    # and the book's round V / (8 W) is within the 7/8
    assert t / (GB / (8 * W_GPU)) == pytest.approx(7 / 8)


def test_in_node_all_to_all_beats_a_tpu_ring_of_the_same_egress_twice():
    # A TPU ring of 8 with wraparound, normalised by its egress along the
    # axis (both directions): V / (4 W).  The switch: about V / (8 W).
    v5e = hardware.chip("v5e")
    ring = comms.all_to_all(GB, {"x": 8}, "x", v5e, wraparound=True)
    ring_norm = ring.bandwidth_time * 2 * v5e.link_bw / GB
    gpu_norm = gpu_moe.in_node_all_to_all_time(GB, "H100") * W_GPU / GB
    assert ring_norm == pytest.approx(1 / 4)
    assert 2 <= ring_norm / gpu_norm <= 2.3   # 64 / 28 for n = 8


def test_ragged_top_k_factor():
    assert gpu_moe.ragged_factor(2, 8) == 2 / 8
    assert gpu_moe.ragged_factor(16, 8) == 1.0
    # the book's B k / (64 W): padded ~ B / (8 W) times k / 8
    k = 2
    assert GB / (8 * W_GPU) * gpu_moe.ragged_factor(k, 8) == \
        pytest.approx(GB * k / (64 * W_GPU))
    # exact expectation (1 - (7/8)^k) 7/8, below the approximation
    for k in (1, 2, 4, 8):
        exact = gpu_moe.ragged_factor(k, 8, exact=True)
        assert exact == pytest.approx((1 - (7 / 8) ** k) * 7 / 8)
        assert exact <= gpu_moe.ragged_factor(k, 8)


def test_two_nodes_are_several_times_slower_than_one():
    one = gpu_moe.in_node_all_to_all_time(GB, "H100")
    two = gpu_moe.cross_node_all_to_all_time(GB, 2, "H100")
    assert two == pytest.approx(GB / 4 / W_NODE)
    # comms's leaf term for 16 GPUs is the same InfiniBand term
    assert dict(comms.all_to_all(GB, {"g": 16}, "g", "H100").levels)[
        "leaf"] == pytest.approx(two)
    assert two / one == pytest.approx((1 / 4 / W_NODE) / (7 / 64 / W_GPU))
    # the book's "more than 4x": V / (M W_node) against V / (8 W_gpu)
    assert (GB / (2 * W_NODE)) / (GB / (8 * W_GPU)) == pytest.approx(4.5)


def test_alpha_and_the_ep_roofline_rules():
    a = gpu_moe.alpha("H100")
    assert a == pytest.approx(C / W_NODE)
    # small EP, 8k >= Z: F > alpha (Z - 8) / k
    assert gpu_moe.ep_critical_width(2, 16) == pytest.approx(a * 8 / 2)
    # large EP: F > 8 alpha (Z - 8) / Z -> 8 alpha
    for Z in (256, 1024, 8192):
        assert gpu_moe.ep_critical_width(8, Z) == pytest.approx(
            8 * a * (Z - 8) / Z)
    assert gpu_moe.ep_critical_width(8, 8192) == pytest.approx(8 * a,
                                                               rel=1e-3)
    # one node: nothing crosses InfiniBand
    assert gpu_moe.ep_times(1e6, 1024, 1024, 2, 8).t_comms == 0


def test_ep_times_formula():
    B, D, F, k, Z = 2 ** 20, 7168, 2048, 8, 64
    t = gpu_moe.ep_times(B, D, F, k, Z, "H100")
    assert t.t_math == pytest.approx(4 * B * k * D * F / (Z * C))
    assert t.t_comms == pytest.approx(4 * B * D * (Z - 8) / (W_NODE * Z)
                                      * min(8 * k / Z, 1))


def test_deepseek_v3_ep_over_8_nodes_needs_node_limited_routing():
    # 64-way EP, k = 8, experts 2048 wide: without a node limit every
    # token may reach all 8 nodes, and the all-to-alls take ~8.5x the
    # matmuls; limiting each token to 4 nodes halves the InfiniBand bytes.
    free = gpu_moe.ep_times(1e6, 7168, 2048, 8, 64, "H100")
    limited = gpu_moe.ep_times(1e6, 7168, 2048, 8, 64, "H100",
                               node_limit=4)
    assert free.ratio == pytest.approx(C / W_NODE * 56 / (8 * 2048))
    assert limited.ratio == pytest.approx(free.ratio / 2)
    assert free.bound == limited.bound == "comms"
    assert 2048 < gpu_moe.ep_critical_width(8, 64, node_limit=4)


def test_moe_data_parallel_threshold_is_dense_times_E_over_k():
    # the book: 2475 tokens per GPU across nodes x 128/4 = 79,200 (it
    # rounds C to 990 TFLOP/s); ours uses the registry's 989.
    t = gpu_moe.moe_dp_critical_tokens(128, 4, "H100")
    assert t == pytest.approx(C / W_NODE * 32)
    assert t == pytest.approx(79_200, rel=2e-3)


@pytest.mark.parametrize("call,match", [
    (lambda: gpu_moe.ep_times(1e6, 64, 64, 2, 12), "multiple of 8"),
    (lambda: gpu_moe.ep_times(1e6, 64, 64, 2, 16, node_limit=4),
     "node_limit=4 exceeds k=2"),
    (lambda: gpu_moe.in_node_all_to_all_time(GB, "H100", 16),
     "cross_node"),
    (lambda: gpu_moe.alpha("v5e"), "not a GPU"),
    (lambda: gpu_moe.moe_dp_critical_tokens(4, 8), "exceeds"),
])
def test_bad_input_says_what_to_change(call, match):
    with pytest.raises(ValueError, match=match):
        call()
