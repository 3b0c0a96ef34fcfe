"""The formula layer imports and computes with `jax` blocked from import.

Each module in JAX_FREE_MODULES is imported in a fresh interpreter where a
meta-path finder refuses `jax` and every `jax.*` module, then used for a
real computation.  A module that imports JAX, even through another
module, fails here with the import chain in the error.  To add a module,
add one entry: its name and a line or two that use it.
"""
import os
import pathlib
import subprocess
import sys
import textwrap

import pytest


BLOCK_JAX = """
import importlib.abc, sys

class BlockJax(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "jax" or name.startswith("jax.") or name == "jaxlib" \\
                or name.startswith("jaxlib."):
            raise ImportError(f"{name} is blocked: this must run without JAX")
        return None

sys.meta_path.insert(0, BlockJax())
"""

JAX_FREE_MODULES = {
    "hardware": "assert sb.hardware.chip('v5e').peak_flops('bf16') > 0",
    "dtypes": "assert sb.dtypes.dtype_bytes('bf16') == 2",
    "units": "assert sb.units.fmt_bytes(2e9) == '2 GB'",
    "config": "assert sb.config.default_workload('llama3-8b').tokens == 8192",
    "roofline": ("t = sb.roofline.matmul_time(512, 8192, 8192, 'v5e')\n"
                 "assert 0 < t.lower <= t.upper"),
    "counting": ("assert abs(sb.counting.param_count('llama3-8b') / 8.03e9"
                 " - 1) < 0.01\n"
                 "assert sb.counting.train_flops_total('tiny', 2, 16) > 0"),
    "comms": ("c = sb.comms.all_gather(2**20, {'x': 4}, 'x', 'v5e')\n"
              "assert c.bytes_per_device > 0 and c.time > 0"),
    "topology": "assert sb.topology.max_hops((4, 4), False) == 6",
    "mesh": ("m = sb.mesh.describe({'X': 2, 'Y': 4}, chip='v5p')\n"
             "assert m.slice_shape == (2, 4, 1) and m.wraps == (False,) * 2"),
    "systolic": ("import numpy as np\n"
                 "run = sb.systolic.simulate(np.eye(3), np.ones((3, 3)))\n"
                 "assert np.allclose(run.result, np.ones((3, 3)))"),
    "tabular": ("t = sb.tabular.Table(['a', 'n'], [['x', 1.5]])\n"
                "assert str(t).splitlines()[-1] == 'x  1.5'"),
    "tables": "assert 'TPU v5e' in str(sb.tables.spec_table())",
    "tensorcore": "assert sb.tensorcore.vpu_peak('v5p') > 7e12",
    "ring": ("assert sb.ring.busiest_link('all-to-all', 8) == "
             "sb.ring.busiest_link('all-gather', 8) / 4"),
    "scaling": ("n, d = sb.scaling.compute_optimal(sb.scaling.BESIROGLU_2024,"
                " 1e22)\nassert 5e9 < n < 2e10 and 1e11 < d < 4e11"),
    "schedules": ("lr = sb.schedules.cosine(100, 1e-3, warmup=10)\n"
                  "assert len(lr) == 100 and max(lr) <= 1e-3"),
    "inference": ("t = sb.inference.decode_step('llama3-8b', 'v5e', 8, 1024,"
                  " chips=8)\nassert t.total > 0 and t.bound"),
    "paged_kv": ("m = sb.paged_kv.BlockManager(num_blocks=8, block_size=4)\n"
                 "m.allocate('a', list(range(6)))\n"
                 "assert len(m.block_table('a')) == 2\nm.free('a'); m.check()"),
    "speculative": ("assert sb.speculative.expected_tokens(0.5, 1) == "
                    "1.5"),
    "serving": "assert callable(sb.serving.simulate)",
    "inference_args": ("assert sb.inference_args.whole(4, 'chips') == 4\n"
                       "assert sb.inference_args.fraction(0.4, 'mfu') == 0.4"),
    "inference_fit": ("assert sb.inference_fit.max_batch('llama3-8b', 'v5e',"
                      " 8, 1024) > 0"),
    "inference_step": "assert 200 < sb.inference_step.critical_batch('v5e')",
    "inference_tp": ("assert sb.inference_tp.kv_replication('llama3-8b', 16)"
                     " == 2"),
    "serving_trace": ("assert len(sb.serving_trace.make_trace(5, rate=1.0))"
                      " == 5"),
    "serving_engine": ("spec = sb.serving_engine.EngineSpec('llama3-8b', "
                       "'H100')\nassert spec.blocks() > 0"),
    "serving_result": ("assert sb.serving_result.percentile([1, 2, 3], 50)"
                       " == 2"),
    "esti": "assert sb.esti.crossover_chips(8192, 32768) == 72",
    "inference_plans": ("p = sb.inference_plans.prefill_plan('llama3-70b', "
                        "'v5e', 16, 8192)\nassert p.tp * p.seq == 16"),
    "serving_modes": "assert callable(sb.serving_modes.batched)",
    "corpus": ("src = sb.corpus.markov_source(vocab=16, successors=4)\n"
               "assert src.vocab == 16"),
    "cluster": ("cl = sb.cluster.cluster('H100', 1024)\n"
                "assert cl.switch_count()['total'] == 560"),
    "train_time": ("c = sb.train_time.critical_tokens("
                   "sb.train_layout.MLPStack(8192, 28672), "
                   "sb.train_layout.Layout(data=1024), 'H100', "
                   "phase='passes', remat='none')\n"
                   "assert c > 2000"),
    "comms_gpu": ("from scalebook.mesh import MeshSpec\n"
                  "bw, lat, lv = sb.comms_gpu.gpu_level_times('all-gather', "
                  "1e9, MeshSpec(('g',), (16,)), ('g',), sb.chip('H100'), "
                  "None, 'ring', False, 1.0)\nassert bw > 0 and lat > 0"),
    "scaling_plan": ("c, n = sb.scaling_plan.cluster('H100 cluster')\n"
                     "assert n == 4096 and sb.scaling_plan.training_days("
                     "6.3e24, c, n, 0.45) > 30"),
    "scaling_runs": ("r = sb.scaling_runs.load_chinchilla()\n"
                     "assert len(r) > 100"),
    "train_layout": ("lay = sb.train_layout.layout('fsdp+tp', data=2, "
                     "tensor=4)\nassert lay.devices == 8"),
    "train_memory": ("assert sb.train_memory.memory_per_gpu(70e9) == "
                     "700e9"),
    "train_comms": ("lay = sb.train_layout.layout('dp', 8)\n"
                    "cl = sb.train_comms.collectives('llama3-8b', lay, 8, "
                    "4096)\nassert any(c.kind == 'all-reduce' for c in cl)"),
    "train_closed_forms": ("assert sb.train_closed_forms.dp_critical_tokens("
                           "'v5p', 3) == 850"),
    "train_rules": ("r = sb.train_rules.logical_rules("
                    "sb.train_layout.layout('fsdp', 8))\n"
                    "assert r.weights['embed'] == 'data'"),
    "pipeline_schedules": ("s = sb.pipeline_schedules.timeline('1f1b', 4, "
                           "8)\nassert s.max_in_flight <= 4"),
    "parallelism": ("lay = sb.parallelism.layout('fsdp', 64)\n"
                    "t = sb.parallelism.critical_tokens("
                    "sb.parallelism.MLPStack(8192, 32768), lay, 'v5p', "
                    "phase='forward')\nassert 800 < t < 900"),
    "planner": ("p = sb.planner.plan('llama3-8b', 64, 4096, 'v5p', 64)\n"
                "assert p.best.cost.bound == 'compute'"),
    "moe_config": "assert sb.moe_config.moe_preset('deepseek-v3').E == 256",
    "moe_cost": ("p = sb.moe_cost.param_counts('deepseek-v3')\n"
                 "assert 0.05 < p['active'] / p['total'] < 0.06\n"
                 "lay = sb.moe_cost.layout({'data': 2, 'expert': 4}, "
                 "data='data')\n"
                 "assert sb.moe_cost.all_to_all_bytes('tiny-moe', 64, lay) "
                 "> 0"),
    "gpu_moe": ("assert 79000 < sb.gpu_moe.moe_dp_critical_tokens(128, 4) "
                "< 79400\n"
                "assert sb.gpu_moe.ep_times(1e6, 7168, 2048, 8, 64).ratio > 1"),
    "context_parallel": ("import scalebook.context_parallel as cp\n"
                         "assert set(cp.causal_blocks(4)) == {9}\n"
                         "assert cp.ring_collectives(1, 64, 2, 8, 4).count "
                         "== 3"),
}
"""Modules of `scalebook` that must import and run without JAX, each with
a computation in it (code run after `import scalebook as sb`)."""

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _run(code: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(ROOT / "lib"), os.environ.get("PYTHONPATH", "")]))
    return subprocess.run([sys.executable, "-c", code], env=env,
                          capture_output=True, text=True, timeout=120)


def test_the_blocker_really_blocks_jax():
    proc = _run(BLOCK_JAX + "import jax.numpy\n")
    assert proc.returncode != 0, proc.stderr
    assert "jax is blocked" in proc.stderr, proc.stderr
    # And a module that needs JAX fails under it.
    proc = _run(BLOCK_JAX + "import scalebook.bench\n")
    assert proc.returncode != 0 and "jax is blocked" in proc.stderr


@pytest.mark.parametrize("name", sorted(JAX_FREE_MODULES))
def test_module_imports_and_computes_without_jax(name):
    code = BLOCK_JAX + textwrap.dedent(f"""
        import importlib
        import scalebook as sb
        importlib.import_module("scalebook.{name}")
    """) + JAX_FREE_MODULES[name] + "\n" + textwrap.dedent("""
        leaked = sorted(m for m in sys.modules
                        if m == "jax" or m.startswith("jax."))
        assert not leaked, leaked
    """)
    proc = _run(code)
    assert proc.returncode == 0, (
        f"scalebook.{name} needs JAX:\n{proc.stderr[-3000:]}")
