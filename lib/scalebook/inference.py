"""The inference cost model: prefill and decode step times, what bounds
them, how large a slice a model needs, and how to shard it (Chapters 7
and 8).

No JAX here.  Bytes come from `scalebook.counting`, chip numbers from
`scalebook.hardware`, collective times from `scalebook.comms`.

The decode step (one new token for each of ``batch`` sequences, each with
``context`` tokens of KV cache) on ``chips`` chips that share the work
evenly:

- ``t_weights = weight bytes / (chips * W_hbm)``: every weight is read once
  per step, however large the batch;
- ``t_kv = batch * context * KV bytes per token / (chips * W_hbm)``: every
  sequence reads its own cache, so attention is always memory-bound;
- ``t_flops = 2 * P * batch / (chips * C)``: two FLOPs per parameter per
  token (the weight matmuls; attention's own FLOPs ride on the KV read);
- ``t_comms``: chip-to-chip time, from `scalebook.comms` when asked.

Step time ``= t_kv + max(t_weights, t_flops, t_comms)``: the weight
matmuls overlap their loads with their math and with the collectives,
while attention's KV read is a separate memory-bound phase.  At small
batch ``t_weights`` wins (the latency floor), above the critical batch
``t_flops`` does, and at long context ``t_kv`` grows past both.

Units: bytes, seconds, FLOPs, tokens; a "batch" counts sequences, and a
decode step makes one token per sequence.

The model is split by question; this module collects their public names,
so ``from scalebook import inference as inf`` reaches all of them:

- `scalebook.inference_step`: step times of prefill and decode, their
  bounds, and the serving rates they give (`decode_step`,
  `prefill_time`, `critical_batch`, `qps_per_chip`, ...);
- `scalebook.inference_fit`: what fits in HBM (`kv_bytes_per_seq`,
  `max_batch`, `check_fits`, `smallest_slice`);
- `scalebook.inference_tp`: sharding decode over chips (`tp_layer_times`,
  `decode_collectives`, `attention_layout`, ...);
- `scalebook.inference_args`: the argument checks they share.
"""
from __future__ import annotations

from scalebook.inference_fit import (SliceFit, check_fits, kv_bytes_per_seq,
                                     max_batch, slice_shapes, smallest_slice)
from scalebook.inference_step import (StepTime, batch_sweep, critical_batch,
                                      decode_flops_per_token, decode_step,
                                      disaggregation_ratio, flops_floor,
                                      full_hbm_step, kv_bound_context,
                                      kv_eviction_rate, latency_floor,
                                      prefill_time, qps_per_chip, step_time,
                                      throughput_ceiling)
from scalebook.inference_tp import (AttentionLayout, attention_layout,
                                    decode_collectives, kv_replication,
                                    tp_activation_bytes, tp_flops_limit,
                                    tp_latency_bound_width, tp_layer_times,
                                    tp_memory_limit)

__all__ = [
    "StepTime", "step_time", "decode_step", "prefill_time",
    "critical_batch", "kv_bound_context", "latency_floor", "flops_floor",
    "full_hbm_step", "decode_flops_per_token",
    "kv_bytes_per_seq", "max_batch", "check_fits", "slice_shapes",
    "SliceFit", "smallest_slice", "throughput_ceiling", "qps_per_chip",
    "batch_sweep", "tp_flops_limit", "tp_memory_limit", "tp_layer_times",
    "tp_activation_bytes", "kv_replication", "AttentionLayout",
    "attention_layout", "decode_collectives", "disaggregation_ratio",
    "kv_eviction_rate", "tp_latency_bound_width",
]
