"""A set of ranks (integers below n) kept sorted in short blocks.

The prefix replays ask, per request, for the present neighbours of a rank and for the
present ranks of a short interval. A plain sorted list makes each insertion cost its length
(a million entries in the unlimited pool), a positional index (sortedcontainers) makes every
lookup cost a tree walk; blocks of at most 2 x _LOAD ranks, found by bisecting the blocks'
maxima, make every operation a couple of bisections and a short memmove.
"""

from __future__ import annotations

from bisect import bisect_left, insort

_LOAD = 256


class Ranks:
    __slots__ = ("_blocks", "_maxes", "end")

    def __init__(self, end: int, ranks: list[int] | None = None) -> None:
        """`end`: what succ() returns past the last rank (n); `ranks`: the initial members."""
        self.end = end
        items = sorted(ranks) if ranks else []
        self._blocks = [items[k: k + _LOAD] for k in range(0, len(items), _LOAD)]
        self._maxes = [b[-1] for b in self._blocks]

    def __len__(self) -> int:
        return sum(map(len, self._blocks))

    def add(self, r: int) -> None:
        maxes, blocks = self._maxes, self._blocks
        if not maxes:
            blocks.append([r])
            maxes.append(r)
            return
        k = bisect_left(maxes, r)
        if k == len(maxes):
            k -= 1
            blocks[k].append(r)
            maxes[k] = r
        else:
            insort(blocks[k], r)
        blk = blocks[k]
        if len(blk) > 2 * _LOAD:  # split; the lists of blocks stay n / _LOAD long
            blocks.insert(k + 1, blk[_LOAD:])
            del blk[_LOAD:]
            maxes.insert(k, blk[-1])

    def remove(self, r: int) -> None:
        maxes, blocks = self._maxes, self._blocks
        k = bisect_left(maxes, r)
        blk = blocks[k]
        del blk[bisect_left(blk, r)]
        if blk:
            maxes[k] = blk[-1]
        else:
            del blocks[k]
            del maxes[k]

    def succ(self, x: int) -> int:
        """The first member >= x, or `end`."""
        maxes = self._maxes
        k = bisect_left(maxes, x)
        if k == len(maxes):
            return self.end
        blk = self._blocks[k]
        return blk[bisect_left(blk, x)]

    def pred(self, x: int) -> int:
        """The last member < x, or -1."""
        maxes = self._maxes
        k = bisect_left(maxes, x)
        if k < len(maxes):
            blk = self._blocks[k]
            j = bisect_left(blk, x)
            if j:
                return blk[j - 1]
        return self._blocks[k - 1][-1] if k else -1

    def between(self, a: int, b: int) -> list[int]:
        """The members in [a, b), ascending."""
        maxes, blocks = self._maxes, self._blocks
        k = bisect_left(maxes, a)
        out: list[int] = []
        while k < len(maxes):
            blk = blocks[k]
            lo = bisect_left(blk, a) if not out else 0
            hi = bisect_left(blk, b)
            out.extend(blk[lo:hi])
            if hi < len(blk):
                break
            k += 1
        return out
