"""scalebook: the shared library of the executable textbook on scaling LLMs.

Import it as ``import scalebook as sb`` and call ``sb.use_cpu_devices(8)``
before anything else touches JAX.

Where code goes: six layers, bottom up.  A module imports only from its own
layer or those below (tests/unit/test_layers.py checks it), and the bottom
two never import JAX, so every formula runs where JAX is not installed.

1. registry: ``hardware`` (every chip number, with its source), ``config``
   (model architectures and, apart, workloads), ``dtypes`` (bytes per
   element), ``units`` (formatting and glue), ``tabular`` (the one table
   renderer), ``moe_config`` (mixture-of-experts architectures).
2. formulas, JAX-free: ``roofline``, ``counting`` (parameters, FLOPs,
   bytes), ``topology`` (tori, hops, the one wraparound rule), ``mesh``
   (one description of a device mesh), ``comms`` (what a collective costs,
   on a TPU torus or a GPU cluster; ``comms_gpu`` its GPU levels), ``ring`` (ring collectives step by
   step), ``cluster`` (GPU clusters: NVLink domains and fat trees),
   ``systolic``, ``tensorcore`` (unit rates from counts and the clock),
   ``tables``, ``inference`` (prefill and decode costs: step times in
   ``inference_step``, what fits in HBM in ``inference_fit``, decode
   sharding in ``inference_tp``, argument checks in ``inference_args``),
   ``paged_kv`` (a paged KV cache's block manager), ``serving`` (a
   discrete-event serving simulator: requests in ``serving_trace``, the
   engine in ``serving_engine``, measurements in ``serving_result``),
   ``speculative``, the one training cost model for TPU tori
   and GPU clusters (``train_layout`` layouts and number formats,
   ``train_memory`` bytes per device, ``train_comms`` a step's
   collectives, ``train_time`` step time and ``critical_tokens``,
   ``train_closed_forms`` the book's thresholds, ``train_rules``
   logical-axis rules, ``pipeline_schedules`` GPipe, 1F1B, interleaved
   and zero-bubble, and
   ``parallelism``, their public names in one place), ``planner`` (ranks
   the layouts of a training run; ``training_days``), ``moe_cost`` (what
   an MoE layer costs), ``context_parallel`` (ring attention against
   gathering K and V), ``esti`` (2D weight-stationary decode), ``inference_plans``
   (prefill sharding, cache layouts, smaller caches, chips for a latency
   cap), ``serving_modes`` (batched, interleaved and disaggregated
   serving compared),
   ``scaling`` (scaling laws and their fit; ``scaling_runs`` the runs
   they are fitted to; ``scaling_plan`` what a budget buys on a cluster),
   ``schedules`` (learning-rate schedules), ``corpus`` (synthetic text for
   the training runs).  New cost models go here.
3. JAX programs: ``devices``, ``compat`` (one API across JAX versions),
   ``model``, ``remat`` (checkpointed layers), ``flash`` (attention with
   an online softmax), ``sharding``, ``sharded_matmul``,
   ``paged_attention`` (attention through block tables),
   ``sharded_decode`` (tensor-parallel prefill and decode),
   ``spec_decode`` (a real draft/target pair), ``collectives``
   (collectives written with ppermute and all_to_all), ``modes`` (one
   layer in Auto, Explicit and Manual sharding), ``train_parallel`` (the
   training step under logical-axis rules), ``pipeline`` (pipeline
   parallelism with shard_map and ppermute), ``moe`` (the MoE layer and
   expert parallelism), ``ring_attention`` (context parallelism with
   ppermute round a ring, zig-zag balanced), ``engine`` (continuous
   batching on a real model through the paged cache), ``drafter`` (a
   trained drafter and the sampling rule of speculative decoding),
   ``disagg`` (prefill and decode on two device groups), ``tp_int8``
   (the int8 tensor-parallel decode MLP), ``esti_decode`` (2D
   weight-stationary decode on a three-axis mesh), ``seq_kv_attention``
   (decode attention over a sequence-sharded cache).
4. measurement of compiled programs: ``bench`` (timing, cost_analysis,
   memory_analysis), ``hlo`` (collectives and bytes in compiled HLO;
   ``hlo_groups`` its replica-group notations),
   ``model_xla`` (XLA's counts of the transformer's parts), ``hlo_layout``
   (layouts and TPU tiling notation), ``profiling`` (profiles read
   offline), ``perfbug`` (Chapter 9's planted sharding bug),
   ``train_check`` (a sharded training step, and whole strategies, against
   their cost model), ``moe_check`` (expert parallelism run beside
   ``moe_cost``), ``schedule_run`` (the tiny model under four
   learning-rate schedules), ``ring_check`` (ring attention against its
   cost model).
5. figures and explorers: ``explore.*`` (widgets with static fallbacks).
6. exercises: ``grading`` (the questions' registry, ``sb.check``,
   ``sb.progress``) with ``feedback`` (statuses and messages),
   ``answers`` (reading a number or a shape), ``questions`` (the question
   types) and ``choices`` (one of a few words, synonyms), ``refvalues``
   (reference values stored per JAX release: a check compiles none of the
   book's programs), ``hints`` (known wrong answers), ``readercode`` (the
   reader's code: stub, time limit, captured prints, whose error),
   ``codegrade`` (write-the-code tasks judged by result, collectives,
   FLOPs and memory; with ``codetask``, ``coderun``, ``codejudge``,
   ``trainparity`` and ``codepredict``), ``ledger`` (the reader's
   progress, kept on disk), ``selfcheck`` (the questions as data for the
   website's answer boxes) and ``exercises.chNN`` (one module of
   questions per chapter).
"""
from scalebook.devices import use_cpu_devices, use_real_devices
from scalebook.grading import check, progress
from scalebook.ledger import export as progress_export
from scalebook.ledger import import_ as progress_import
from scalebook.hardware import chip, CHIPS

__version__ = "0.1.0"

REPOSITORY_URL = "https://github.com/scalebook/scalebook"
"""Where the book lives; the same URL as `repository.url` in _config.yml."""

__all__ = ["use_cpu_devices", "use_real_devices", "check", "progress",
           "progress_export", "progress_import",
           "chip", "CHIPS",
           "REPOSITORY_URL"]


def __getattr__(name: str):
    """Import submodules on first use, so `sb.roofline.x` works after
    `import scalebook as sb` without importing JAX before the device set-up."""
    import importlib

    try:
        return importlib.import_module(f"scalebook.{name}")
    except ModuleNotFoundError as err:
        if err.name == f"scalebook.{name}":
            raise AttributeError(f"scalebook has no module or name {name!r}") from None
        raise
