"""SGLang RadixCache (v0.5.23: python/sglang/srt/mem_cache/radix_cache.py, allocator/paged.py,
allocation.py, managers/schedule_batch.py, the scheduler's input validation), one request at a time.

Per request (prompt L tokens, output M), pages of P tokens (--page-size; P = 1 is the token
allocator), a pool of N slots (a multiple of P):
- validate: max_req_len = min(context - 1, N - 1); a prompt of max_req_len - 5 tokens or more
  is refused; max_new_tokens = max(0, min(M, max_req_len - L - 1)), then the allocator's
  max_new_tokens_for_memory: min(that, N - ceil_P(L) - P - 1) (only P > 1 feels it); one
  token is sampled even when it is 0.
- match_prefix(prompt[:L-1]), page aligned: hit <= floor((L-1)/P) x P; inc_lock_ref on the node.
- prefill: evict_from_tree_cache for the demand (L - hit, plus P when P > 1: the paged
  allocator's over-estimate of one new page a request), then ceil_P(L) - hit slots.
- checkpoint after prefill: insert the prompt's whole pages, free the slots of what was
  already there, match_prefix again and move the lock to its node (a partial last page
  stays the request's).
- decode, M - 1 steps: each step evicts for a demand of P when fewer than P slots are free
  (even a step that needs no new page), and takes a page when its position starts one.
- release_kv_cache: insert prompt + output but its last token (whole pages), free the
  duplicates and the partial last page, unlock.
- evict(n): a heap of the leaves by last_access_time; unlocked ones are deleted whole until
  n tokens are freed; a parent that becomes an unlocked leaf joins the heap.
Every node visited by a match or an insert takes a fresh time (time.monotonic() in SGLang:
strictly increasing here), a node made by a split too, after the node it split.

The unlimited pool never evicts: its hits come without a tree (never_evicted_matches).

The tree's keys are elements of 4 bytes: tokens (a text trace), or page ids (a hashed trace:
one id a page, standing for the page and its prefix); `unit` is the tokens an element holds.
"""

from __future__ import annotations

import heapq
from array import array
from collections.abc import Callable, Sequence

import numpy as np

from .study import PoolSize
from .base import EnginePool, EngineResult, EngineSettings, frozen
from .blockids import BlockTrace, dense_ids

NAME = "sglang"


def as_bytes(tokens: np.ndarray) -> bytes:
    return np.ascontiguousarray(tokens, dtype=np.uint32).tobytes()


def _common_bytes(key: bytes, kb: bytes, p4: int, m: int) -> int:
    """Bytes key[:m] and kb[p4:p4 + m] have in common from the start."""
    lo, hi = 0, m  # bytes [0, lo) in common, where they part (if they do) in [lo, hi)
    if m > 256:  # a long key: find where they part in time proportional to where that is
        view = memoryview(key)
        step = 256
        hi = step
        while kb.startswith(view[lo:hi], p4 + lo):
            if hi == m:
                lo = m
                break
            lo, step = hi, 2 * step
            hi = min(m, lo + step)
        while hi - lo > 256:
            mid = (lo + hi) // 2
            if kb.startswith(view[lo:mid], p4 + lo):
                lo = mid
            else:
                hi = mid
    x = int.from_bytes(key[lo:hi], "little") ^ int.from_bytes(kb[p4 + lo:p4 + hi], "little")
    return hi if x == 0 else lo + (((x & -x).bit_length() - 1) >> 3)


ROOT = 0


class RadixReplay:
    """One pool: the tree, the free slots, the clock, the locked node.

    Nodes are indices into parallel lists (children by first page, parent, key: the
    elements' bytes, uint32, 4 bytes an element; time), so that a tree of millions of nodes
    holds no object the cyclic garbage collector scans one by one (a dict of bytes to ints is
    not tracked); a deleted node's index is used again.

    SGLang walks the tree four times a request (match, insert, match, insert), each visit
    taking a fresh time, and locks the path in between. Here the request's walks are one
    descent, continued where the last one stopped (`serve`), and only the times that can
    ever be compared are assigned; the leaves evicted, and so the hits, are the same:
    - only unlocked leaves are compared (the eviction heap), and the only lock is the running
      request's, on the path from the root to one node: a locked leaf can only be that node
      (`locked`), as every other node of the path has a child on it;
    - every node of the path to the prompt's end is visited again by the last insert, which
      is what leaves their times; while the request runs they are locked (the path to the
      match before the prefill, then the longer one to the prompt), so the times the earlier
      walks give them are never compared. The last insert's walk gives them one time T: they
      are an ancestor chain, never two leaves at once, and the order of T against any other
      node's time is the order SGLang's walk gives;
    - a node a walk matches in part is split: its rest (off the path) takes a fresh time then,
      the split node one after it, as in SGLang.
    """

    def __init__(self, capacity: int | None, page: int, unit: int = 1) -> None:
        self.free = 1 << 62 if capacity is None else capacity  # slots (tokens); never short when unlimited
        self.page = page  # elements a page
        self.unit = unit  # tokens an element
        self.clock = 0
        self.kids: list[dict[bytes, int]] = [{}]
        self.up: list[int] = [-1]  # -1: the root, or a deleted node
        self.key: list[bytes] = [b""]
        self.time: list[int] = [0]
        self.spare: list[int] = []  # deleted nodes' indices
        self.locked = -1
        # The evictable leaves by last_access_time, lazily: an entry time << 32 | node (one
        # int: a heap of tuples spends its time reaching their items) is pushed whenever a
        # leaf takes a time or a node becomes a leaf; it is stale once the node has children,
        # another time (an index used again takes a time later than any entry's), or is gone.
        # A pool that never evicts keeps neither heap nor times.
        self.heap: list[int] | None = None if capacity is None else []

    def _new(self, parent: int, key: bytes, time: int) -> int:
        """A node under `parent` (the caller files it in the parent's children)."""
        if self.spare:
            x = self.spare.pop()
            self.kids[x] = {}
            self.up[x] = parent
            self.key[x] = key
            self.time[x] = time
            return x
        self.kids.append({})
        self.up.append(parent)
        self.key.append(key)
        self.time.append(time)
        if len(self.up) > 1 << 32:
            raise ValueError("SGLang replay: more than 2**32 nodes")
        return len(self.up) - 1

    def _descend(self, node: int, pos: int, end: int, kb: bytes, path_time: int | None) -> tuple[int, int]:
        """match_prefix's walk from `node` (kb's first `pos` elements matched) on to `end`
        (page aligned): (elements matched, last node). The nodes matched whole take
        `path_time` (None: keep theirs); one matched in part is split."""
        kids, keys, time = self.kids, self.key, self.time
        w = 4 * self.page
        stop = 4 * end
        p4 = 4 * pos
        while p4 < stop:
            first = kb[p4:p4 + w]
            child = kids[node].get(first)
            if child is None:
                break
            key = keys[child]
            if p4 + len(key) <= stop and kb.startswith(key, p4):
                if path_time is not None:
                    time[child] = path_time
                p4 += len(key)
                node = child
                continue
            p4, node = self._split(node, child, first, kb, p4, stop)
            break
        return p4 >> 2, node

    def _split(self, node: int, child: int, first: bytes, kb: bytes, p4: int, stop: int) -> tuple[int, int]:
        """A walk at byte p4 of kb (to stop) matched child (under node, its first page
        `first`) in part: split it where they part (whole pages, at least one: the first page
        matched); (the byte matched to, the split node). The rest, visited, takes a time, the
        split node one after it."""
        key = self.key[child]
        m = min(len(key), stop - p4)
        n = _common_bytes(key, kb, p4, m) >> 2  # elements in common
        n = 4 * (n - n % self.page)
        self.clock += 1
        self.time[child] = self.clock
        if self.heap is not None and not self.kids[child]:
            heapq.heappush(self.heap, self.clock << 32 | child)
        self.clock += 1
        new = self._new(node, key[:n], self.clock)
        self.kids[node][first] = new
        rest = self.key[child] = key[n:]
        self.up[child] = new
        self.kids[new][rest[:4 * self.page]] = child
        return p4 + n, new

    def serve(self, keys: Sequence[bytes], plan: tuple[list[int], ...], hits: np.ndarray) -> None:
        """Run the requests of one chunk (`plan`, see _plan; keys[j] is request j's), one at a
        time, writing their hits (tokens)."""
        unit = self.unit
        w = 4 * self.page
        kids, up, key_of, time = self.kids, self.up, self.key, self.time
        heap = self.heap
        push = heapq.heappush
        new_node = self._new
        free = self.free
        for j, a, b, e, d1, t1, d2, t2, f in zip(*plan):
            kb = keys[j]
            # match_prefix (_descend, inline: most of a request's time is this walk).
            node = ROOT
            p4 = 0
            stop = 4 * a
            while p4 < stop:
                first = kb[p4:p4 + w]
                child = kids[node].get(first)
                if child is None:
                    break
                key = key_of[child]
                if p4 + len(key) <= stop and kb.startswith(key, p4):
                    p4 += len(key)
                    node = child
                    continue
                p4, node = self._split(node, child, first, kb, p4, stop)
                break
            pos = p4 >> 2
            hit = pos * unit
            hits[j] = hit
            self.locked = node
            # The prefill: evict for its demand, take its pages.
            if free < d1 - hit:
                self.free = free
                self.evict(d1 - hit - free)
                free = self.free
            free -= t1 - hit
            # Its insert, a walk on from where the match stopped (the path to it is locked, so
            # unchanged); a match that stopped short of its end stopped where nothing follows
            # (no child for the next page, or the rest of a node it split), and so does the
            # insert. The match after it ends where the insert did.
            have = pos
            if pos == a < b:
                have, node = self._descend(node, pos, b, kb, None)
            fresh = have < b
            if fresh:  # its time and heap entry: the last insert's
                leaf = new_node(node, kb[4 * have:4 * b], 0)
                kids[node][kb[4 * have:4 * have + w]] = leaf
                node = leaf
            free += have * unit - hit
            self.locked = node
            # Decode steps: nothing touches the tree between them, so one eviction for what
            # they need in all evicts the same leaves in the same order (_plan).
            if free < d2:
                self.free = free
                self.evict(d2 - free)
                free = self.free
            free -= t2
            if free < 0:
                raise AssertionError("SGLang replay: the pool ran out of slots")
            # release_kv_cache's insert: the path to the prompt's end (locked, so unchanged)
            # takes one time, then the walk goes on through the output (a new leaf has no
            # children: nothing to walk).
            path_time = None
            if heap is not None:
                self.clock += 1
                path_time = self.clock
                x = node
                while x != ROOT:
                    time[x] = path_time
                    x = up[x]
            have = b
            if not fresh and b < e:
                have, node = self._descend(node, b, e, kb, path_time)
            if have < e:
                self.clock += 1
                leaf = new_node(node, kb[4 * have:4 * e], self.clock)
                kids[node][kb[4 * have:4 * have + w]] = leaf
                if heap is not None:
                    push(heap, self.clock << 32 | leaf)
            elif heap is not None and not kids[node] and node != ROOT:
                push(heap, path_time << 32 | node)
            free += have * unit + f  # the duplicates, the partial last page
        self.free = free
        self.locked = -1

    def match(self, kb: bytes, end: int) -> tuple[int, int]:
        """match_prefix of kb's first `end` elements, times aside (a tree that never evicts,
        as losses.reachable's): (elements matched, last node)."""
        return self._descend(ROOT, 0, end - end % self.page, kb, None)

    def insert(self, kb: bytes, end: int) -> int:
        """Insert kb's first `end` elements (whole pages), times aside; returns how many were there."""
        end -= end % self.page
        pos, node = self.match(kb, end)
        if pos < end:
            leaf = self._new(node, kb[4 * pos:4 * end], 0)
            self.kids[node][kb[4 * pos:4 * (pos + self.page)]] = leaf
        return pos

    def evict(self, n: int) -> None:
        """Delete unlocked leaves, least recently used first, until n tokens are freed (a
        parent left without children is a leaf that can go next)."""
        heap, locked = self.heap, self.locked
        kids, up, keys, time, spare = self.kids, self.up, self.key, self.time, self.spare
        pop, push = heapq.heappop, heapq.heappush
        w, unit = 4 * self.page, self.unit
        held = None  # the locked leaf's entry: back in the heap afterwards
        done = 0
        while done < n and heap:
            entry = pop(heap)
            x = entry & 0xFFFFFFFF
            if time[x] != entry >> 32 or kids[x] or up[x] < 0:
                continue  # stale
            if x == locked:
                held = entry
                continue
            key = keys[x]
            done += (len(key) >> 2) * unit
            p = up[x]
            del kids[p][key[:w]]
            up[x] = -1  # gone
            keys[x] = b""
            spare.append(x)
            if not kids[p] and p != ROOT:
                push(heap, time[p] << 32 | p)
        self.free += done
        if held is not None:
            push(heap, held)


def _pages(tokens, page: int):
    """Slots held by `tokens` tokens: whole pages."""
    return -(-tokens // page) * page


def _max_req_len(capacity: int | None, context_length: int) -> int:
    return context_length - 1 if capacity is None else min(context_length - 1, capacity - 1)


def _plan_arrays(plens: np.ndarray, outs: np.ndarray, capacity: int | None, context_length: int, page: int,
                 unit: int) -> tuple[np.ndarray, ...]:
    """_plan's columns as arrays."""
    ps = page * unit
    max_req_len = _max_req_len(capacity, context_length)
    j = np.flatnonzero((plens > 0) & (plens < max_req_len - 5))
    plen, out = plens[j], outs[j]
    m = np.maximum(0, np.minimum(out, max_req_len - plen - 1))
    if capacity is not None:  # the allocator's max_new_tokens_for_memory
        m = np.minimum(m, capacity - _pages(plen, ps) - ps - 1)
    m = np.maximum(1, m)  # one token is always sampled
    end = plen + m - 1

    def elements(tokens):
        x = tokens // unit
        return x - x % page

    # Decode steps at positions plen .. end - 1: free must hold a page at every step (the
    # demand), and the pages taken before the last step are gone by then.
    new = _pages(end, ps) - _pages(plen, ps)
    last_takes = (end - 1) % ps == 0  # the last step starts a page (always when P = 1)
    d2 = np.where(m > 1, np.where(last_takes, new, new + ps), 0)
    over = ps if ps > 1 else 0  # the paged allocator's "one new page a request"
    f = _pages(end, ps) - (end - end % ps) - (plen - plen % ps)
    return (j, elements(plen - 1), elements(plen), elements(end), plen + over, _pages(plen, ps), d2,
            np.where(m > 1, new, 0), f)


def _plan(plens: np.ndarray, outs: np.ndarray, capacity: int | None, context_length: int, page: int,
          unit: int) -> tuple[list[int], ...]:
    """The requests one pool serves (the others are empty or refused) and, per request, what
    serve needs beside the tree: (index, match end a, prompt end b, output end e in elements,
    page aligned; the prefill's demand d1 and take t1, to which the hit is credited; the
    decode's demand d2 and take t2; f, slots back at the end beside the duplicates)."""
    return tuple(x.tolist() for x in _plan_arrays(plens, outs, capacity, context_length, page, unit))


def never_evicted_matches(stored: Sequence[bytes]) -> np.ndarray:
    """Per key, the elements (4 bytes each) of its longest common prefix with any key before
    it: what match_prefix finds in a tree that never evicts, into which every key before was
    inserted (stored[j]: request j's whole pages, prompt and output, as its release inserted
    them; a match of request i's first a elements finds min(a, this), page aligned).

    Without a tree (a million requests made ~2 million nodes of Python objects, 0.7 GB): the
    longest common prefix of a key with a set of keys is the one with its neighbour on
    either side in sorted order, and with the keys before it only, the one with the nearest
    earlier key on either side, which a stack finds in one pass each way (all nearest
    smaller values). Between sorted positions q < p the common prefix is the least of the
    neighbours' common prefixes at q+1 .. p; each stack entry keeps that least up to the
    entry above it (the top: up to the current position), folded down as entries go."""
    n = len(stored)
    # Columns of machine ints (array('q'): 8 bytes an entry, a list of ints takes 36).
    keys = np.empty(n, dtype=object)
    keys[:] = stored
    order = array("q", np.argsort(keys, kind="stable").tobytes())
    del keys
    lcp = array("q", bytes(8 * (n + 1)))  # lcp[p]: bytes sorted keys p - 1 and p have in common (0 at the ends)
    prev = b""
    for p, t in enumerate(order):
        k = stored[t]
        m = min(len(k), len(prev))
        if m:
            lcp[p] = _common_bytes(prev, k, 0, m)
        prev = k
    best = array("q", bytes(8 * n))
    for seq, cs in ((order, lcp), (reversed(order), reversed(lcp))):  # reversed: lcp[n], ..., lcp[1]
        ts: list[int] = []  # request indices, increasing up the stack
        vs: list[int] = []  # per entry, the least neighbours' common prefix from it to the next
        for t, c in zip(seq, cs):
            if ts:
                if c < vs[-1]:
                    vs[-1] = c
                while ts and ts[-1] > t:
                    ts.pop()
                    v = vs.pop()
                    if vs and v < vs[-1]:
                        vs[-1] = v
                if ts and vs[-1] > best[t]:
                    best[t] = vs[-1]
            ts.append(t)
            vs.append(1 << 62)
    return np.frombuffer(best, dtype=np.int64) >> 2


TREE_FREE_BYTES = 1024
"""The unlimited pool's hits come without a tree when the keys it stores hold at most this
many bytes a request on average. Measured (benchmarks/bench_sglang.py): a million chat
requests of ~37 tokens (148 bytes a key) made ~2M nodes of Python objects, ~340 bytes each,
0.7 GB of tree against 0.2 GB of keys; 69k agent requests of ~3.7k tokens (15 kB a key,
long prefixes shared) made 0.38 GB of tree against 2 GB of keys. A tree costs some 700
bytes a request beside the distinct content; the keys, their bytes and ~60 more."""

CHUNK_REQUESTS = 4096
CHUNK_BYTES = 64 << 20
"""Keys are built once a chunk of requests for every pool: at most this many requests, this
many bytes of keys (about: 4 bytes a token or page)."""


def replay_pools(key_of: Callable[[int], bytes], plens: Sequence[int], outs: Sequence[int],
                 capacities: Sequence[int | None], context_length: int, page: int = 1,
                 unit: int = 1) -> list[tuple[np.ndarray, np.ndarray]]:
    """(hit tokens, rejected) per request, per pool (capacity in slots, a multiple of the page;
    None: unlimited). key_of(i): bytes of request i's elements (uint32) covering at least its
    prompt and output but the last token; `page` elements a page, `unit` tokens an element
    (pages of P = page x unit tokens). The pools run side by side, a chunk of requests at a
    time, so that each key is built once."""
    plens = np.asarray(plens, dtype=np.int64)
    outs = np.asarray(outs, dtype=np.int64)
    n = len(plens)
    # The unlimited pool never evicts: its hits need no tree, only the keys it stored
    # (never_evicted_matches), when they are short (see TREE_FREE_BYTES).
    # Its plan is per request (no request's depends on another's): made once, for the choice,
    # the keys each chunk stores and the hits at the end.
    tree_free = False
    if None in capacities:
        u_j, u_a, _, u_e = _plan_arrays(plens, outs, None, context_length, page, unit)[:4]
        tree_free = 4 * int(u_e.sum()) <= TREE_FREE_BYTES * len(u_j)
    trees = [None if c is None and tree_free else RadixReplay(c, page, unit) for c in capacities]
    hits = [np.zeros(n, dtype=np.int64) for _ in capacities]
    stored: list[bytes] = []
    longest = max(_max_req_len(c, context_length) for c in capacities)
    wanted = (plens > 0) & (plens < longest - 5)  # served by some pool
    size = 4 * (plens + np.maximum(outs, 1)) // unit
    lo = 0
    while lo < n:
        hi = min(n, lo + CHUNK_REQUESTS)
        hi = lo + max(1, int(np.searchsorted(np.cumsum(size[lo:hi]), CHUNK_BYTES, side="right")))
        keys = [key_of(i) if wanted[i] else b"" for i in range(lo, hi)]
        for t, c, h in zip(trees, capacities, hits):
            if t is not None:
                t.serve(keys, _plan(plens[lo:hi], outs[lo:hi], c, context_length, page, unit), h[lo:hi])
        if tree_free:  # what its releases insert (a slice of a whole key is the key itself, no copy)
            a, b = np.searchsorted(u_j, (lo, hi))
            stored += [keys[x - lo][:4 * y] for x, y in zip(u_j[a:b].tolist(), u_e[a:b].tolist())]
        lo = hi
    if tree_free:
        found = never_evicted_matches(stored)
        del stored
        found -= found % page
        for c, h in zip(capacities, hits):
            if c is None:
                h[u_j] = np.minimum(u_a, found) * unit
    out = []
    for c, h in zip(capacities, hits):
        refused = (plens > 0) & (plens >= _max_req_len(c, context_length) - 5)
        out.append((frozen(h), frozen(refused)))
    return out


def replay_keys(key_of: Callable[[int], bytes], plens: Sequence[int], outs: Sequence[int], capacity: int | None,
                context_length: int, page: int = 1, unit: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """One pool of replay_pools."""
    return replay_pools(key_of, plens, outs, [capacity], context_length, page, unit)[0]


def _text_keys(inputs: Sequence[np.ndarray], outputs: Sequence[np.ndarray]) -> Callable[[int], bytes]:
    """A text trace's keys: the tokens of the prompt and the output but its last token."""
    def key_of(i: int) -> bytes:
        a, o = inputs[i], outputs[i]
        return as_bytes(np.concatenate((a, o[:len(o) - 1])) if len(o) > 1 else a)

    return key_of


def replay(inputs: Sequence[np.ndarray], outputs: Sequence[np.ndarray], capacity: int | None,
           context_length: int, page: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """A text trace: the tree over tokens, pages of `page` tokens."""
    return replay_keys(_text_keys(inputs, outputs), [len(a) for a in inputs], [len(o) for o in outputs], capacity, context_length, page)


def _never_evicts(cap: int, ctx: int, ps: int, plens: np.ndarray, outs: np.ndarray) -> bool:
    """A pool that refuses and clips as the unlimited one and always has a page more free
    than every slot ever taken (so no demand falls short) is the unlimited pool."""
    live = plens > 0
    need = int(np.where(live, -(-(plens + np.maximum(outs, 1)) // ps) * ps, 0).sum())
    return (cap >= ctx and cap >= need + ps
            and bool(np.all(~live | (outs <= cap - (-(-plens // ps) * ps) - ps - 1))))


def _pools(replay_at, plens: np.ndarray, outs: np.ndarray, sizes: Sequence[PoolSize], ctx: int,
           ps: int) -> EngineResult:
    """replay_at(capacities) -> (hits, rejected) per capacity: the unlimited pool and every
    pool size that may evict, in one run."""
    total = int(plens.sum())
    caps: list[int | None] = [None]
    for s in sizes:
        if s.capacity is not None:
            cap = s.capacity - s.capacity % ps  # max_total_num_tokens, whole pages
            if cap not in caps and not _never_evicts(cap, ctx, ps, plens, outs):
                caps.append(cap)
    got = dict(zip(caps, replay_at(caps)))
    u_hits, u_rej = got[None]
    unlimited = EnginePool(PoolSize(None, None, "∞"), None, u_hits, None, u_rej, total)
    pools = []
    for s in sizes:
        if s.capacity is None:
            pools.append(EnginePool(s, None, u_hits, None, u_rej, total))
            continue
        cap = s.capacity - s.capacity % ps
        h, r = got.get(cap, got[None])
        pools.append(EnginePool(s, cap // ps, h, None, r, total))
    return EngineResult(NAME, ps, tuple(pools), unlimited)


def run(inputs: Sequence[np.ndarray], outputs: Sequence[np.ndarray], sizes: Sequence[PoolSize],
        settings: EngineSettings) -> EngineResult:
    ctx, page = settings.context_length, max(1, settings.page_size)
    plens = np.array([len(a) for a in inputs], dtype=np.int64)
    outs = np.array([len(o) for o in outputs], dtype=np.int64)
    return _pools(lambda caps: replay_pools(_text_keys(inputs, outputs), plens, outs, caps, ctx, page),
                  plens, outs, sizes, ctx, page)


def page_keys(bt: BlockTrace) -> tuple[Callable[[int], bytes], np.ndarray, np.ndarray]:
    """A block trace (blocks of P tokens: pages) as the tree's keys: per request the ids of
    its known full pages, then ids no other request has for the pages past them (the output,
    a partial block: content nobody shares, stored and never hit)."""
    ids, n_ids = dense_ids(bt)
    ps = bt.block_size
    plens, outs = bt.prompt_lens, bt.output_lens
    if n_ids + int((bt.kv_lens // ps).sum()) + 1 >= 1 << 32:
        raise ValueError("hashed trace too large for the SGLang replay: more than 2**32 distinct pages")
    # Fresh ids: request i's start at fresh[i], one a page (at most kv_len // P of them).
    pages = (bt.kv_lens // ps).tolist()
    fresh = (n_ids + np.concatenate(([0], np.cumsum(pages, dtype=np.int64)))).tolist()
    full = (plens // ps).tolist()

    def key_of(i: int) -> bytes:
        n = pages[i]
        known = ids[i][:min(len(ids[i]), full[i], n)]
        k = len(known)
        if k == n:
            return as_bytes(known)
        return as_bytes(np.concatenate((known, np.arange(fresh[i] + k, fresh[i] + n, dtype=np.int64))))

    return key_of, plens, outs


def run_blocks(bt: BlockTrace, sizes: Sequence[PoolSize], settings: EngineSettings) -> EngineResult:
    """A hashed trace: pages of bt.block_size tokens, the tree over page ids."""
    ctx, ps = settings.context_length, bt.block_size
    key_of, plens, outs = page_keys(bt)
    return _pools(lambda caps: replay_pools(key_of, plens, outs, caps, ctx, 1, ps), plens, outs, sizes, ctx, ps)
