"""Parallel training as formulas: the one training cost model, for TPU
tori and GPU clusters, under one name (Chapter 5 explains it; Chapter 6
plans LLaMA-3 runs with it through `scalebook.planner`; Chapter 12 prices
GPU clusters with it).  No JAX: the numbers hold for models far too big
to build, and the same functions predict what the simulated-device
programs of `scalebook.train_parallel` do.

This module gathers the public names of the modules that do the work,
one job each:

======================  =================================================
`train_layout`          layouts (an expert axis for a mixture of
                        experts among them), number formats, the book's
                        MLP stack, what the model reads from a config
`train_memory`          bytes per device (weights, gradients, optimizer
                        state, activations, FSDP's gathered weights)
`train_comms`           the collectives of a step and the mesh they run on
`train_time`            step time and `critical_tokens`: below how many
                        tokens per device a layout stops hiding its
                        communication, on a torus or a GPU cluster
`train_closed_forms`    the book's closed forms (alpha / M, F / alpha, ...)
`train_rules`           logical-axis rules (run by `train_parallel`)
`pipeline_schedules`    GPipe, 1F1B, interleaved and zero-bubble tick by
                        tick (run by `pipeline`)
======================  =================================================

Units: bytes, FLOPs, seconds, tokens.
"""
from __future__ import annotations

from scalebook.pipeline_schedules import Timeline, timeline
from scalebook.train_closed_forms import (bubble_fraction,
                                          dcn_critical_tokens,
                                          dp_critical_tokens,
                                          fsdp_tp_critical_tokens,
                                          fsdp_tp_optimal_data,
                                          level_critical_tokens,
                                          tp_max_ways)
from scalebook.train_comms import (Comm, collectives, default_spans,
                                   mesh_spec, ring_block_bytes)
from scalebook.train_layout import (AXES, CONTEXTS, PRECISIONS,
                                    STRATEGIES, Layout,
                                    MLPStack, Precision, Shape,
                                    check_layout, layout, model_flops,
                                    precision, shape_of, train_flops)
from scalebook.train_memory import (Memory, activation_values_per_token,
                                    kv_bytes, memory, memory_per_gpu,
                                    stage_params, stage_expert_params)
from scalebook.train_rules import Rule, Rules, logical_rules, one_axis
from scalebook.train_time import (PHASES, PipelineCost, StepCost,
                                  critical_tokens, max_tensor_parallel,
                                  pipeline_cost, ring_block_seconds,
                                  ring_exposed, step_cost)

__all__ = [
    "Precision", "PRECISIONS", "precision", "STRATEGIES", "Layout",
    "layout", "MLPStack", "Shape", "shape_of", "train_flops",
    "check_layout", "Memory", "memory", "stage_params",
    "stage_expert_params", "memory_per_gpu",
    "Comm", "collectives", "mesh_spec", "default_spans", "StepCost",
    "step_cost", "critical_tokens", "PHASES", "PipelineCost",
    "pipeline_cost", "max_tensor_parallel", "activation_values_per_token",
    "dp_critical_tokens", "tp_max_ways", "fsdp_tp_critical_tokens",
    "fsdp_tp_optimal_data", "dcn_critical_tokens", "bubble_fraction",
    "level_critical_tokens", "model_flops", "AXES", "Rule", "Rules",
    "logical_rules", "one_axis", "Timeline", "timeline", "CONTEXTS",
    "kv_bytes", "ring_block_bytes", "ring_block_seconds", "ring_exposed",
]
