"""DeepSeek-V3's auxiliary-loss-free balancing: the bias changes which
experts tokens choose, never the gates or the router; its update moves
the busiest expert towards its fair share."""
import jax
import jax.numpy as jnp
import numpy as np

from scalebook import moe, moe_bias

E, K = 8, 2
X, W = moe.skewed_tokens(jax.random.key(1), 512, 32, E, skew=3.0)


def test_bias_picks_experts_but_gates_stay_unbiased():
    probs = moe.router_probs(X, W)
    bias = jnp.zeros(E).at[0].set(-1.0)          # push expert 0 out
    gates, idx = moe_bias.biased_top_k(probs, bias, K)
    assert not (np.asarray(idx) == 0).any()
    assert np.allclose(gates, jnp.take_along_axis(probs, idx, -1))
    g0, i0 = moe_bias.biased_top_k(probs, jnp.zeros(E), K)
    assert (np.asarray(i0) == np.asarray(jax.lax.top_k(probs, K)[1])).all()


def test_bias_updates_balance_the_skewed_router():
    run = moe_bias.bias_balance(X, W, K, steps=1000, rate=1e-3)
    load = np.asarray(run.load)
    fair = 512 * K / E
    assert (load.sum(1) == 512 * K).all()        # dropless: every choice
    assert load[0].max() / fair > 3              # skewed to begin with
    assert load[-20:].max() / fair < 1.5         # near fair at the end
    bias = np.asarray(run.bias)
    assert (bias[0] == 0).all() and bias[-1, 0] < 0   # expert 0 pushed down
    # each update moves every bias by exactly rate (or 0 when at share)
    steps = np.abs(np.diff(bias, axis=0))
    assert np.allclose(steps[(steps > 0)], 1e-3)
