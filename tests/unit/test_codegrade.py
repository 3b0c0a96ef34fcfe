"""The code grader: every judge passes the right program and fails the
wrong, wasteful and broken ones with a message that names the mistake."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from scalebook import codegrade as cg
from scalebook.codegrade import CodeTask, Judge, Operand, Tolerance, TrainTask

MESH = {"X": 8}


def _shift(n):
    return [(i, (i + 1) % n) for i in range(n)]


# --------------------------------------------------------------- the tasks
# C = A @ B with A[I_X, J] and C replicated: gathering C (the smaller
# array) beats gathering A.
def gather_c(a_blk, b):
    return jax.lax.all_gather(a_blk @ b, "X", axis=0, tiled=True)


GATHER = CodeTask(
    "replicated_matmul", MESH,
    (Operand("A", (64, 256), ("X", None)), Operand("B", (256, 32))),
    (None, None), lambda a, b: a @ b, gather_c, out_name="C")


# A[I, J_X] . B[J_X, K] -> C[I_X, K]: one reduce-scatter.
def rs_best(a_blk, b_blk):
    return jax.lax.psum_scatter(a_blk @ b_blk, "X", scatter_dimension=0,
                                tiled=True)


RS = CodeTask(
    "rs_matmul", MESH,
    (Operand("A", (64, 128), (None, "X")), Operand("B", (128, 32), ("X",))),
    ("X", None), lambda a, b: a @ b, rs_best, out_name="C")
RS_BF16 = CodeTask(
    "rs_matmul_bf16", MESH,
    (Operand("A", (64, 128), (None, "X"), "bf16"),
     Operand("B", (128, 32), ("X",), "bf16")),
    ("X", None), lambda a, b: a @ b, rs_best, out_name="C")


# x[B_X, D] . A[D, R] . U[R, D]: a low-rank product, cheap in one order.
def lowrank_best(x_blk, a, u):
    return (x_blk @ a) @ u


def lowrank_costly(x_blk, a, u):
    return x_blk @ (a @ u)      # a D x D product first


def _lowrank(judge):
    return CodeTask(
        "lowrank", MESH,
        (Operand("x", (64, 256), ("X", None)), Operand("A", (256, 8)),
         Operand("U", (8, 256))),
        ("X", None), lambda x, a, u: x @ a @ u, lowrank_best, judge=judge)


# A[I_X, J_Y] . B[J_Y, K] -> C[I_X, K] on a 2x4 mesh: reduce over Y only.
def mesh2_best(a_blk, b_blk):
    return jax.lax.psum(a_blk @ b_blk, "Y")


MESH2 = CodeTask(
    "mesh2", {"X": 2, "Y": 4},
    (Operand("A", (32, 128), ("X", "Y")), Operand("B", (128, 24), ("Y",))),
    ("X", None), lambda a, b: a @ b, mesh2_best, out_name="C")


# Sum the 8 blocks with ppermute alone (psum is what is being rebuilt).
def ring_sum(x_blk):
    acc, cur = x_blk, x_blk
    for _ in range(7):
        cur = jax.lax.ppermute(cur, "X", _shift(8))
        acc = acc + cur
    return acc


RING = CodeTask(
    "ring_sum", MESH, (Operand("x", (8, 64), ("X", None)),), (None, None),
    lambda x: x.sum(0, keepdims=True), ring_sum,
    judge=Judge(kinds=("collective-permute",), kind_hints={
        "all-reduce": "psum does it for you: build it from ppermute."}))
MEAN = CodeTask(
    "mean", MESH, (Operand("x", (8, 64), ("X", None)),), (None, None),
    lambda x: x.mean(0, keepdims=True),
    lambda x: jax.lax.pmean(x, "X"))


def _grade(task, fn):
    ok, msg = cg.grade(task, fn)
    assert isinstance(msg, str)
    return ok, msg


@pytest.mark.parametrize("task", [GATHER, RS, RS_BF16, _lowrank(Judge()),
                                  MESH2, RING, MEAN])
def test_the_books_own_program_passes_its_grader(task):
    assert cg.verify(task).startswith("correct.")


# ------------------------------------------------------------- results
def test_right_reduce_scatter_passes_with_its_bytes():
    ok, msg = _grade(RS, lambda a, b: jax.lax.psum_scatter(
        a @ b, "X", scatter_dimension=0, tiled=True))
    want = 4 * 64 * 32 * 7 / 8          # V (n-1)/n, V = the f32 C
    assert ok is True
    assert f"reduce-scatter, moving {want:,.0f} bytes" in msg
    assert "the least this layout needs" in msg


def test_f32_results_are_held_to_a_tight_tolerance():
    ok, msg = _grade(RS, lambda a, b: 1.001 * rs_best(a, b))
    assert ok is False and "numbers differ" in msg
    assert "within rtol 1e-05" in msg
    assert Tolerance.of("f32").close(np.float32([1.0]), [1.0 + 5e-6])
    assert not Tolerance.of("f32").close(np.float32([1.0]), [1.0 + 1e-3])


def test_bf16_results_pass_within_the_stated_looser_tolerance():
    ok, msg = _grade(RS_BF16, rs_best)
    assert ok is True, msg
    tol = Tolerance.of("bf16")
    assert (tol.rtol, str(tol)) == (2e-2, "within rtol 0.02")
    assert tol.close(np.float32([1.0]), [1.01])
    ok, msg = _grade(RS_BF16, lambda a, b: rs_best(a, b) * 1.1)
    assert ok is False and "numbers differ" in msg


def test_a_result_in_the_wrong_dtype_is_named():
    ok, msg = _grade(RS_BF16, lambda a, b: rs_best(a, b).astype(jnp.float32))
    assert ok is False
    assert "float32 blocks" in msg and "bfloat16" in msg


def test_adding_copies_instead_of_averaging_is_8x_too_large():
    ok, msg = _grade(MEAN, lambda x: jax.lax.psum(x, "X"))
    assert ok is False and "8x too large" in msg


# ------------------------------------------------- broken readers' code
def forgot_return(a_blk, b_blk):
    c = rs_best(a_blk, b_blk)  # noqa: F841 - the mistake under test


def stub(a_blk, b_blk):
    """The student copy: a docstring and `...`."""
    ...


def raises_inside(a_blk, b_blk):
    c = a_blk @ b_blk
    return c.reshape(3, -1, 7)


def test_returning_none_is_not_the_same_as_the_stub():
    ok, msg = _grade(RS, forgot_return)
    assert ok is False and "returned None" in msg and "`return`" in msg
    assert _grade(RS, stub) == (None, "")
    assert cg.question("9.1", RS).grade(stub).status == "not attempted"


def test_an_error_inside_the_function_says_where():
    ok, msg = _grade(RS, raises_inside)
    assert ok is False
    assert "TypeError" in msg and "line 3 of it" in msg


def test_a_wrong_block_shape_names_the_block_each_device_returns():
    ok, msg = _grade(RS, lambda a, b: a @ b)
    assert ok is False
    assert "shape (64, 32)" in msg and "shape (8, 32)" in msg


def test_an_axis_name_not_in_the_mesh_is_named():
    ok, msg = _grade(RS, lambda a, b: jax.lax.psum_scatter(
        a @ b, "x", scatter_dimension=0, tiled=True))
    assert ok is False and "'x'" in msg and "'X'" in msg


@pytest.mark.parametrize("answer, words", [
    (42, "expected a function"),
    (lambda a, b: "C", "returned a str"),
    (lambda a, b: (rs_best(a, b), a), "one array"),
    (lambda a: a, "takes (a), but it is called with 2 arguments: the block "
                  "of A and the block of B"),
])
def test_answers_of_the_wrong_kind_are_explained(answer, words):
    ok, msg = _grade(RS, answer)
    assert ok is False and words in msg


# ------------------------------------------------------------ collectives
def test_gathering_the_wrong_operand_is_named():
    ok, msg = _grade(GATHER, lambda a, b: jax.lax.all_gather(
        a, "X", axis=0, tiled=True) @ b)
    assert ok is False
    # A is f32[64, 256], C only f32[64, 32]: 8x the bytes
    assert "you all-gathered A, where the best program gathers C" in msg
    assert "8x more bytes" in msg


def test_psum_then_slice_in_place_of_psum_scatter_is_named():
    def psum_slice(a, b):
        c = jax.lax.psum(a @ b, "X")
        n = c.shape[0] // 8
        return jax.lax.dynamic_slice_in_dim(
            c, jax.lax.axis_index("X") * n, n, 0)
    ok, msg = _grade(RS, psum_slice)
    assert ok is False
    assert "psum and then sliced" in msg and "2x the bytes" in msg


def test_gathering_both_operands_is_named_and_costed():
    def gather_all(a, b):
        c = (jax.lax.all_gather(a, "X", axis=1, tiled=True)
             @ jax.lax.all_gather(b, "X", axis=0, tiled=True))
        n = c.shape[0] // 8
        return jax.lax.dynamic_slice_in_dim(
            c, jax.lax.axis_index("X") * n, n, 0)
    ok, msg = _grade(RS, gather_all)
    assert ok is False
    assert "all-gathers A and B" in msg or "all-gathers B and A" in msg
    assert "A reduce-scatter does this job" in msg


def test_a_collective_over_an_axis_the_best_program_never_uses():
    def gather_rows(a, b):       # gathers A over X, then keeps its own rows
        c = jax.lax.psum(jax.lax.all_gather(a, "X", axis=0, tiled=True) @ b,
                         "Y")
        n = c.shape[0] // 2
        return jax.lax.dynamic_slice_in_dim(
            c, jax.lax.axis_index("X") * n, n, 0)
    ok, msg = _grade(MESH2, gather_rows)
    assert ok is False
    assert "all-gather of A over X" in msg and "only over Y" in msg
    ok, msg = _grade(MESH2, mesh2_best)
    assert ok is True and "all-reduce" in msg


def test_a_kind_the_exercise_forbids_gets_its_hint():
    ok, msg = _grade(RING, ring_sum)
    assert ok is True and "7 collective-permutes, moving 1,792 bytes" in msg
    ok, msg = _grade(RING, lambda x: jax.lax.psum(x, "X"))
    assert (ok, msg) == (False, "psum does it for you: build it from "
                                "ppermute.")
    ok, msg = _grade(RING, lambda x: jax.lax.all_gather(
        x, "X", axis=0, tiled=True).sum(0, keepdims=True))
    assert ok is False and "asks for collective-permute only" in msg
    # with bytes not judged, any number of permutes passes
    loose = CodeTask("ring_loose", MESH, RING.inputs, RING.out_spec,
                     RING.reference, lambda x: jax.lax.psum(x, "X"),
                     judge=Judge(bytes=None))
    ok, msg = _grade(loose, ring_sum)
    assert ok is True and msg.endswith("1,792 bytes per device.")


def test_skipping_the_reduction_gives_wrong_numbers():
    ok, msg = _grade(MEAN, lambda x: x)
    assert ok is False and "numbers differ" in msg


def test_communicating_where_nothing_need_move_is_named():
    def gather_x(x_blk, a, u):
        x = jax.lax.all_gather(x_blk, "X", axis=0, tiled=True)
        y = (x @ a) @ u
        n = y.shape[0] // 8
        return jax.lax.dynamic_slice_in_dim(
            y, jax.lax.axis_index("X") * n, n, 0)
    ok, msg = _grade(_lowrank(Judge()), gather_x)
    assert ok is False
    assert "all-gather (of x)" in msg and "none need move" in msg


# --------------------------------------------------------- FLOPs, memory
def test_a_costlier_multiplication_order_fails_the_flops_judge():
    task = _lowrank(Judge(flops=1.5))
    assert _grade(task, lowrank_best)[0] is True
    ok, msg = _grade(task, lowrank_costly)
    assert ok is False and "FLOPs of the best program" in msg
    ratio = float(msg.split("does ")[1].split("x")[0])
    # (2 D R D + 2 b D D) / (2 b D R + 2 b R D), b = 8 rows per device
    assert ratio == pytest.approx((2 * 256 * 8 * 256 + 2 * 8 * 256 * 256)
                                  / (4 * 8 * 256 * 8), rel=0.05)


def test_a_large_intermediate_fails_the_memory_judge():
    task = _lowrank(Judge(memory=1.5))
    assert _grade(task, lowrank_best)[0] is True
    ok, msg = _grade(task, lowrank_costly)
    assert ok is False and "the memory of the best program" in msg
    assert "temporaries" in msg
    best = cg.best_profile(task).memory
    # per device: x block f32[8, 256], A f32[256, 8], U f32[8, 256] in;
    # the f32[8, 256] block of the result out
    assert best.argument_bytes == 3 * 4 * 8 * 256
    assert best.output_bytes == 4 * 8 * 256
    assert best.peak_bytes == (best.argument_bytes + best.output_bytes
                               + best.temp_bytes - best.alias_bytes)


def test_the_profile_reports_bytes_flops_and_memory():
    p = cg.best_profile(RS)
    assert p.kinds == ["reduce-scatter"]
    assert p.bytes == 4 * 64 * 32 * 7 / 8
    assert p.flops >= 2 * 64 * 16 * 32       # the local block matmul
    assert p.memory.peak_bytes > 0


# ----------------------------------------------------------- our own bugs
def test_a_broken_reference_is_reported_as_the_books_bug():
    broken = CodeTask("broken", MESH, RS.inputs, ("X", None),
                      lambda a, b: 1 / 0, rs_best)
    ok, msg = _grade(broken, rs_best)
    assert ok is False and "bug in the book" in msg
    assert "your answer" in msg and "ZeroDivisionError" in msg
    wrong = CodeTask("wrong", MESH, RS.inputs, ("X", None),
                     lambda a, b: a @ b + 1, rs_best)
    assert "bug in the book" in _grade(wrong, rs_best)[1]
    with pytest.raises(AssertionError, match="does not pass"):
        cg.verify(wrong)


def test_a_mesh_larger_than_the_devices_asks_for_the_set_up_cell():
    big = CodeTask("big", {"X": 16}, (Operand("x", (16, 4), ("X",)),),
                   ("X",), lambda x: x, lambda x: x)
    ok, msg = _grade(big, lambda x: x)
    assert ok is False and "first cell" in msg and "16" in msg


@pytest.mark.parametrize("make, words", [
    (lambda: Operand("A", (4, 4), ("X", None, None)), "at most 2"),
    (lambda: CodeTask("t", MESH, (Operand("A", (8, 8), ("Z",)),), (),
                      lambda a: a, lambda a: a), "'Z' is not in the mesh"),
    (lambda: Judge(bytes=0.5), "at least 1.0"),
    (lambda: TrainTask("t", MESH, _init, {"W1": ("Y",)}, _batch, {}, None,
                       None), "state_specs: axis 'Y' is not in the mesh"),
    (lambda: Judge(kinds=("gather-all",)), "unknown collective kind"),
    (lambda: CodeTask("t", "X8", (), (), None, None), "a mesh is a dict"),
])
def test_bad_task_definitions_get_a_message_that_names_the_fix(make, words):
    with pytest.raises((ValueError, TypeError), match=words):
        make()


def test_a_predict_program_that_fails_to_compile_is_the_books_bug():
    prog = cg.Program(lambda a: a @ a, ((64, 32),), (("X", None),),
                      (None, None), MESH)
    fb = cg.predict("9.9", prog).grade({"collective": "all-reduce",
                                        "bytes": 1.0})
    assert fb.status == "checker bug" and fb.label == "BOOK BUG"
    assert "bug in the book" in fb.message and "your answer" in fb.message
    assert fb.error is not None


def test_a_failing_code_checker_is_reported_as_the_books_bug():
    def broken_reference(a):
        raise RuntimeError("our reference is broken")
    task = cg.CodeTask("broken", {"X": 8},
                       (cg.Operand("A", (64, 32), ("X", None)),),
                       ("X", None), broken_reference, lambda a: a)
    fb = cg.question("9.8", task).grade(lambda a: a)
    assert fb.status == "checker bug", fb
    assert "bug in the book" in fb.message


# ------------------------------------------------------ training parity
LR = 0.1


def _loss(state, batch):
    h = jax.nn.relu(batch["x"] @ state["W1"])
    return jnp.mean((h @ state["W2"] - batch["y"]) ** 2)


def _sgd(state, grads):
    lr = LR / (1.0 + state["step"])
    return {"W1": state["W1"] - lr * grads["W1"],
            "W2": state["W2"] - lr * grads["W2"],
            "step": state["step"] + 1.0}


def _grads(state, batch):
    params = {"W1": state["W1"], "W2": state["W2"]}
    return jax.grad(lambda p: _loss(p, batch))(params)


def single_device_step(state, batch):
    return _sgd(state, _grads(state, batch))


def dp_step(state, batch):               # the book's data-parallel step
    return _sgd(state, jax.lax.pmean(_grads(state, batch), "X"))


def _init(rng):
    return {"W1": 0.3 * rng.standard_normal((16, 32)),
            "W2": 0.3 * rng.standard_normal((32, 4)),
            "step": np.float32(0.0)}


def _batch(rng, i):
    return {"x": rng.standard_normal((256, 16)),
            "y": rng.standard_normal((256, 4))}


DP = TrainTask(
    "dp_mlp", MESH, _init, {"W1": (), "W2": (), "step": ()}, _batch,
    {"x": ("X", None), "y": ("X", None)}, single_device_step, dp_step,
    steps=3)


def test_the_right_data_parallel_step_matches_after_n_steps():
    ok, msg = _grade(DP, dp_step)
    assert ok is True, msg
    assert "After 3 steps your state equals the single-device run's" in msg
    assert "all-reduce" in msg and "per step" in msg


def test_psum_in_place_of_pmean_is_an_8x_update():
    def psum_step(state, batch):
        return _sgd(state, jax.lax.psum(_grads(state, batch), "X"))
    ok, msg = _grade(DP, psum_step)
    assert ok is False
    assert "after step 1 of 3" in msg and "8x the single-device" in msg


def test_forgetting_to_combine_gradients_is_named():
    ok, msg = _grade(DP, single_device_step)
    assert ok is False
    assert "no collective" in msg and "pmean" in msg


def test_a_step_whose_parity_fails_only_after_step_one():
    def fast_decay(state, batch):    # lr / (1 + 2 step): equal at step 0
        new = dp_step({**state, "step": 2 * state["step"]}, batch)
        return {**new, "step": state["step"] + 1.0}
    ok, msg = _grade(DP, fast_decay)
    assert ok is False
    assert "step 1 matches" in msg and "after step 2" in msg


def test_gathering_the_batch_is_right_but_wasteful():
    def gather_batch(state, batch):
        full = {k: jax.lax.all_gather(v, "X", axis=0, tiled=True)
                for k, v in batch.items()}
        return single_device_step(state, full)
    ok, msg = _grade(DP, gather_batch)
    assert ok is False
    assert "all-gathers x and y" in msg and "An all-reduce does this job" \
        in msg


def test_a_training_step_that_raises_or_returns_none():
    def no_return(state, batch):
        new = dp_step(state, batch)  # noqa: F841 - the mistake under test
    ok, msg = _grade(DP, no_return)
    assert ok is False and "returned None" in msg
    ok, msg = _grade(DP, lambda s, b: s["nope"])
    assert ok is False and "KeyError" in msg
    ok, msg = _grade(DP, lambda s, b: {"W1": s["W1"]})
    assert ok is False and "keys 'W1', 'W2', 'step'" in msg
