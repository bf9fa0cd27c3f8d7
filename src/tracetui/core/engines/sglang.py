"""SGLang RadixCache (v0.5.23: python/sglang/srt/mem_cache/radix_cache.py, allocator.py,
managers/schedule_batch.py, the scheduler's input validation), one request at a time.

Per request (prompt L tokens, output M):
- validate: max_req_len = min(context - 1, N - 1); a prompt of max_req_len - 5 tokens or more
  is refused; max_new_tokens = max(0, min(M, max_req_len - L - 1)) (one token is sampled
  even when it is 0).
- match_prefix(prompt[:L-1]) (page aligned), inc_lock_ref on the matched node.
- alloc the L - hit prefill slots (evicting first when they are not free).
- cache_unfinished_req: insert the prompt, free the slots of what was already there,
  match_prefix(prompt) again and move the lock to its node.
- one slot per decode step, M - 1 steps (evicting first when none is free).
- cache_finished_req: insert prompt + output but its last token, free the duplicates, unlock.
- evict(n): a heap of the leaves by last_access_time; unlocked ones are deleted until n
  tokens are freed; a parent that becomes an unlocked leaf joins the heap.
Every node visited by a match or an insert takes a fresh time (time.monotonic() in SGLang:
strictly increasing here), a node made by a split too, after the node it split.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence

import numpy as np

from .study import PoolSize
from .base import EnginePool, EngineResult, EngineSettings, frozen

NAME = "sglang"


class _Node:
    """A radix tree node; its key is the tokens' bytes (uint32), 4 bytes a token."""

    __slots__ = ("children", "parent", "key", "time", "lock")

    def __init__(self, parent: _Node | None, key: bytes, time: int) -> None:
        self.children: dict[bytes, _Node] = {}
        self.parent = parent
        self.key = key
        self.time = time
        self.lock = 0

    def __lt__(self, other: _Node) -> bool:  # never asked: heap entries differ by time
        return self.time < other.time


def as_bytes(tokens: np.ndarray) -> bytes:
    return np.ascontiguousarray(tokens, dtype=np.uint32).tobytes()


class RadixReplay:
    """One pool: the tree, the free slots and the clock. Keys are compared as bytes (a whole
    node's key at once); only the one node where a walk diverges is compared token by token."""

    def __init__(self, capacity: int | None, page: int) -> None:
        self.free = capacity  # None: unlimited
        self.page = page
        self.clock = 0
        self.root = _Node(None, b"", 0)
        self.root.lock = 1  # never evicted
        # The evictable leaves by last_access_time, lazily: an entry (time, node) is pushed
        # whenever a leaf takes a time or a node becomes a leaf; it is stale once the node has
        # children, another time, or is gone. No pool that never evicts keeps one.
        self.heap: list[tuple[int, _Node]] | None = None if capacity is None else []

    def _tick(self) -> int:
        self.clock += 1
        return self.clock

    def _common(self, node_key: bytes, kb: bytes, pos: int, end: int) -> int:
        """Tokens (whole pages) node_key shares with kb's tokens from pos (up to end)."""
        m = min(len(node_key) >> 2, end - pos)
        if kb.startswith(node_key[:4 * m], 4 * pos):
            n = m
        else:
            a = np.frombuffer(node_key, dtype=np.uint32, count=m)
            b = np.frombuffer(kb, dtype=np.uint32, count=m, offset=4 * pos)
            n = int(np.argmax(a != b))
        return n - n % self.page

    def _split(self, child: _Node, n: int) -> _Node:
        parent = child.parent
        w = 4 * self.page
        new = _Node(parent, child.key[:4 * n], self._tick())
        new.lock = child.lock
        parent.children[child.key[:w]] = new
        child.key = child.key[4 * n:]
        child.parent = new
        new.children[child.key[:w]] = child
        return new

    def match(self, kb: bytes, end: int) -> tuple[int, _Node]:
        """match_prefix of kb's first `end` tokens: (tokens matched, last node)."""
        end -= end % self.page
        w = 4 * self.page
        node = self.root
        node.time = self._tick()
        pos = 0
        while pos < end:
            child = node.children.get(kb[4 * pos:4 * pos + w])
            if child is None:
                break
            child.time = self._tick()
            if self.heap is not None and not child.children:
                heapq.heappush(self.heap, (child.time, child))
            n = self._common(child.key, kb, pos, end)
            if 4 * n < len(child.key):
                node = self._split(child, n)
                pos += n
                break
            pos += n
            node = child
        return pos, node

    def insert(self, kb: bytes, end: int) -> int:
        """Insert kb's first `end` tokens (page aligned); returns how many were already there."""
        end -= end % self.page
        w = 4 * self.page
        node = self.root
        node.time = self._tick()
        pos = 0
        while pos < end:
            child = node.children.get(kb[4 * pos:4 * pos + w])
            if child is None:
                break
            node = child
            node.time = self._tick()
            if self.heap is not None and not node.children:
                heapq.heappush(self.heap, (node.time, node))
            n = self._common(node.key, kb, pos, end)
            pos += n
            if 4 * n < len(node.key):
                node = self._split(node, n)
        if pos < end:
            leaf = _Node(node, kb[4 * pos:4 * end], self._tick())
            node.children[kb[4 * pos:4 * pos + w]] = leaf
            if self.heap is not None:
                heapq.heappush(self.heap, (leaf.time, leaf))
        return pos

    @staticmethod
    def lock(node: _Node, d: int) -> None:
        while node is not None:
            node.lock += d
            node = node.parent

    def alloc(self, n: int) -> None:
        if self.free is None or n <= 0:
            return
        if self.free < n:
            self.evict(n - self.free)
        self.free -= n

    def release(self, n: int) -> None:
        if self.free is not None and n > 0:
            self.free += n

    def evict(self, n: int) -> None:
        """Delete unlocked leaves, least recently used first, until n tokens are freed (a
        parent left without children is a leaf that can go next)."""
        heap = self.heap
        held: list[tuple[int, _Node]] = []  # locked leaves: back in the heap afterwards
        done = 0
        while done < n and heap:
            t, x = heapq.heappop(heap)
            if x.parent is None or x.children or x.time != t:
                continue  # stale
            if x.lock > 0:
                held.append((t, x))
                continue
            size = len(x.key) >> 2
            done += size
            self.free += size
            p = x.parent
            del p.children[x.key[:4 * self.page]]
            x.parent = None  # gone
            if not p.children and p is not self.root:
                heapq.heappush(heap, (p.time, p))
        for e in held:
            heapq.heappush(heap, e)


def replay(inputs: Sequence[np.ndarray], outputs: Sequence[np.ndarray], capacity: int | None,
           context_length: int, page: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """(hit tokens, rejected) per request."""
    max_req_len = context_length - 1 if capacity is None else min(context_length - 1, capacity - 1)
    t = RadixReplay(capacity, page)
    n = len(inputs)
    hits = np.zeros(n, dtype=np.int64)
    rejected = np.zeros(n, dtype=bool)
    for i, (prompt, out) in enumerate(zip(inputs, outputs)):
        plen = len(prompt)
        if plen == 0:
            continue
        if plen >= max_req_len - 5:
            rejected[i] = True
            continue
        m = max(1, max(0, min(len(out), max_req_len - plen - 1)))  # one token is always sampled
        pb = as_bytes(prompt)
        hit, node = t.match(pb, plen - 1)
        hits[i] = hit
        t.lock(node, 1)
        t.alloc(_pages(plen, page) - hit)
        have = t.insert(pb, plen)
        t.release(have - hit)
        _, node2 = t.match(pb, plen)
        t.lock(node, -1)
        t.lock(node2, 1)
        # The decode steps' slots at once: nothing touches the tree between them, so evicting
        # for each step as it comes evicts the same leaves, in the same order.
        done = _pages(plen + m - 1, page)
        t.alloc(done - _pages(plen, page))
        seq = pb + as_bytes(out[:m - 1]) if m > 1 else pb
        n_seq = plen + m - 1
        aligned = plen - plen % page
        have = t.insert(seq, n_seq)
        t.release(max(0, have - aligned))
        t.release(done - (n_seq - n_seq % page))  # the unaligned tail page goes back
        t.lock(node2, -1)
    return frozen(hits), frozen(rejected)


def _pages(tokens: int, page: int) -> int:
    """Slots held by `tokens` tokens: whole pages."""
    return -(-tokens // page) * page


def run(inputs: Sequence[np.ndarray], outputs: Sequence[np.ndarray], sizes: Sequence[PoolSize],
        settings: EngineSettings) -> EngineResult:
    ctx, page = settings.context_length, max(1, settings.page_size)
    total = int(sum(len(a) for a in inputs))
    u_hits, u_rej = replay(inputs, outputs, None, ctx, page)
    unlimited = EnginePool(PoolSize(None, None, "∞"), None, u_hits, None, u_rej, total)
    need = sum(_pages(len(a) + max(len(o), 1), page) for a, o in zip(inputs, outputs) if len(a))
    pools = []
    for s in sizes:
        if s.capacity is None:
            pools.append(EnginePool(s, None, u_hits, None, u_rej, total))
            continue
        cap = s.capacity - s.capacity % page
        # A pool that holds every slot ever taken and the longest request never evicts.
        if cap >= need and cap - 1 >= ctx - 1:
            h, r = u_hits, u_rej
        else:
            h, r = replay(inputs, outputs, cap, ctx, page)
        pools.append(EnginePool(s, cap // page, h, None, r, total))
    return EngineResult(NAME, page, tuple(pools), unlimited)
