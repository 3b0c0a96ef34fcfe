"""Chapter 10 exercises: the book's programs pass, answers written here
from the statements pass, and each kind of mistake gets its message."""
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import PartitionSpec as P

from scalebook import codegrade, collectives as co, grading
from scalebook.exercises import ch10

PASS, FAIL = grading.PASS, grading.FAIL
N = 8
RIGHT = [(i, (i + 1) % N) for i in range(N)]
LEFT = [(i, (i - 1) % N) for i in range(N)]


def grade(qid, fn):
    return grading.grade(qid, fn)


@pytest.mark.parametrize("name", list(ch10._TASKS))
def test_the_books_programs_pass_their_own_graders(name):
    codegrade.verify(ch10._TASKS[name])


# --- independent answers, written from the statements ----------------------
def my_all_reduce(x):
    """Reduce-scatter by rotating partial sums, then all-gather."""
    me = jax.lax.axis_index("X")
    chunks = x.reshape(N, -1, x.shape[1])
    acc = chunks[(me + 1) % N]
    for k in range(2, N + 1):
        acc = jax.lax.ppermute(acc, "X", LEFT) + chunks[(me + k) % N]
    # device me now holds the full sum of chunk (me + N) % N = me
    pieces, cur = [acc], acc
    for _ in range(N - 1):
        cur = jax.lax.ppermute(cur, "X", LEFT)   # from me+1, me+2, ...
        pieces.append(cur)
    stacked = jnp.stack(pieces)                  # pieces[k] = chunk me+k
    idx = (jnp.arange(N) - me) % N
    return stacked[idx].reshape(x.shape)


def my_reduce_scatter(x):
    me = jax.lax.axis_index("X")
    chunks = x.reshape(N, -1, x.shape[1])
    acc = chunks[(me + 1) % N]
    for k in range(2, N + 1):
        acc = jax.lax.ppermute(acc, "X", LEFT) + chunks[(me + k) % N]
    return acc


def my_all_gather(x):
    me = jax.lax.axis_index("X")
    pieces, cur = [x], x
    for _ in range(N - 1):
        cur = jax.lax.ppermute(cur, "X", LEFT)
        pieces.append(cur)
    stacked = jnp.stack(pieces)
    return stacked[(jnp.arange(N) - me) % N].reshape(N * x.shape[0],
                                                     x.shape[1])


def test_10_1_to_3_independent_rings_pass():
    assert grade("10.1", my_all_reduce).passed
    assert grade("10.2", my_reduce_scatter).passed
    assert grade("10.3", my_all_gather).passed


def test_10_1_psum_and_whole_array_rings_are_told_apart():
    fb = grade("10.1", lambda x: jax.lax.psum(x, "X"))
    assert fb.status == FAIL and "ppermute alone" in fb.message
    fb = grade("10.1", functools.partial(co.naive_all_reduce, axis="X"))
    assert fb.status == FAIL and "4x more bytes" in fb.message
    assert "one chunk" in fb.message
    fb = grade("10.1", lambda x: x)
    assert fb.status == FAIL
    assert grade("10.1", lambda x: None).status == grading.BLANK

    def forgot_return(x):
        total = jax.lax.psum(x, "X")  # noqa: F841
    fb = grade("10.1", forgot_return)
    assert fb.status == FAIL and "return" in fb.message


def test_10_2_and_3_library_collectives_are_refused():
    fb = grade("10.2", lambda x: jax.lax.psum_scatter(
        x, "X", scatter_dimension=0, tiled=True))
    assert fb.status == FAIL and "reduce-scatter" in fb.message
    fb = grade("10.3", lambda x: jax.lax.all_gather(x, "X", tiled=True))
    assert fb.status == FAIL and "all-gather" in fb.message

    def slice_of_all_reduce(x):   # correct, but an all-reduce's bytes
        me = jax.lax.axis_index("X")
        return jax.lax.dynamic_slice_in_dim(my_all_reduce(x),
                                            me * x.shape[0] // N,
                                            x.shape[0] // N, 0)
    fb = grade("10.2", slice_of_all_reduce)
    assert fb.status == FAIL and "2x more bytes" in fb.message


def my_bidi_ag(x, w):
    me = jax.lax.axis_index("X")
    d = x.shape[1]
    rows = lambda j: jax.lax.dynamic_slice_in_dim(w, (j % N) * d, d, 0)
    out = x @ rows(me)
    a = b = x
    for s in range(1, N // 2 + 1):
        a = jax.lax.ppermute(a, "X", LEFT)      # from me+s
        out = out + a @ rows(me + s)
        if s < N // 2:
            b = jax.lax.ppermute(b, "X", RIGHT)  # from me-s
            out = out + b @ rows(me - s)
    return out


def uni_ag(x, w):
    me = jax.lax.axis_index("X")
    d = x.shape[1]
    out = x @ jax.lax.dynamic_slice_in_dim(w, me * d, d, 0)
    for s in range(1, N):
        x = jax.lax.ppermute(x, "X", RIGHT)
        out = out + x @ jax.lax.dynamic_slice_in_dim(
            w, ((me - s) % N) * d, d, 0)
    return out


def test_10_4_bidirectional_all_gather_matmul():
    assert grade("10.4", my_bidi_ag).passed
    fb = grade("10.4", uni_ag)
    assert fb.status == FAIL and "same way round the ring" in fb.message
    fb = grade("10.4", lambda x, w: jax.lax.all_gather(
        x, "X", axis=1, tiled=True) @ w)
    assert fb.status == FAIL and "ppermute alone" in fb.message


def my_bidi_rs(x, w):
    me = jax.lax.axis_index("X")
    f = w.shape[1] // N
    part = lambda j: x @ jax.lax.dynamic_slice_in_dim(w, (j % N) * f, f, 1)
    # block me's sum comes from the left carrying the parts of me-4..me-1
    # (4 hops right) and from the right carrying me+1..me+3 (3 hops left)
    a = part(me + 4)                  # starts the sum that ends 4 hops on
    for s in range(1, 4):
        a = jax.lax.ppermute(a, "X", RIGHT) + part(me + 4 - s)
    a = jax.lax.ppermute(a, "X", RIGHT)
    b = part(me - 3)                  # ends 3 hops to the left
    for s in range(1, 3):
        b = jax.lax.ppermute(b, "X", LEFT) + part(me - 3 + s)
    b = jax.lax.ppermute(b, "X", LEFT)
    return a + b + part(me)


def test_10_5_bidirectional_reduce_scatter_matmul():
    assert grade("10.5", my_bidi_rs).passed
    fb = grade("10.5", lambda x, w: jax.lax.psum_scatter(
        x @ w, "X", scatter_dimension=1, tiled=True))
    assert fb.status == FAIL and "ppermute alone" in fb.message

    def one_way(x, w):
        me = jax.lax.axis_index("X")
        f = w.shape[1] // N
        part = lambda j: x @ jax.lax.dynamic_slice_in_dim(
            w, (j % N) * f, f, 1)
        acc = part(me - 1)
        for s in range(1, N):
            acc = jax.lax.ppermute(acc, "X", RIGHT) + part(me - 1 - s)
        return acc
    fb = grade("10.5", one_way)
    assert fb.status == FAIL and "same way round the ring" in fb.message


def my_moe(tokens, router, experts, slots=ch10.MOE_CAPACITY):
    """Top-1 routing, `slots` buffer rows per destination (the statement
    says every device sends the same number of tokens to each expert)."""
    logits = tokens @ router
    e = jnp.argmax(logits, -1)
    gate = jax.nn.softmax(logits, -1)[jnp.arange(tokens.shape[0]), e]
    # position of each token among those going to the same expert
    rank = jnp.sum(jnp.tril(e[:, None] == e[None, :]), axis=1) - 1
    send = jnp.zeros((N, slots, tokens.shape[1]))
    send = send.at[e, rank].set(tokens)
    got = jax.lax.all_to_all(send, "X", 0, 0, tiled=True)
    back = jax.lax.all_to_all(got @ experts[0], "X", 0, 0, tiled=True)
    return back[e, rank] * gate[:, None]


def test_10_6_moe_dispatch():
    assert grade("10.6", my_moe).passed
    t = ch10.MOE_TOKENS // N
    fb = grade("10.6", functools.partial(my_moe, slots=t))
    assert fb.status == FAIL and "more bytes" in fb.message
    assert f"buffers of {ch10.MOE_CAPACITY} slots" in fb.message

    def gather_everything(tokens, router, experts):
        everyone = jax.lax.all_gather(tokens, "X", tiled=True)
        e = jnp.argmax(everyone @ router, -1)
        gate = jax.nn.softmax(everyone @ router, -1)[
            jnp.arange(everyone.shape[0]), e]
        mine = jnp.where((e == jax.lax.axis_index("X"))[:, None],
                         (everyone @ experts[0]) * gate[:, None], 0)
        return jax.lax.psum_scatter(mine, "X", scatter_dimension=0,
                                    tiled=True)
    fb = grade("10.6", gather_everything)
    assert fb.status == FAIL and "more bytes" in fb.message


def test_10_7_explicit_out_sharding():
    def split(x, w_in, w_out):
        return jnp.matmul(jax.nn.relu(x @ w_in), w_out,
                          out_sharding=P("X", "Y"))
    assert grade("10.7", split).passed

    def whole(x, w_in, w_out):
        return jnp.matmul(jax.nn.relu(x @ w_in), w_out,
                          out_sharding=P("X", None))
    assert "P('X', 'Y')" in grade("10.7", whole).message

    def unsaid(x, w_in, w_out):
        return jax.nn.relu(x @ w_in) @ w_out
    assert "out_sharding" in grade("10.7", unsaid).message

    def resharded(x, w_in, w_out):
        w_in = jax.sharding.reshard(w_in, P())       # gathers W_in first
        h = jax.nn.relu(jnp.matmul(x, w_in, out_sharding=P("X", "Y")))
        return jnp.matmul(h, w_out, out_sharding=P("X", "Y"))
    fb = grade("10.7", resharded)
    assert fb.status == FAIL and "one collective over Y" in fb.message
    assert grade("10.7", ...).status == grading.BLANK
