"""Chain ids of full blocks, shared by the block engines (vLLM, LMCache, CacheBlend).

Block j of a sequence is identified by its chain: (block j-1's chain, block j's B tokens).
Two blocks have equal chains exactly when their sequences agree on every token up to the
block's end, so a chain id is a prefix id, and equal prefixes get equal ids.

One numpy pass: a polynomial hash of every block's tokens (one matrix product), chained over the blocks of each
sequence as C_j = C_{j-1} * Q + h_j (mod 2^64), which is Q^j * cumsum(h_m * Q^-m): one
cumulative sum for all sequences. Blocks are grouped by (C_j, j), and the grouping is then
confirmed on the tokens (each block equals its group's first block token by token and has
the same parent id), so a hash collision can never merge two prefixes: it falls back to an
exact grouping with dicts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..tokens import entries_view

_P = np.uint64(0x9E3779B97F4A7C15)
_Q = np.uint64(0xC2B2AE3D27D4EB4F)
_ROUND_TOKENS = 1 << 20
"""Tokens of blocks hashed or compared per numpy pass (bounds the temporaries)."""


def _inverse(q: int) -> int:
    return pow(q, -1, 1 << 64)  # Q is odd, so it is invertible mod 2^64


def chain_ids(seqs: Sequence[np.ndarray], block_size: int) -> list[np.ndarray]:
    """Per sequence, the int64 chain ids of its full blocks (ids dense from 0; a partial last
    block has none)."""
    b = int(block_size)
    if b < 1:
        raise ValueError("block size must be >= 1")
    lengths = np.fromiter((len(a) for a in seqs), dtype=np.int64, count=len(seqs))
    parts = [np.asarray(a) for a in seqs if len(a)]
    flat = np.concatenate(parts) if parts else np.zeros(0, np.uint32)
    del parts
    starts = np.zeros(len(seqs), dtype=np.int64)
    np.cumsum(lengths[:-1], out=starts[1:])
    return span_chain_ids(flat, starts, lengths, b)


def span_chain_ids(flat: np.ndarray, starts: np.ndarray, lengths: np.ndarray, block_size: int) -> list[np.ndarray]:
    """chain_ids of the sequences flat[starts_k: starts_k + lengths_k], read in place: no
    copy of the tokens (the pipeline's flat array holds each request's prompt and output
    back to back), only a few integers per block."""
    b = int(block_size)
    if b < 1:
        raise ValueError("block size must be >= 1")
    counts = np.asarray(lengths, dtype=np.int64) // b
    n = len(counts)
    total = int(counts.sum()) if n else 0
    if total == 0:
        return _split(np.zeros(0, np.int64), counts, n)
    first_block = np.cumsum(counts) - counts
    pos = np.arange(total, dtype=np.int64) - np.repeat(first_block, counts)
    bstart = np.repeat(np.asarray(starts, dtype=np.int64), counts) + pos * b
    win = np.lib.stride_tricks.sliding_window_view(flat, b)  # win[s] is the block at s, a view
    step = max(1, _ROUND_TOKENS // b)
    with np.errstate(over="ignore"):
        pw = np.concatenate((np.cumprod(np.full(b - 1, _P, dtype=np.uint64))[::-1], [np.uint64(1)])) \
            if b > 1 else np.ones(1, np.uint64)
        h = np.empty(total, dtype=np.uint64)
        for lo in range(0, total, step):  # sum of (token + 1) x P^(B-1-col), wrapping mod 2^64
            h[lo:lo + step] = (win[bstart[lo:lo + step]].astype(np.uint64) + np.uint64(1)) @ pw
        qmax = int(pos.max()) + 1
        qpow = np.concatenate(([np.uint64(1)], np.cumprod(np.full(qmax - 1, _Q, dtype=np.uint64)))) \
            if qmax > 1 else np.ones(1, np.uint64)
        qinv = np.uint64(_inverse(int(_Q)))
        ipow = np.concatenate(([np.uint64(1)], np.cumprod(np.full(qmax - 1, qinv, dtype=np.uint64)))) \
            if qmax > 1 else np.ones(1, np.uint64)
        # In place, one array per block at a time: terms, their running sum, the chain, the key.
        key = h
        key *= ipow[pos]
        np.cumsum(key, out=key)
        before = np.where(first_block > 0, key[np.maximum(first_block - 1, 0)], np.uint64(0))
        key -= np.repeat(before, counts)
        del before
        key *= qpow[pos]
        key ^= pos.astype(np.uint64) * _P
        del ipow, qpow
    _, first, inv = np.unique(key, return_index=True, return_inverse=True)
    del key
    ids = inv.reshape(-1).astype(np.int64, copy=False)
    del inv
    # Confirm: same position, same tokens, same parent id as the group's first block.
    rep = first[ids]
    del first
    ok = bool(np.array_equal(pos[rep], pos))
    if ok:
        parent = np.roll(ids, 1)
        parent[pos == 0] = -1
        ok = bool(np.array_equal(parent[rep], parent))
        del parent
    ok = ok and all(np.array_equal(win[bstart[rep[lo:lo + step]]], win[bstart[lo:lo + step]])
                    for lo in range(0, total, step))
    del rep
    if not ok:
        ids = _exact(win[bstart], pos)
    return _split(ids, counts, n)


def _exact(rows: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """Collision fallback: group by (parent id, tokens) with a dict."""
    table: dict[tuple[int, bytes], int] = {}
    out = np.empty(len(rows), dtype=np.int64)
    prev = -1
    for k in range(len(rows)):
        if pos[k] == 0:
            prev = -1
        prev = out[k] = table.setdefault((int(prev), rows[k].tobytes()), len(table))
    return out


def _split(ids: np.ndarray, counts: np.ndarray, n: int) -> list[np.ndarray]:
    """ids cut into each sequence's (views of the one array)."""
    ends = np.cumsum(counts).tolist()
    return [ids[e - c: e] for e, c in zip(ends, counts.tolist())] if n else []


@dataclass(frozen=True)
class BlockTrace:
    """Stage (a) of the block engines: what their replays read, per request.

    Built from tokens by `block_trace`, or directly from a hashed trace's block ids (e.g.
    Mooncake's hash_ids): `ids[i]` are the chain ids of the leading full blocks of request i's
    sequence (prompt, then output) that are known; full blocks past them (an output nobody
    tokenized, a hashed trace's partial last block once the output fills it) get fresh ids,
    so they are stored but never hit. Only full blocks may be listed: a hashed trace lists
    its floor(input_length / B) full ones (`coarsen` keeps to them too).
    """

    block_size: int
    ids: tuple[np.ndarray, ...]
    prompt_lens: np.ndarray
    output_lens: np.ndarray

    @property
    def kv_lens(self) -> np.ndarray:
        """Tokens whose KV a request leaves, unclipped: its prompt and output but the last
        output token, which is sampled and never fed (an empty output still samples one)."""
        return np.where(self.prompt_lens > 0, self.prompt_lens + np.maximum(self.output_lens, 1) - 1, 0)


def block_trace(inputs: Sequence[np.ndarray], outputs: Sequence[np.ndarray], block_size: int) -> BlockTrace:
    """Each request's sequence is its prompt, then its output but the last token (when both
    are non-empty and the output has more than one)."""
    in_len = np.fromiter((len(a) for a in inputs), dtype=np.int64, count=len(inputs))
    out_len = np.fromiter((len(o) for o in outputs), dtype=np.int64, count=len(outputs))
    seq_len = np.where((in_len > 0) & (out_len > 1), in_len + out_len - 1, in_len)
    flat = entries_view(inputs, outputs)
    if flat is not None:  # the pipeline's one flat array: each sequence is read where it lies
        ids = span_chain_ids(flat, inputs.starts, seq_len, block_size)
    else:
        seqs = []
        for a, o in zip(inputs, outputs):
            seqs.append(np.concatenate((a, o[:max(len(o) - 1, 0)])) if len(a) and len(o) > 1 else a)
        ids = chain_ids(seqs, block_size)
        del seqs
    for x in ids:
        x.flags.writeable = False
    return BlockTrace(int(block_size), tuple(ids), in_len, out_len)


def dense_ids(bt: BlockTrace) -> tuple[list[np.ndarray], int]:
    """The ids renumbered 0..K-1 when they are not already (ids supplied by a hashed trace),
    and K."""
    ids = list(bt.ids)
    if not ids:
        return ids, 0
    allv = np.concatenate(ids) if len(ids) > 1 else ids[0]
    if not allv.size:
        return ids, 0
    lo, hi = int(allv.min()), int(allv.max())
    if lo >= 0 and hi < 4 * allv.size + 1024:
        return ids, hi + 1
    uniq, inv = np.unique(allv, return_inverse=True)
    cuts = np.cumsum([len(x) for x in ids])[:-1]
    return np.split(inv.astype(np.int64).reshape(-1), cuts), len(uniq)


def coarsen(bt: BlockTrace, factor: int) -> BlockTrace:
    """The same requests in blocks of factor x B tokens (an engine block or page that is a
    multiple of a hashed trace's block): a run of `factor` ids of full blocks becomes its last
    id, which (ids being chained) stands for the run and everything before it. Ids that make
    no whole run, or name a block past the prompt's full ones, are dropped."""
    if factor < 1:
        raise ValueError("factor must be >= 1")
    if factor == 1:
        return bt
    b = bt.block_size
    ids = []
    for x, p in zip(bt.ids, bt.prompt_lens.tolist()):
        full = min(len(x), p // b) // factor
        y = np.ascontiguousarray(x[factor - 1:full * factor:factor])
        y.flags.writeable = False
        ids.append(y)
    return BlockTrace(b * factor, tuple(ids), bt.prompt_lens, bt.output_lens)
