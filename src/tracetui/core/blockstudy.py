"""The study model on a hashed trace, at block granularity.

A hashed trace has no tokens, only block hash ids. The engine (core.engines.study) replays it with
one "token" per block and chunks of one block, in a pool counted in blocks, and its figures
are then scaled back to tokens:

- a request's input is its full blocks' ids, then one id no other request has for the
  partial tail (a last block of fewer than B tokens can never be hit);
- its output is ids no other request has, enough that input and output fill
  ceil((input_length + output_length) / B) blocks: the output takes room in the pool (as
  a paged engine holds it) and is never hit;
- a pool of G GB holds floor(G x tokens_per_gb / B) blocks.

Every hit is a whole full block, so hits x B are the token figures exactly; input lengths
are the trace's `input_length`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import replace

import numpy as np

from .engines.study import Analysis, PoolResult, analyze, parse_pool_size
from .model import HashedInput, Trace

__all__ = ["block_sequences", "analyze_hashed", "coarse_blocks", "diagnose_hashed"]


def coarse_blocks(h: HashedInput, factor: int) -> HashedInput:
    """A request's blocks at `factor` times the trace's block size (an engine page of
    factor x B tokens): a run of `factor` ids becomes its last id, which (ids being chained)
    stands for the run and everything before it. Ids left after the last whole run become
    one last, partial block (their last id); it is never hit."""
    if factor < 1:
        raise ValueError("factor must be >= 1")
    if factor == 1:
        return h
    ids = h.block_ids
    full = h.full_blocks // factor
    out = [ids[(k + 1) * factor - 1] for k in range(full)]
    if len(ids) > full * factor:
        out.append(ids[-1])
    return HashedInput(tuple(out), h.input_length, h.output_length, full)


def block_sequences(trace: Trace) -> tuple[tuple[np.ndarray, ...], tuple[np.ndarray, ...]]:
    """(inputs, outputs) as block-id arrays; ids past the trace's own are fresh, one each."""
    b = trace.block_size
    assert b is not None, "not a hashed trace"
    fresh = 1 + max((max(r.hashed.block_ids, default=-1) for r in trace.requests), default=-1)
    inputs, outputs = [], []
    for r in trace.requests:
        h = r.hashed
        ids = np.asarray(h.block_ids[: h.full_blocks], dtype=np.int64)
        tail = int(h.input_length > h.full_blocks * b)
        stored = -(-(h.input_length + h.output_length) // b)
        n_out = max(stored - h.full_blocks - tail, 0)
        inp = np.concatenate([ids, np.arange(fresh, fresh + tail, dtype=np.int64)])
        out = np.arange(fresh + tail, fresh + tail + n_out, dtype=np.int64)
        fresh += tail + n_out
        inputs.append(inp)
        outputs.append(out)
    if fresh >= 1 << 32:
        raise ValueError("hashed trace too large: more than 2**32 distinct blocks")
    ins = tuple(_frozen(a.astype(np.uint32)) for a in inputs)
    outs = tuple(_frozen(a.astype(np.uint32)) for a in outputs)
    return ins, outs


def _frozen(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False
    return a


def analyze_hashed(trace: Trace, *, pool_sizes, tokens_per_gb: float,
                   progress: Callable[[int, int], None] | None = None,
                   cancel: threading.Event | None = None, sequences: tuple[tuple, tuple] | None = None,
                   ) -> tuple[Analysis, tuple, tuple]:
    """The study model's Analysis of a hashed trace in tokens (chunk size = the block size),
    with the block-id sequences it replayed (`sequences`: block_sequences(trace), if made)."""
    b = trace.block_size
    inputs, outputs = sequences if sequences is not None else block_sequences(trace)
    per_gb = tokens_per_gb / b
    # A pool smaller than one block holds nothing: no hit, nothing to replay (the engine's
    # replay of an empty pool is slow on long traces).
    sizes = [parse_pool_size(s, per_gb) for s in pool_sizes]
    replayed = [s for s, size in zip(pool_sizes, sizes) if size.capacity != 0]
    blocks = analyze(inputs, outputs, pool_sizes=replayed or ("unlimited",), chunk_size=1, tokens_per_gb=per_gb,
                     progress=progress, cancel=cancel)
    by_label = iter(blocks.pools)
    zero = _frozen(np.zeros(len(inputs), dtype=np.int64))
    none = _frozen(np.full(len(inputs), -1, dtype=np.int64))
    pools_in_blocks = [PoolResult(size, zero, none, zero, blocks.unlimited.input_tokens) if size.capacity == 0
                       else next(by_label) for size in sizes]
    blocks = replace(blocks, pools=tuple(pools_in_blocks))
    in_len = _frozen(np.array([r.hashed.input_length for r in trace.requests], dtype=np.int64))
    out_len = _frozen(np.array([r.hashed.output_length for r in trace.requests], dtype=np.int64))
    total = int(in_len.sum())

    def scaled(p: PoolResult) -> PoolResult:
        # The pool keeps its label; its capacity is said in tokens, as for a text trace.
        size = replace(p.size, capacity=None if p.size.capacity is None else p.size.capacity * b)
        return PoolResult(size, _frozen(p.prefix_hits * b), p.prefix_source, _frozen(p.substring_hits * b), total)

    pools = tuple(scaled(p) for p in blocks.pools)
    unlimited = scaled(blocks.unlimited)
    analysis = replace(blocks, chunk_size=b, tokens_per_gb=tokens_per_gb, input_lens=in_len, output_lens=out_len,
                       pools=pools, unlimited=unlimited, combined_hits=_frozen(blocks.combined_hits * b))
    return analysis, inputs, outputs


def diagnose_hashed(loaded, cancel: threading.Event | None = None) -> tuple:
    """The break of every request of a hashed trace (unlimited pool): the first missed block.

    - no input: `empty` (nothing to reuse, nothing lost), as in a text trace;
    - no block reused: `new` ("first request", "new session", "no shared prefix"): `new` is
      kept for nothing shared;
    - every full block reused, or the request's full blocks continue its source's: `append`
      (what follows the hit is new content, not a change);
    - otherwise `edit`: block k differs from the source's block k: "new session" for a
      session's first request that shares a prefix (a system prompt) with another session
      (a text trace calls that an edit too), else "inside the session" when the source is an
      earlier request of the same session, else "across sessions".
    """
    from .diagnose import Break
    from .engines.study import AnalysisCancelled

    a, t = loaded.analysis, loaded.trace
    b = t.block_size
    seen: set = set()
    out = []
    for i, r in enumerate(t.requests):
        if cancel is not None and cancel.is_set():
            raise AnalysisCancelled()
        h = r.hashed
        p, j = int(a.unlimited.prefix_hits[i]), int(a.unlimited.prefix_source[i])
        n_in = h.input_length
        recovered = int(a.combined_hits[i]) - p
        k = p // b
        if n_in == 0:
            cause, desc = "empty", "no input tokens"
        elif j < 0 or p == 0:
            cause = "new"
            desc = ("first request" if i == 0 else "new session" if r.session_id not in seen
                    else "no shared prefix")
        else:
            src = t.requests[j].hashed
            if k >= h.full_blocks:
                cause, desc = "append", "every full block reused"
            elif k >= src.full_blocks:
                cause, desc = "append", "continues the source entry"
            elif r.session_id not in seen:
                # A session's first request shares a prefix (a system prompt) with another.
                cause, desc = "edit", "new session: block changed after the shared prefix"
            else:
                same = t.requests[j].session_id == r.session_id
                cause = "edit"
                desc = f"block changed {'inside the session' if same else 'across sessions'}"
        out.append(Break(i, j, cause, p, n_in, 0, False, None, "", "", desc, recovered))
        seen.add(r.session_id)
    return tuple(out)
