"""Chapter 7 exercises: answers worked out by hand from the statements
pass, each known mistake gets its hint, and the program-graded ones (7.5
by HLO, 7.7 by the simulator, 7.9 by a fixed trace) use the program."""
import math

import pytest

import hint_checks
from scalebook import grading as g
from scalebook import paged_kv as pk
from scalebook.exercises import ch07

H100_FLOPS, H100_BW, H100_HBM = 9.89e14, 3.35e12, 80e9
# LLaMA-3 8B: L, D, F, N, K, H, V
L8, D8, F8, N8, K8, H8, V8 = 32, 4096, 14336, 32, 8, 128, 128256
P8 = (L8 * (D8 * N8 * H8 + 2 * D8 * K8 * H8 + N8 * H8 * D8 + 3 * D8 * F8
            + 2 * D8) + 2 * V8 * D8 + D8)
KV8 = 2 * L8 * K8 * H8          # numbers per token
LENS = (100, 1000, 17, 4096, 250)


def _step_ms(B, S):
    w = 2 * P8 / H100_BW
    kv = B * S * KV8 * 2 / H100_BW
    return (kv + max(w, 2 * P8 * B / H100_FLOPS)) * 1e3


# ---------------------------------------------------------- 7.9 solution
def allocate(self, seq_id, tokens):
    self.check_request(len(tokens))
    hashes = self.block_hashes(tokens)
    hits = self.cached_prefix(hashes)
    n = self.blocks_needed(len(tokens))
    need = n - len(hits) + sum(self.ref[b] == 0 for b in hits)
    if need > self.num_free:
        raise pk.NoFreeBlocks(f"{need} blocks needed")
    table = []
    for b in hits:
        self.share_block(b)
        table.append(b)
    self.hits += len(hits)
    for i in range(len(hits), n):
        b = self.take_block()
        if i < len(hashes):
            self.register(b, hashes[i])
        table.append(b)
    self.tables[seq_id] = table
    self.lengths[seq_id] = len(tokens)
    return len(hits) * self.block_size


def append(self, seq_id, token=0):
    n = self.lengths[seq_id]
    if n % self.block_size == 0:
        self.tables[seq_id].append(self.take_block())
    self.lengths[seq_id] = n + 1


def free(self, seq_id):
    for b in reversed(self.tables.pop(seq_id)):
        self.release_block(b)
    del self.lengths[seq_id]


class Mine(pk.BlockPool):
    allocate, append, free = allocate, append, free


class NoSharing(Mine):
    def allocate(self, seq_id, tokens):
        if self.blocks_needed(len(tokens)) > self.num_free:
            raise pk.NoFreeBlocks("short")
        table = [self.take_block() for _ in
                 range(self.blocks_needed(len(tokens)))]
        self.tables[seq_id] = table
        self.lengths[seq_id] = len(tokens)
        return 0


class Leaky(Mine):
    def free(self, seq_id):
        self.tables.pop(seq_id)
        del self.lengths[seq_id]


class ForwardFree(Mine):
    def free(self, seq_id):
        for b in self.tables.pop(seq_id):
            self.release_block(b)
        del self.lengths[seq_id]


class Stub(pk.BlockPool):
    def allocate(self, seq_id, tokens):
        ...

    def append(self, seq_id, token=0):
        ...

    def free(self, seq_id):
        ...


def _gqa_by_hand(K=8, weights_K=None):
    """7.10 from the statement: LLaMA-2 13B's shape with K KV heads."""
    D, F, L, N, H, V = 5120, 13824, 40, 40, 128, 32000
    Kw = weights_K or K
    P = (L * (D * N * H + 2 * D * Kw * H + N * H * D + 3 * D * F + 2 * D)
         + 2 * V * D + D)
    return math.floor((8 * 16e9 - 2 * P) / (8192 * 2 * L * K * H * 2))


def _long_by_hand(kv_bytes=1, K=8):
    """7.11 from the statement: the Part 7 model, tied embeddings, bf16
    weights, 128k tokens of cache, a v5e 4x4."""
    D, F, L, N, H, V = 4096, 16384, 64, 32, 256, 32128
    P = L * (D * N * H + 2 * D * K * H + N * H * D + 3 * D * F + 2 * D) \
        + V * D + D
    return math.floor((16 * 16e9 - 2 * P) / (131072 * 2 * L * K * H
                                             * kv_bytes))


V5P_ALPHA = 4.59e14 / 1.8e11     # v5p bf16 FLOP/s over ICI bytes/s, per axis
TP_405 = 2 ** math.floor(math.log2(53248 * 2 / V5P_ALPHA))

SOLUTIONS = {
    "7.1": H100_FLOPS * 1 / (2 * H100_BW),
    "7.2": _step_ms(16, 4096),
    "7.3": math.floor((H100_HBM - P8) / (8192 * KV8 * 1)),
    "7.4": 1 - 8 / 64,
    "7.5": {"count": 2 * 3, "bytes": 2 * (8 // 2 * 128 * 4) * 3 / 4},
    "7.6": {"blocks": sum(math.ceil(n / 16) for n in LENS),
            "saving": 1 - sum(math.ceil(n / 16) for n in LENS) / 1280},
    "7.7": _step_ms(16, 512 + 128 / 2),
    "7.8": "kv",
    "7.10": _gqa_by_hand(),
    "7.11": _long_by_hand(),
    "7.12": {"tp": TP_405, "seq": 64 // TP_405},
    "7.9": Mine,
}


@pytest.mark.parametrize("qid", sorted(SOLUTIONS))
def test_worked_solutions_pass(qid):
    fb = g.grade(qid, SOLUTIONS[qid])
    assert fb.passed, fb


@pytest.mark.parametrize("qid", sorted(SOLUTIONS))
def test_blank_answers_are_not_attempted(qid):
    assert g.grade(qid, ...).status == g.BLANK


def test_the_stub_class_is_not_attempted():
    assert g.grade("7.9", Stub).status == g.BLANK


S = SOLUTIONS
READER = {q: a for q, a in SOLUTIONS.items() if q != "7.9"}
"""Right answers to the questions with hints (7.9 is graded by a trace)."""

MISTAKES = [
    ("7.1", None, 2 * S["7.1"], "twice the answer"),
    ("7.1", None, S["7.1"] / 2, "half the answer"),
    ("7.1", None, 4 * S["7.1"], "four times the answer"),
    ("7.2", None, 2 * P8 / H100_BW * 1e3, "weight load alone"),
    ("7.2", None, (16 * 4096 * KV8 * 2 / H100_BW + 2 * P8 / H100_BW
                   + 2 * P8 * 16 / H100_FLOPS) * 1e3, "larger, not the sum"),
    ("7.2", None, (4 * 16 * 4096 * KV8 * 2 + 2 * P8) / H100_BW * 1e3,
     "K = 8"),
    ("7.3", None, math.floor((H100_HBM - P8) / (8192 * KV8 * 2)),
     "bf16 cache"),
    ("7.3", None, math.floor(H100_HBM / (8192 * KV8)), "weights take HBM"),
    ("7.3", None, S["7.3"] + 1, "round down"),
    ("7.4", None, 8 / 64, "useful fraction"),
    ("7.4", None, 8, "number of copies"),
    ("7.5", "count", 3, "one per layer"),
    ("7.5", "count", 12, "not four"),
    ("7.5", "bytes", 8 // 2 * 128 * 4, "2 V (n-1)/n bytes per"),
    ("7.5", "bytes", 2 * 8 * 128 * 4 * 3 / 4, "data axis"),
    ("7.5", "bytes", 8 // 2 * 128 * 4 * 3 / 4, "reduce-scatter plus"),
    ("7.6", "saving", 1 - S["7.6"]["saving"], "still uses"),
    ("7.6", "blocks", sum(n // 16 for n in LENS), "round each"),
    ("7.6", "blocks", 1280, "reserves"),
    ("7.7", None, _step_ms(16, 512), "not the prompt alone"),
    ("7.7", None, _step_ms(16, 512 + 128), "last step"),
    ("7.8", None, "weights", "64 caches"),
    ("7.8", None, "compute", "critical"),
    ("7.10", None, _gqa_by_hand(K=40), "all 40"),
    ("7.10", None, _gqa_by_hand(weights_K=40), "shrink too"),
    ("7.10", None, _gqa_by_hand() + 1, "round down"),
    ("7.11", None, _long_by_hand(kv_bytes=2), "bf16 cache"),
    ("7.11", None, _long_by_hand() + 1, "round down"),
    ("7.11", None, _long_by_hand(K=1), "single KV head"),
    ("7.12", "tp", TP_405 // 2, "one mesh axis"),
    ("7.12", "seq", 2 * (64 // TP_405), "one mesh axis"),
]
"""(qid, part, wrong answer, words of the hint it must get)."""


@pytest.mark.parametrize("qid,part,answer,words", MISTAKES)
def test_known_mistakes_get_their_hint(qid, part, answer, words):
    hint_checks.assert_mistake_gets_its_hint(READER, qid, part, answer,
                                             words)


def test_every_hint_is_reached_by_some_mistake():
    hint_checks.assert_every_hint_reached(READER, MISTAKES)


@pytest.mark.parametrize("answer,words", [
    (NoSharing, "no prefix-cache hits"),
    (Leaky, "inconsistent"),
    (ForwardFree, "last-first"),
])
def test_block_manager_mistakes_get_their_message(answer, words):
    fb = g.grade("7.9", answer)
    assert fb.status == g.FAIL
    assert words in fb.message, fb.message


def test_program_graded_answers_come_from_the_programs():
    """7.5 equals what XLA emitted; 7.7 equals the simulator's TPOT; the
    7.9 reference result has preemptions and prefix hits to check."""
    colls = ch07.hlo_decode_collectives()
    assert g.question("7.5").parts["count"]._expected_value() == len(colls)
    assert {c.kind for c in colls} == {"all-reduce"}
    assert g.question("7.7")._expected_value() == pytest.approx(
        ch07.simulated_tpot())
    ref = ch07.reference_result()
    assert ref.preemptions > 0 and ref.prefix_hits > 0


def test_wrong_types_get_a_type_message():
    assert g.grade("7.9", 42).status == g.FAIL
    assert "subclasses" in g.grade("7.9", 42).message
    assert g.grade("7.1", "148").status == g.BAD_TYPE
