"""Slow, plain transcriptions of each real engine's rules (lists and dicts, tokens as tuples),
to check core/engines against request by request."""

from __future__ import annotations

import math


def _kv_tokens(prompt, output, limit):
    """Tokens whose KV a request leaves: prompt + output but the last token (one token is always
    sampled), cut to `limit` tokens in all."""
    m = max(len(output), 1)
    seq = list(prompt) + list(output[:m - 1])
    return seq[:limit]


# --------------------------------------------------------------------------- vLLM

def vllm(inputs, outputs, capacity, block, context):
    """Blocks named by the tuple of every token up to their end; the free queue is a list.
    The pool's blocks are all usable (vLLM's null block is an extra one)."""
    if capacity is None:
        n_blocks = sum(math.ceil((len(a) + max(len(o), 1)) / block) for a, o in zip(inputs, outputs)) + 1
        max_len = context
    else:
        n_blocks = capacity // block
        max_len = min(context, n_blocks * block)
    free = list(range(n_blocks))  # never-used blocks first
    holds = {}  # block -> chain (tuple) it caches
    cached = {}  # chain -> [blocks], first cached first
    hits, rejected = [], []
    for prompt, output in zip(inputs, outputs):
        prompt = list(prompt)
        if not prompt:
            hits.append(0)
            rejected.append(False)
            continue
        if len(prompt) >= max_len:
            hits.append(0)
            rejected.append(True)
            continue
        rejected.append(False)
        seq = _kv_tokens(prompt, list(output), max_len - 1)
        mine = []
        for j in range((len(prompt) - 1) // block):
            chain = tuple(prompt[:(j + 1) * block])
            if not cached.get(chain):
                break
            mine.append(cached[chain][0])
        hits.append(len(mine) * block)
        for b in mine:
            free.remove(b)
        for _ in range(math.ceil(len(seq) / block) - len(mine)):
            b = free.pop(0)
            if b in holds:
                cached[holds[b]].remove(b)
                del holds[b]
            mine.append(b)
        for j in range(hits[-1] // block, len(seq) // block):
            chain = tuple(seq[:(j + 1) * block])
            holds[mine[j]] = chain
            cached.setdefault(chain, []).append(mine[j])
        # free_blocks(reversed(blocks)): cached blocks to the end, the others to the front.
        first = [b for b in reversed(mine) if b not in holds]
        free[:0] = first
        free.extend(b for b in reversed(mine) if b in holds)
    return hits, rejected


# --------------------------------------------------------------------------- SGLang

class _Tree:
    """RadixCache as dicts: node id -> {key, parent, children, time, lock}."""

    def __init__(self, page):
        self.page = page
        self.clock = 0
        self.nodes = {0: {"key": [], "parent": None, "children": {}, "time": 0, "lock": 1}}
        self.next_id = 1

    def tick(self):
        self.clock += 1
        return self.clock

    def first(self, key):
        return tuple(key[:self.page])

    def common(self, a, b):
        n = 0
        while n < len(a) and n < len(b) and a[n] == b[n]:
            n += 1
        return n - n % self.page

    def split(self, c, n):
        node = self.nodes[c]
        new = self.next_id
        self.next_id += 1
        self.nodes[new] = {"key": node["key"][:n], "parent": node["parent"], "children": {},
                           "time": self.tick(), "lock": node["lock"]}
        self.nodes[node["parent"]]["children"][self.first(node["key"])] = new
        node["key"] = node["key"][n:]
        node["parent"] = new
        self.nodes[new]["children"][self.first(node["key"])] = c
        return new

    def walk(self, key, inserting):
        key = key[:len(key) - len(key) % self.page]
        cur, pos = 0, 0
        self.nodes[0]["time"] = self.tick()
        while pos < len(key) and self.first(key[pos:]) in self.nodes[cur]["children"]:
            c = self.nodes[cur]["children"][self.first(key[pos:])]
            self.nodes[c]["time"] = self.tick()
            n = self.common(self.nodes[c]["key"], key[pos:])
            pos += n
            if n < len(self.nodes[c]["key"]):
                cur = self.split(c, n)
                if not inserting:
                    break
            else:
                cur = c
        if inserting and pos < len(key):
            new = self.next_id
            self.next_id += 1
            self.nodes[new] = {"key": key[pos:], "parent": cur, "children": {}, "time": self.tick(), "lock": 0}
            self.nodes[cur]["children"][self.first(key[pos:])] = new
        return pos, cur

    def lock(self, node, d):
        while node is not None:
            self.nodes[node]["lock"] += d
            node = self.nodes[node]["parent"]

    def evict(self, want):
        freed = 0
        while freed < want:
            leaves = [k for k, v in self.nodes.items() if k and not v["children"] and v["lock"] == 0]
            if not leaves:
                break
            x = min(leaves, key=lambda k: self.nodes[k]["time"])
            node = self.nodes.pop(x)
            del self.nodes[node["parent"]]["children"][self.first(node["key"])]
            freed += len(node["key"])
        return freed


def sglang(inputs, outputs, capacity, context, page=1):
    """`inputs` / `outputs`: token lists; see sglang_seqs for the rules."""
    seqs = [list(p) + list(o[:max(len(o), 1) - 1]) for p, o in zip(inputs, outputs)]
    return sglang_seqs(seqs, [len(p) for p in inputs], [len(o) for o in outputs], capacity, context, page)


def sglang_seqs(seqs, plens, olens, capacity, context, page=1, unit=1):
    """One request at a time, step by step as the scheduler runs it: seqs[i] is request i's
    prompt then output as elements of `unit` tokens (tokens, or page ids: unit = P, page 1),
    pages of P = page x unit tokens; slots counted in tokens."""
    ps = page * unit
    max_req = context - 1 if capacity is None else min(context - 1, capacity - 1)
    tree = _Tree(page)
    free = math.inf if capacity is None else capacity
    hits, rejected = [], []

    def evict_for(demand):  # evict_from_tree_cache
        nonlocal free
        if free < demand:
            free += tree.evict(math.ceil((demand - free) / unit)) * unit

    def take(n):
        nonlocal free
        assert free >= n
        free -= n

    def pages(n):
        return math.ceil(n / ps) * ps

    for seq, L, M in zip(seqs, plens, olens):
        seq = list(seq)
        if not L or L >= max_req - 5:
            hits.append(0)
            rejected.append(bool(L))
            continue
        rejected.append(False)
        m = max(0, min(M, max_req - L - 1))
        if capacity is not None:
            m = max(0, min(m, capacity - pages(L) - ps - 1))
        m = max(m, 1)
        hit, node = tree.walk(seq[:(L - 1) // unit], False)
        hit *= unit
        hits.append(hit)
        tree.lock(node, 1)
        evict_for(L - hit + (ps if ps > 1 else 0))  # prefill: the extend, plus a page
        take(pages(L) - hit)
        have, _ = tree.walk(seq[:L // unit], True)
        free += max(0, have * unit - hit)
        _, node2 = tree.walk(seq[:L // unit], False)
        tree.lock(node, -1)
        tree.lock(node2, 1)
        held = pages(L)
        for pos in range(L, L + m - 1):  # decode steps, one token each
            evict_for(ps)
            if pos % ps == 0:
                take(ps)
                held += ps
        n = L + m - 1
        have, _ = tree.walk(seq[:n // unit], True)
        free += max(0, have * unit - (L - L % ps))
        free += held - (n - n % ps)
        tree.lock(node2, -1)
    return hits, rejected


# --------------------------------------------------------------------------- LMCache, CacheBlend

def _chunk_lru(groups_per_request, capacity_chunks):
    """Each request: look every group up (leading stored chunks), touch them, then store all."""
    order = []  # least recently used first
    out = []
    for groups in groups_per_request:
        runs = []
        for g in groups:
            k = 0
            while k < len(g) and g[k] in order:
                k += 1
            for c in g[:k]:
                order.remove(c)
                order.append(c)
            runs.append(k)
        for g in groups:
            for c in g:
                if c in order or capacity_chunks == 0:
                    continue
                if capacity_chunks is not None and len(order) >= capacity_chunks:
                    order.pop(0)
                order.append(c)
        out.append(runs)
    return out


def lmcache(inputs, outputs, capacity, chunk, context):
    cap = None if capacity is None else capacity // chunk
    groups = []
    for p in inputs:
        p = list(p)
        if len(p) >= context:
            groups.append([])
        else:
            groups.append([[tuple(p[:(j + 1) * chunk]) for j in range(len(p) // chunk)]])
    runs = _chunk_lru(groups, cap)
    hits = []
    for p, r in zip(inputs, runs):
        h = r[0] * chunk if r else 0
        hits.append(h - 1 if h and h == len(p) else h)
    return hits, [len(p) >= context for p in inputs]


def cacheblend(inputs, segments, capacity, chunk, context):
    """(reused tokens, prefix-contiguous reuse, reused (start, end) token ranges) per request."""
    cap = None if capacity is None else capacity // chunk
    groups, seg_lens = [], []
    for p, starts in zip(inputs, segments):
        p = list(p)
        if not p or len(p) >= context:
            groups.append([])
            seg_lens.append([])
            continue
        cuts = sorted({0} | {s for s in starts if 0 < s < len(p)})
        segs = [p[a:b] for a, b in zip(cuts, cuts[1:] + [len(p)])]
        groups.append([[tuple(s[:(j + 1) * chunk]) for j in range(len(s) // chunk)] for s in segs])
        seg_lens.append([len(s) for s in segs])
    runs = _chunk_lru(groups, cap)
    reuse, prefix, spans = [], [], []
    for r, lens in zip(runs, seg_lens):
        reuse.append(sum(r) * chunk)
        pre = 0
        for k, n in zip(r, lens):
            pre += k * chunk
            if k * chunk < n:
                break
        prefix.append(pre)
        at, mine = 0, []
        for k, n in zip(r, lens):
            if k:
                mine.append((at, at + k * chunk))
            at += n
        spans.append(tuple(mine))
    return reuse, prefix, spans


def segment_starts(text, block_starts, tokens, byte_lengths):
    """Token offsets of a prompt's blocks, by way of every token's character (as the explorer
    maps tokens to characters: document.char_offsets)."""
    from tracetui.core.document import char_offsets

    if not len(tokens):
        return [0]
    offs = char_offsets(text, tokens, byte_lengths)[:-1].tolist()
    starts = set()
    for b in block_starts:
        t = 0
        while t < len(offs) and offs[t] < b:
            t += 1
        starts.add(t)
    return sorted({0} | {s for s in starts if 0 < s < len(tokens)})
