"""Why a prefix engine missed: the tokens each request lost, split by cause.

For request i (prompt L) at a pool, lost = L - hit splits exactly into (a hashed trace: the
same at the trace's block granularity, `reachable_blocks`)
- rejection: the engine refused the request (all L tokens);
- divergence: L - D, where D is the longest prefix of the prompt that an earlier request's
  stored KV held (prompt + output but its last token for vLLM and SGLang, the prompt for
  LMCache; requests refused by the engine's unlimited pool store nothing): the break;
- rounding: D - the unlimited pool's hit: whole blocks / pages / chunks only, and the L-1 cap;
- eviction: the unlimited pool's hit - this pool's: present before, evicted by the pool (or
  never stored because the pool refused or cut an earlier request). It can be negative in
  principle (a pool that refused a request keeps others longer), so the four always add up.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .base import EnginePool, EngineResult, EngineSettings
from .sglang import RadixReplay, as_bytes

KINDS = ("divergence", "eviction", "rounding", "rejection")
ENGINES = ("vllm", "sglang", "lmcache")


def reachable(res: EngineResult, inputs: Sequence[np.ndarray], outputs: Sequence[np.ndarray],
              settings: EngineSettings) -> np.ndarray:
    """D per request (see above), token by token."""
    ctx = settings.context_length
    tree = RadixReplay(None, 1)
    out = np.zeros(len(inputs), dtype=np.int64)
    refused = res.unlimited.rejected
    for i, (a, o) in enumerate(zip(inputs, outputs)):
        n = len(a)
        if n == 0 or refused[i]:
            continue
        pb = as_bytes(a)
        out[i] = tree.match(pb, n)[0]
        if res.engine == "lmcache":
            tree.insert(pb, n)
            continue
        m = max(len(o), 1)
        if res.engine == "vllm":
            kv = min(n + m - 1, ctx - 1)
        else:  # sglang's clip of the output
            kv = n + max(1, max(0, min(len(o), ctx - 1 - n - 1))) - 1
        tree.insert(pb + as_bytes(o[:kv - n]) if kv > n else pb, kv)
    return out


def reachable_blocks(res: EngineResult, trace) -> np.ndarray:
    """D per request of a hashed trace, in tokens: the leading full blocks (of the trace's
    size B) that an earlier request the engine's unlimited pool served had stored. Only full
    prompt blocks carry ids, so nothing else can ever be found again (an output, a partial
    block); a block id stands for its prefix, so a set of ids is the store."""
    b = trace.block_size
    refused = res.unlimited.rejected
    seen: set[int] = set()
    out = np.zeros(len(trace.requests), dtype=np.int64)
    for i, r in enumerate(trace.requests):
        h = r.hashed
        if not h.input_length or refused[i]:
            continue
        full = h.block_ids[:h.full_blocks]
        k = 0
        while k < len(full) and full[k] in seen:
            k += 1
        out[i] = k * b
        seen.update(full)
    return out


def split(res: EngineResult, pool: EnginePool, reach: np.ndarray, prompt_lens: np.ndarray) -> dict[str, np.ndarray]:
    """Per request, tokens lost by cause (KINDS); they add up to prompt - hit."""
    rej = pool.rejected
    unl = res.unlimited.prefix_hits
    zero = np.zeros_like(prompt_lens)
    return {
        "divergence": np.where(rej, zero, prompt_lens - reach),
        "eviction": np.where(rej, zero, unl - pool.prefix_hits),
        "rounding": np.where(rej, zero, reach - unl),
        "rejection": np.where(rej, prompt_lens, zero),
    }
