"""A slow, obviously-correct replay of the definitions, to check the engine against."""

from __future__ import annotations

from collections import OrderedDict


def replay(inputs, outputs, capacity, chunk):
    """Returns (prefix hits, prefix sources, substring hits) per request."""
    p_hits, p_src = _prefix(inputs, outputs, capacity)
    s_hits = _substring(inputs, outputs, capacity, chunk)
    return p_hits, p_src, s_hits


def _store(pool, used, i, entry, capacity):
    if capacity is not None:
        entry = entry[:capacity]
        while used > 0 and used + len(entry) > capacity:
            _, old = pool.popitem(last=False)
            used -= len(old)
    pool[i] = entry
    return used + len(entry)


def _prefix(inputs, outputs, capacity):
    pool, used, hits, srcs = OrderedDict(), 0, [], []
    for i, (inp, out) in enumerate(zip(inputs, outputs)):
        best, who = 0, -1
        for j, e in pool.items():  # LRU order: strict > keeps the first on ties
            n = 0
            while n < min(len(inp), len(e)) and inp[n] == e[n]:
                n += 1
            if n > best:
                best, who = n, j
        if who >= 0:
            pool.move_to_end(who)
        hits.append(best)
        srcs.append(who)
        used = _store(pool, used, i, list(inp) + list(out), capacity)
    return hits, srcs


def chunks_of(inp, chunk):
    return [tuple(inp[k:k + chunk]) for k in range(0, len(inp) - chunk + 1, chunk)]


def _substring(inputs, outputs, capacity, chunk):
    pool, used, hits = OrderedDict(), 0, []
    for i, (inp, out) in enumerate(zip(inputs, outputs)):
        chunks = chunks_of(inp, chunk)
        matched, best, who = set(), 0, -1
        for j, e in pool.items():
            windows = [tuple(e[p:p + chunk]) for p in range(len(e) - chunk + 1)]
            pairs = 0
            for k, ch in enumerate(chunks):
                n = windows.count(ch)
                if n:
                    matched.add(k)
                    pairs += n
            if pairs > best:
                best, who = pairs, j
        if who >= 0:
            pool.move_to_end(who)
        hits.append(chunk * len(matched))
        used = _store(pool, used, i, list(inp) + list(out), capacity)
    return hits


def token_classes(inputs, outputs, chunk):
    """Unlimited pool: per token 1 prefix, 2 substring, 0 miss; and chunk first sightings."""
    p_hits, _ = _prefix(inputs, outputs, None)
    result, sources = [], []
    for i, inp in enumerate(inputs):
        cls = [0] * len(inp)
        src = []
        for k, ch in enumerate(chunks_of(inp, chunk)):
            first = (-1, -1)
            for j in range(i):
                e = list(inputs[j]) + list(outputs[j])
                hit = next((p for p in range(len(e) - chunk + 1) if tuple(e[p:p + chunk]) == ch), None)
                if hit is not None:
                    first = (j, hit)
                    break
            src.append(first)
            if first[0] >= 0:
                for t in range(k * chunk, k * chunk + chunk):
                    cls[t] = 2
        for t in range(p_hits[i]):
            cls[t] = 1
        result.append(cls)
        sources.append(src)
    return result, sources
