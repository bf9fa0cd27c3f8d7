"""bailian_hashed.jsonl: a hashed trace in Alibaba Bailian's layout (16-token blocks)."""

from __future__ import annotations

import random

BAILIAN_BLOCK = 16


def _bailian(rng: random.Random) -> list[dict]:
    """Chats of 1-4 turns sharing a 40-block system prompt; a follow-up turn extends its
    parent's blocks (its last, partial block included, as the hashes are of what was sent)."""
    next_id = 40
    system = list(range(40))
    pending: list[tuple[float, dict]] = []
    chat_id = 0
    for chat in range(24):
        t = chat * 2.5 + rng.random()
        ids = list(system)
        parent = -1
        for turn in range(1, rng.randint(1, 4) + 1):
            # A follow-up sends the history again, so its hashes start with the parent's full blocks.
            new = rng.randint(3, 30)
            ids = ids + list(range(next_id, next_id + new))
            next_id += new
            input_length = len(ids) * BAILIAN_BLOCK - rng.randint(0, BAILIAN_BLOCK - 1)
            pending.append((t, {"chat_id": chat_id, "parent_chat_id": parent, "timestamp": round(t, 3),
                                "input_length": input_length, "output_length": rng.randint(20, 400),
                                "type": "text", "turn": turn, "hash_ids": ids}))
            ids = ids[: input_length // BAILIAN_BLOCK]  # the partial block is not shared
            parent = chat_id
            chat_id += 1
            t += rng.uniform(8, 40)
    return [r for _, r in sorted(pending, key=lambda x: x[0])]
