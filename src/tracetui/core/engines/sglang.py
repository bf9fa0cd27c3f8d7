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
    __slots__ = ("children", "parent", "key", "time", "lock")

    def __init__(self, parent: _Node | None, key: np.ndarray, time: int) -> None:
        self.children: dict = {}
        self.parent = parent
        self.key = key
        self.time = time
        self.lock = 0

    def __lt__(self, other: _Node) -> bool:
        return self.time < other.time


def _lcp(a: np.ndarray, b: np.ndarray) -> int:
    m = min(len(a), len(b))
    diff = np.flatnonzero(a[:m] != b[:m])
    return int(diff[0]) if diff.size else m


class RadixReplay:
    """One pool: the tree, the free slots and the clock."""

    def __init__(self, capacity: int | None, page: int) -> None:
        self.free = capacity  # None: unlimited
        self.page = page
        self.clock = 0
        self.root = _Node(None, np.zeros(0, np.int64), 0)
        self.root.lock = 1  # never evicted
        self.leaves: set[_Node] = set()

    def _tick(self) -> int:
        self.clock += 1
        return self.clock

    def _ck(self, key: np.ndarray, pos: int):
        return int(key[pos]) if self.page == 1 else key[pos:pos + self.page].tobytes()

    def _match_len(self, a: np.ndarray, b: np.ndarray) -> int:
        n = _lcp(a, b)
        return n - n % self.page

    def _split(self, child: _Node, n: int) -> _Node:
        parent = child.parent
        new = _Node(parent, child.key[:n], self._tick())
        new.lock = child.lock
        parent.children[self._ck(child.key, 0)] = new
        child.key = child.key[n:]
        child.parent = new
        new.children[self._ck(child.key, 0)] = child
        return new

    def match(self, key: np.ndarray) -> tuple[int, _Node]:
        key = key[:len(key) - len(key) % self.page]
        node = self.root
        node.time = self._tick()
        pos = 0
        while pos < len(key):
            child = node.children.get(self._ck(key, pos))
            if child is None:
                break
            child.time = self._tick()
            n = self._match_len(child.key, key[pos:])
            if n < len(child.key):
                node = self._split(child, n)
                pos += n
                break
            pos += n
            node = child
        return pos, node

    def insert(self, key: np.ndarray) -> int:
        """Insert `key` (page aligned); returns how much of it was already there."""
        key = key[:len(key) - len(key) % self.page]
        node = self.root
        node.time = self._tick()
        pos = 0
        while pos < len(key):
            child = node.children.get(self._ck(key, pos))
            if child is None:
                break
            node = child
            node.time = self._tick()
            n = self._match_len(node.key, key[pos:])
            pos += n
            if n < len(node.key):
                node = self._split(node, n)
        if pos < len(key):
            leaf = _Node(node, key[pos:], self._tick())
            node.children[self._ck(key, pos)] = leaf
            self.leaves.discard(node)
            self.leaves.add(leaf)
            if self.free is not None:
                pass  # the slots were counted when allocated
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
        heap = list(self.leaves)
        heapq.heapify(heap)
        done = 0
        while done < n and heap:
            x = heapq.heappop(heap)
            if x.lock > 0:
                continue
            done += len(x.key)
            self.free += len(x.key)
            p = x.parent
            del p.children[self._ck(x.key, 0)]
            self.leaves.discard(x)
            if not p.children and p is not self.root:
                self.leaves.add(p)
                if p.lock == 0:
                    heapq.heappush(heap, p)


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
        hit, node = t.match(prompt[:plen - 1])
        hits[i] = hit
        t.lock(node, 1)
        t.alloc(_pages(plen, page) - hit)
        have = t.insert(prompt)
        t.release(have - hit)
        _, node2 = t.match(prompt)
        t.lock(node, -1)
        t.lock(node2, 1)
        done = _pages(plen, page)
        for k in range(plen + 1, plen + m):  # decode step k-plen feeds the sequence's k-th token
            need = _pages(k, page) - done
            if need:
                t.alloc(need)
                done += need
        seq = np.concatenate((prompt, out[:m - 1])) if m > 1 else prompt
        aligned = plen - plen % page
        have = t.insert(seq)
        t.release(max(0, have - aligned))
        t.release(done - (len(seq) - len(seq) % page))  # the unaligned tail page goes back
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
