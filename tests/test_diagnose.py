"""Prefix-break diagnosis (`tracetui.core.diagnose`): one small hand-made trace per cause class,
the figures of a break and of the ranked breakers, normalising, provider usage, sessions, the
side-by-side marks, and acceptance checks on the shared real traces (skipped when absent).

Every hand-made trace is a few ChatML requests written to a JSONL file and loaded with the
default settings (cl100k_base, chunk 16), exactly as the CLI does.
"""

from __future__ import annotations

import json
from pathlib import Path
from unittest.mock import patch

import numpy as np
import pytest

from tracetui.core.diagnose import (
    CAUSES,
    Break,
    Breaker,
    ProviderUsage,
    block_kind_stats,
    diagnose,
    normalise,
    provider_totals,
    provider_usage,
    rank_breakers,
    session_stats,
    side_by_side,
    usage_table,
)
from tracetui.core.model import Block
from tracetui.core.pipeline import Loaded, Settings, load
from .paths import TRACES, agent_traces, need, sample


SYSTEM = "You are a helper. Answer briefly and precisely, with code when it helps."
TOOL_SYSTEM = "You are a coding agent. Use the bash tool to run commands. Keep answers short."
GEN = "<|im_start|>assistant\n"


# --------------------------------------------------------------------------- helpers

def chat(*messages: tuple[str, str], sep: str = "\n", generation: bool = True) -> str:
    """A ChatML prompt: `<|im_start|>role\\ntext<|im_end|>` joined by `sep`, then the generation prompt."""
    text = sep.join(f"<|im_start|>{role}\n{content}<|im_end|>" for role, content in messages)
    return text + (sep + GEN if generation else "")


def load_records(tmp_path: Path, records: list[dict], name: str = "trace.jsonl") -> Loaded:
    path = tmp_path / name
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return load(str(path), Settings())


def breaks_of(tmp_path: Path, records: list[dict]) -> tuple[Loaded, tuple[Break, ...]]:
    loaded = load_records(tmp_path, records)
    return loaded, diagnose(loaded)


def tool_call(command: str, timeout: int, compact: bool = False, float_timeout: bool = False) -> str:
    """A tool call as the model generates it (`"timeout": 120000`, as in opencode's traces), or
    re-serialised: compact (`"timeout":120000`) or with the number as a float (`120000.0`)."""
    t = f"{timeout:.1f}" if float_timeout else str(timeout)
    space = "" if compact else " "
    body = '{"name":"bash","arguments":{"command":"%s","timeout":%s%s}}' % (command, space, t)
    return f"<tool_call>\n{body}\n</tool_call>"


USER = ("user", "hi, what is the capital of France?")
ANSWER = "The capital of France is Paris. It has been the capital for a very long time."


# --------------------------------------------------------------------------- new

def test_new_first_request_and_new_session(tmp_path):
    first = chat(("system", SYSTEM), USER)
    other = "system: A different assistant for a different job.\nuser: go\nassistant:"
    loaded, breaks = breaks_of(tmp_path, [
        {"input": first, "output": ANSWER, "session_id": "a"},
        {"input": other, "output": "ok", "session_id": "b"},
    ])
    b0, b1 = breaks
    assert (b0.cause, b0.description, b0.source, b0.prefix) == ("new", "first request", -1, 0)
    assert (b1.cause, b1.description, b1.source, b1.prefix) == ("new", "new session", -1, 0)
    assert b0.tokens_lost == b0.input_tokens == len(loaded.inputs[0])
    assert b1.block is not None and b1.block.start == 0


def test_new_no_shared_prefix_in_the_same_session(tmp_path):
    _, breaks = breaks_of(tmp_path, [
        {"input": chat(("system", SYSTEM), USER), "output": ANSWER, "session_id": "a"},
        {"input": "Summarise the text below in one line.\n\nCaches are fast.", "output": "x", "session_id": "a"},
    ])
    assert (breaks[1].cause, breaks[1].description) == ("new", "shares nothing with earlier requests")


def test_first_token_differs_is_a_break_at_token_0(tmp_path):
    """The prompt starts `assistant:` where the earlier one starts `user:`, then repeats it:
    no prefix hit, but most of it is reusable as substrings. Not `new`: a break at token 0,
    classified like any other (here the role marker changed)."""
    body = ("Please review the changes below and list every function whose behaviour changed, "
            "with one line per function and the reason it changed.\n") * 6
    first = "user: " + body
    second = "assistant: " + body + "user: and the tests?"
    loaded, breaks = breaks_of(tmp_path, [{"input": first, "output": "ok"}, {"input": second, "output": "ok"}])
    b = breaks[1]
    assert b.prefix == 0 and b.recovered > 0.8 * b.input_tokens
    assert b.cause == "template", b
    assert b.source == 0 and b.char == 0
    assert b.description == "⟨user:⟩ → ⟨assistant:⟩"
    assert b.is_breaker and [g.requests for g in rank_breakers(breaks) if g.cause == "template"] == [(1,)]


def test_first_token_differs_text_dropped(tmp_path):
    """tau-bench: the next prompt is the previous output without the greeting before it."""
    out = "I just got two tablets delivered to my place, but I only need one, so I want to return one of them."
    _, breaks = breaks_of(tmp_path, [{"input": "Hi! How can I help you today?", "output": out},
                                     {"input": out, "output": ""}])
    b = breaks[1]
    assert (b.cause, b.source, b.prefix) == ("edit", 0, 0)
    assert b.description == "⟨Hi!␣How␣can␣I␣help␣you␣today?⟩ → ⟨∅⟩"


# --------------------------------------------------------------------------- append

def test_append_previous_input_output_and_a_new_turn(tmp_path):
    p1 = chat(("system", SYSTEM), USER)
    p2 = chat(("system", SYSTEM), USER, ("assistant", ANSWER), ("user", "and of Spain?"))
    assert p2.startswith(p1 + ANSWER)
    loaded, breaks = breaks_of(tmp_path, [{"input": p1, "output": ANSWER}, {"input": p2, "output": "Madrid."}])
    b = breaks[1]
    assert b.cause == "append"
    assert not b.is_breaker
    assert b.source == 0
    # The whole entry 0 (input + output, up to the tokens merging at the seam) is reused.
    assert b.prefix >= len(loaded.inputs[0]) + len(loaded.outputs[0]) - 1
    assert [g.cause for g in rank_breakers(breaks)] == ["new"]


def test_append_identical_retry(tmp_path):
    p1 = chat(("system", SYSTEM), USER)
    _, breaks = breaks_of(tmp_path, [{"input": p1, "output": ""}, {"input": p1, "output": ANSWER}])
    assert breaks[1].cause == "append"
    assert breaks[1].tokens_lost == 0


def test_empty_input_is_not_a_breaker(tmp_path):
    p1 = chat(("system", SYSTEM), USER)
    _, breaks = breaks_of(tmp_path, [{"input": "", "output": "x"}, {"input": p1, "output": ANSWER},
                                     {"input": "", "output": ""}])
    for b in (breaks[0], breaks[2]):
        assert (b.cause, b.description, b.tokens_lost, b.char, b.block) == ("empty", "no input tokens", 0, 0, None)
        assert not b.is_breaker
    assert breaks[1].cause == "new"
    assert [g.requests for g in rank_breakers(breaks)] == [(1,)]


def test_append_request_is_a_prefix_of_the_source(tmp_path):
    """The request stops where an earlier prompt went on (a retry with a shorter history):
    nothing of it broke, only its last token is cut differently."""
    long = ("<pr_description>\nFix the bug.\n</pr_description>\n<output>\nline one\n</output>\n\n"
            "<returncode>0</returncode>\n<output>\nline two\n</output>")
    short = long[: long.index("</output>") + len("</output>")]
    loaded, breaks = breaks_of(tmp_path, [{"input": long, "output": "THOUGHT: ok"}, {"input": short, "output": "x"}])
    b = breaks[1]
    assert b.prefix < b.input_tokens  # the last token differs ("</output>" vs "</output>\n\n")
    assert b.cause == "append", b
    assert not b.is_breaker


# --------------------------------------------------------------------------- rerender

def _rerender_records(compact_numbers: bool) -> list[dict]:
    """Two tool calls that come back in the history altered: the second has other numbers."""
    user = ("user", "run the tests please")

    def hist(cmd: str, t: int) -> str:
        return tool_call(cmd, t, compact=compact_numbers, float_timeout=not compact_numbers)

    q1 = chat(("system", TOOL_SYSTEM), user)
    q2 = chat(("system", TOOL_SYSTEM), user, ("assistant", hist("pytest -q", 120000)), ("tool", "3 passed"))
    q3 = chat(("system", TOOL_SYSTEM), user, ("assistant", hist("pytest -q", 120000)), ("tool", "3 passed"),
              ("assistant", hist("ruff check .", 60000)), ("tool", "All checks passed"))
    return [{"input": q1, "output": tool_call("pytest -q", 120000)},
            {"input": q2, "output": tool_call("ruff check .", 60000)},
            {"input": q3, "output": "Done: tests and lint pass."}]


def test_rerender_reserialised_tool_call(tmp_path):
    """`"timeout": 120000` generated, `"timeout":120000` in the history (then 60000 likewise)."""
    loaded, breaks = breaks_of(tmp_path, _rerender_records(compact_numbers=True))
    b1, b2 = breaks[1], breaks[2]
    for b in (b1, b2):
        assert b.cause == "rerender"
        assert b.in_source_output
        assert b.source == b.request - 1
        assert b.block is not None and b.block.kind == "history"
        assert "timeout" in b.description
        src = loaded.trace.requests[b.source]
        assert b.char >= len(src.input)  # the break lies in the source's output
    # 120000 and 60000: one description, one breaker.
    assert b1.description == b2.description
    ranked = rank_breakers(breaks)
    rerenders = [g for g in ranked if g.cause == "rerender"]
    assert len(rerenders) == 1 and rerenders[0].requests == (1, 2)


def test_rerender_description_normalises_numbers(tmp_path):
    """`120000` generated, `120000.0` in the history: the numbers are in the description, normalised."""
    _, breaks = breaks_of(tmp_path, _rerender_records(compact_numbers=False))
    b1, b2 = breaks[1], breaks[2]
    assert b1.cause == b2.cause == "rerender"
    assert b1.added == b2.added == ".0"
    assert "<N>" in b1.description
    assert "120000" not in b1.description and "60000" not in b2.description
    assert b1.description == b2.description


def test_rerender_output_does_not_come_back(tmp_path):
    """The next prompt closes the assistant turn empty: the tool call is dropped."""
    q1 = chat(("system", TOOL_SYSTEM), ("user", "run the tests please"))
    q2 = q1 + "<|im_end|>\n<|im_start|>tool\n3 passed<|im_end|>\n" + GEN
    _, breaks = breaks_of(tmp_path, [{"input": q1, "output": tool_call("pytest -q", 120000)},
                                     {"input": q2, "output": "All tests pass."}])
    b = breaks[1]
    assert b.cause == "rerender"
    assert b.in_source_output
    assert "does not come back" in b.description
    assert b.description.startswith("the output ")


def test_rerender_think_block_dropped(tmp_path):
    q1 = chat(("system", SYSTEM), USER)
    out = "<think>\nThe user asks for a capital. France: Paris.\n</think>\n\n" + ANSWER
    q2 = chat(("system", SYSTEM), USER, ("assistant", ANSWER), ("user", "and of Spain?"))
    _, breaks = breaks_of(tmp_path, [{"input": q1, "output": out}, {"input": q2, "output": "Madrid."}])
    b = breaks[1]
    assert b.cause == "rerender", b
    assert b.description == "the <think> block of the output is dropped"


def test_rerender_output_missing_after_the_last_input_token(tmp_path):
    """The source's last input token merges with what the request appends ("</instructions>"
    then "\\n\\n"): the break token is an input token, the change is that the output is absent."""
    p1 = "<pr_description>\nFix the bug in parse().\n</pr_description>\n<instructions>\nOne command per turn.\n</instructions>"
    out = "<format_example>\nTHOUGHT: I will look for parse() first.\n\n```bash\ngrep -rn 'def parse' .\n```"
    p2 = p1 + "\n\n<returncode>1</returncode>\n<output>\n</output>"
    loaded, breaks = breaks_of(tmp_path, [{"input": p1, "output": out}, {"input": p2, "output": "x"}])
    b = breaks[1]
    assert b.prefix < len(loaded.inputs[0])  # the break token is the source's last input token
    assert b.cause == "rerender", b
    assert "does not come back" in b.description


# --------------------------------------------------------------------------- template

def test_template_role_marker_whitespace(tmp_path):
    """The history re-rendered `<|im_end|><|im_start|>` where the first prompt had `<|im_end|>\\n<|im_start|>`."""
    p1 = chat(("system", SYSTEM), USER)
    p2 = chat(("system", SYSTEM), USER, ("assistant", ANSWER), ("user", "and of Spain?"), sep="")
    _, breaks = breaks_of(tmp_path, [{"input": p1, "output": ANSWER}, {"input": p2, "output": "Madrid."}])
    b = breaks[1]
    assert b.cause == "template", b
    assert b.removed.strip() == b.added.strip()
    assert b.description.startswith("⟨<|im_end|>↵<|im_start|>user↵⟩ → ⟨<|im_end|><|im_start|>user↵⟩")
    assert b.block is not None and b.block.kind == "system"


def test_template_special_token_swapped(tmp_path):
    """Llama 3: the history closes its turns with `<|eom_id|>` where the first prompt had `<|eot_id|>`."""
    def llama3(*messages: tuple[str, str], end: str) -> str:
        turns = "".join(f"<|start_header_id|>{r}<|end_header_id|>\n\n{t}{end}" for r, t in messages)
        return "<|begin_of_text|>" + turns + "<|start_header_id|>assistant<|end_header_id|>\n\n"

    first = [("system", "You are a helper for shell questions."), ("user", "how do I list files?")]
    p1 = llama3(*first, end="<|eot_id|>")
    p2 = llama3(*first, ("assistant", "Use ls."), ("user", "and hidden ones?"), end="<|eom_id|>")
    _, breaks = breaks_of(tmp_path, [{"input": p1, "output": "Use ls."}, {"input": p2, "output": "ls -a"}])
    b = breaks[1]
    assert b.cause == "template", b
    assert b.description == "⟨<|eot_id|>⟩ → ⟨<|eom_id|>⟩"


def test_template_is_not_a_text_change_next_to_a_marker(tmp_path):
    p1 = chat(("system", SYSTEM), ("user", "Hello world, please help me."))
    p2 = chat(("system", SYSTEM), ("user", "Goodbye world, please help me."))
    _, breaks = breaks_of(tmp_path, [{"input": p1, "output": "ok"}, {"input": p2, "output": "ok"}])
    assert breaks[1].cause == "edit"


# --------------------------------------------------------------------------- edit

def _env_prompt(date: str) -> str:
    system = ("You are opencode, an agent.\n<env>\nWorking directory: /home/u/proj\nIs directory a git repo: yes\n"
              f"Platform: linux\nToday's date: {date}\n</env>\nBe concise.")
    return chat(("system", system), ("user", "list the files"))


def test_edit_date_in_env_block(tmp_path):
    dates = ["Sat Jan 31 2026", "Sun Feb 1 2026", "Mon Feb 2 2026"]
    loaded, breaks = breaks_of(tmp_path, [{"input": _env_prompt(d), "output": "ls"} for d in dates])
    for b in breaks[1:]:
        assert b.cause == "edit", b
        assert b.block is not None and b.block.kind in ("env", "system")
        text = loaded.trace.requests[b.request].input
        line = text[text.rfind("\n", 0, b.char) + 1: text.find("\n", b.char)]
        assert line.startswith("Today's date: ")  # the break is on the date line
    # One change, one description (the date that differs, normalised), one breaker.
    assert breaks[1].description == breaks[2].description == "Today's date: ⟨<DATE>⟩ → ⟨<DATE>⟩"
    assert breaks[1].where == "system “<env>”"
    edits = [g for g in rank_breakers(breaks) if g.cause == "edit"]
    assert len(edits) == 1 and edits[0].requests == (1, 2)
    assert normalise("Today's date: Sat Jan 31 2026") == normalise("Today's date: Sun Feb 1 2026") \
        == "Today's date: <DATE>"


def test_blocks_split_once_per_request_and_caches_stay_small(tmp_path, monkeypatch):
    from tracetui.core import diagnose as diag

    dates = [f"Mon Feb {d} 2026" for d in range(1, 21)]
    loaded = load_records(tmp_path, [{"input": _env_prompt(d), "output": "ls"} for d in dates])
    calls = []
    split = diag.split_blocks
    monkeypatch.setattr(diag, "split_blocks", lambda text, doc=None: calls.append(text) or split(text, doc))
    caches = []
    recent = diag._Recent

    def spy(*args, **kwargs):
        caches.append(recent(*args, **kwargs))
        return caches[-1]

    monkeypatch.setattr(diag, "_Recent", spy)
    breaks = diagnose(loaded)
    assert [b.cause for b in breaks[1:]] == ["edit"] * 19  # each looks up its source's blocks
    assert len(calls) == 20  # once per request, not again as a source
    assert len(caches) == 2 and all(len(c._cache) <= c._size <= 64 for c in caches)
    assert min(c._size for c in caches) < 20  # the offsets cache did evict


def test_recent_cache_evicts_the_least_recently_used():
    from tracetui.core.diagnose import _Recent

    computed = []
    cache = _Recent(lambda i: computed.append(i) or i * 10, 2)
    assert [cache(i) for i in (1, 2, 1, 3, 1, 2)] == [10, 20, 10, 30, 10, 20]
    assert computed == [1, 2, 3, 2]  # 2 was evicted by 3 (1 had been used since)
    assert list(cache._cache) == [1, 2]


def test_edit_inside_a_message(tmp_path):
    p1 = chat(("system", SYSTEM), ("user", "Please rename the function parse to parse_text everywhere."))
    p2 = chat(("system", SYSTEM), ("user", "Please rename the function load to load_text everywhere."))
    _, breaks = breaks_of(tmp_path, [{"input": p1, "output": "ok"}, {"input": p2, "output": "ok"}])
    b = breaks[1]
    assert b.cause == "edit"
    assert b.block is not None and b.block.kind == "current"
    # What differs, whole words (as the diff screen marks it), and the block it is in.
    assert b.description == "Please rename the function ⟨parse␣to␣parse_text⟩ → ⟨load␣to␣load_text⟩"
    assert b.where == "user “Please rename the function load to load_text everywhere.”"


# --------------------------------------------------------------------------- insert

def test_insert_repo_map_before_unchanged_history(tmp_path):
    history = [("user", "Please fix the bug in utils.py where parse() fails on empty input."),
               ("assistant", "I will look at utils.py first."), ("user", "ok go ahead")]
    repo_map = ("Here are summaries of some files present in my git repo.\nutils.py:\n  def parse(text)\n"
                "  def render(node)\nmain.py:\n  def main()\n")
    p1 = chat(("system", SYSTEM), *history)
    p2 = chat(("system", SYSTEM), ("user", repo_map), ("assistant", "Ok."), *history)
    _, breaks = breaks_of(tmp_path, [{"input": p1, "output": "x"}, {"input": p2, "output": "y"}])
    b = breaks[1]
    assert b.cause == "insert", b
    assert b.removed == ""
    assert b.added.startswith("Here are summaries")
    assert b.description.startswith("user↵⟨∅⟩ → ⟨Here␣are␣summaries") or \
        b.description.startswith("⟨∅⟩ → ⟨Here␣are␣summaries"), b.description
    assert b.where == "user “Here are summaries of some files present in my git repo.”"
    assert b.block is not None and b.block.kind == "history"


# --------------------------------------------------------------------------- reorder

def test_reorder_tools_block(tmp_path):
    tools = ["- bash: run a shell command", "- read: read a file", "- edit: edit a file", "- grep: search files",
             "- glob: list files"]
    shuffled = [tools[0], tools[2], tools[3], tools[1], tools[4]]
    p1 = chat(("system", "## tools\n" + "\n".join(tools)), ("user", "hello there"))
    p2 = chat(("system", "## tools\n" + "\n".join(shuffled)), ("user", "hello there"))
    _, breaks = breaks_of(tmp_path, [{"input": p1, "output": "x"}, {"input": p2, "output": "y"}])
    b = breaks[1]
    assert b.cause == "reorder", b
    assert b.block is not None and b.block.kind == "tools"
    assert b.description == "same items, another order"
    assert b.where == "system “## tools”"


def test_reorder_system_lines(tmp_path):
    rules = ["Answer in English.", "Use fenced code blocks.", "Never run destructive commands.",
             "Say when you are unsure.", "Keep answers under ten lines."]
    p1 = chat(("system", "\n".join(rules)), ("user", "hello there"))
    p2 = chat(("system", "\n".join(rules[:1] + rules[3:4] + rules[1:3] + rules[4:])), ("user", "hello there"))
    _, breaks = breaks_of(tmp_path, [{"input": p1, "output": "x"}, {"input": p2, "output": "y"}])
    assert breaks[1].cause == "reorder"
    assert breaks[1].block.kind == "system"


# --------------------------------------------------------------------------- retokenize

def test_retokenize_at_the_input_output_seam(tmp_path):
    """The output starts with "\\n" after the prompt's "assistant\\n": alone they are two
    "\\n" tokens, in the next prompt one "\\n\\n" token. The texts agree across the break (the
    output comes back unchanged for far more than the break tokens); only the tokens differ.
    A real case with cl100k_base: the later change (all vs many) is not where it broke."""
    p1 = chat(("system", SYSTEM), ("user", "Write two short paragraphs about caching."))
    out = ("\nCaching keeps recent results close to where they are used, so repeated work is avoided entirely."
           "\n\nA prefix cache reuses the attention state of a shared prompt prefix across many requests.")
    p2 = p1 + out.replace("across many", "across all") + "<|im_end|>\n<|im_start|>user\nthanks<|im_end|>\n" + GEN
    loaded, breaks = breaks_of(tmp_path, [{"input": p1, "output": out}, {"input": p2, "output": "ok"}])
    b = breaks[1]
    assert b.cause == "retokenize", b
    assert b.description == "same text, different tokens at the boundary"
    # The break is at the seam: the source's last input token.
    assert b.prefix == len(loaded.inputs[0]) - 1
    src = loaded.trace.requests[0]
    old = src.input + src.output
    assert p2[b.char: b.char + 60] == old[b.char: b.char + 60]


# --------------------------------------------------------------------------- resync

def _resync_by_full_diff(new: str, old: str, c: int):
    """The definition `_resync` implements without the full diff (kept here as the reference)."""
    import difflib

    from tracetui.core.diagnose import _ANCHOR, _ANCHOR_STEPS

    old_w, new_w = old[c: c + 512], new[c: c + 1024]
    if not old_w:
        return len(new) - c, 0
    need = min(12, len(old_w))
    for b, a, size in difflib.SequenceMatcher(None, old_w, new_w, autojunk=False).get_matching_blocks():
        if size >= need or (size and b + size == len(old_w) and c + b + size == len(old)):
            return a, b
    for b in _ANCHOR_STEPS:
        anchor = old[c + b: c + b + _ANCHOR]
        if len(anchor) < 16:
            return None
        pos = new.find(anchor, c)
        if pos >= 0:
            return pos - c, b
    return None


def _resync_cases(seed: int, n: int):
    import random

    rng = random.Random(seed)
    words = "the tool call returned ok error file path /src/app.py line 42 def main():\n {\"id\": 7} ".split(" ")
    for _ in range(n):
        alphabet = rng.choice(["ab", "ab\n", "abcdefgh", None])
        if alphabet is None:  # text-like, with repeated phrases
            old = " ".join(rng.choice(words) for _ in range(rng.randint(5, 600)))
        else:  # tiny alphabets, periodic or not: many ties and repeats
            unit = "".join(rng.choice(alphabet) for _ in range(rng.choice([1, 3, 7, 40])))
            old = (unit * 4000)[: rng.randint(20, 3000)] if rng.random() < 0.5 else \
                "".join(rng.choice(alphabet) for _ in range(rng.randint(20, 3000)))
        c = rng.randrange(len(old))
        size = rng.choice([1, 2, 5, 13, 40, 300, 900, 2000])
        piece = old[rng.randrange(len(old)):][:size] if rng.random() < 0.5 else \
            "".join(rng.choice("xyz\n ") for _ in range(size))
        kind = rng.choice(["insert", "delete", "replace", "truncate"])
        if kind == "insert":
            new = old[:c] + piece + old[c:]
        elif kind == "delete":
            new = old[:c] + old[c + size:]
        elif kind == "replace":
            new = old[:c] + piece + old[c + rng.randint(1, 60):]
        else:
            new = old[:c] + piece[:3]
        yield new, old, c


@pytest.mark.parametrize("seed", range(4))
def test_resync_equals_the_full_diff(seed):
    from tracetui.core.diagnose import _resync

    for new, old, c in _resync_cases(seed, 60):
        assert _resync(new, old, c) == _resync_by_full_diff(new, old, c), (new[c: c + 40], old[c: c + 40], c)


# --------------------------------------------------------------------------- figures

def test_tokens_lost_and_recovered(tmp_path):
    loaded, breaks = breaks_of(tmp_path, [{"input": _env_prompt(d), "output": "ls -la"}
                                          for d in ("Sat Jan 31 2026", "Sun Feb 1 2026")])
    a = loaded.analysis
    for i, b in enumerate(breaks):
        assert b.request == i
        assert b.input_tokens == int(a.input_lens[i])
        assert b.prefix == int(a.unlimited.prefix_hits[i])
        assert b.source == int(a.unlimited.prefix_source[i])
        assert b.tokens_lost == int(a.input_lens[i]) - int(a.unlimited.prefix_hits[i])
        assert b.recovered == int(a.combined_hits[i]) - int(a.unlimited.prefix_hits[i])
        assert b.cause in CAUSES


def test_diagnose_cancel(tmp_path, monkeypatch):
    import threading

    from tracetui.core import diagnose as diag
    from tracetui.core.engines.study import AnalysisCancelled

    loaded = load_records(tmp_path, [{"input": _env_prompt(d), "output": "ls -la"}
                                     for d in ("Sat Jan 31 2026", "Sun Feb 1 2026", "Mon Feb 2 2026")])
    cancel = threading.Event()
    assert len(diagnose(loaded, cancel=cancel)) == 3
    cancel.set()
    with pytest.raises(AnalysisCancelled):
        diagnose(loaded, cancel=cancel)
    # Set while running: it stops before the next request.
    cancel.clear()
    seen = []
    one = diag._diagnose_one

    def spy(loaded, i, *args):
        seen.append(i)
        cancel.set()
        return one(loaded, i, *args)

    monkeypatch.setattr(diag, "_diagnose_one", spy)
    with pytest.raises(AnalysisCancelled):
        diagnose(loaded, cancel=cancel)
    assert seen == [0]


def _brk(i: int, cause: str, kind: str | None, desc: str, n_in: int, prefix: int, recovered: int = 0) -> Break:
    block = Block(kind, "", 0, 1) if kind else None
    return Break(i, i - 1, cause, prefix, n_in, 0, False, block, "", "", desc, recovered)


def test_rank_breakers_groups_sorts_and_skips_appends():
    breaks = (
        _brk(0, "new", "system", "first request", 100, 0),
        _brk(1, "append", "history", "continues the source entry", 150, 140),
        _brk(2, "edit", "env", "system “<env>”", 160, 20, recovered=100),
        _brk(3, "rerender", "history", "x⟨␣⟩ → ⟨∅⟩", 200, 190, recovered=4),
        _brk(4, "edit", "env", "system “<env>”", 170, 20, recovered=120),
        _brk(5, "rerender", "history", "x⟨␣⟩ → ⟨∅⟩", 230, 210),
        _brk(6, "edit", "system", "system “<env>”", 50, 40),  # another block kind: another group
        _brk(7, "append", "history", "continues the source entry", 500, 0),
    )
    ranked = rank_breakers(breaks)
    assert all(isinstance(g, Breaker) for g in ranked)
    assert [g.cause for g in ranked] == ["edit", "new", "rerender", "edit"]
    assert ranked[0] == Breaker("edit", "env", "system “<env>”", (2, 4), 140 + 150, 220)
    assert ranked[1] == Breaker("new", "system", "first request", (0,), 100, 0)
    assert ranked[2] == Breaker("rerender", "history", "x⟨␣⟩ → ⟨∅⟩", (3, 5), 10 + 20, 4)
    assert ranked[3] == Breaker("edit", "system", "system “<env>”", (6,), 10, 0)
    assert all(g.cause != "append" for g in ranked)
    lost = [g.tokens_lost for g in ranked]
    assert lost == sorted(lost, reverse=True)


def test_rank_breakers_tie_more_requests_first():
    breaks = (_brk(1, "edit", "env", "a", 10, 0), _brk(2, "edit", "env", "b", 5, 0), _brk(3, "edit", "env", "b", 5, 0))
    assert [g.description for g in rank_breakers(breaks)] == ["b", "a"]


def test_rank_breakers_empty():
    assert rank_breakers(()) == []


# --------------------------------------------------------------------------- normalise

@pytest.mark.parametrize("text, expected", [
    ("timeout 120000 and 60000", "timeout <N> and <N>"),
    ("ratio 0.25", "ratio <N>"),
    ("on 2026-01-31 and 2026-01-08T01:14:37Z", "on <DATE> and <DATE>"),
    ("Today's date: Sat Jan 31 2026", "Today's date: <DATE>"),
    ("Today's date: Sunday, February 1, 2026", "Today's date: <DATE>"),
    ("since Jan 5, 2026", "since <DATE>"),
    ("at 01:14:37 and 9:05 PM", "at <TIME> and <TIME>"),
    ("id 123e4567-e89b-12d3-a456-426614174000.", "id <UUID>."),
    ("commit 3f2a9c1d0b and abcdef0123456789", "commit <HASH> and <HASH>"),
    ("toolu_01AbCdEfGhIjKlMn and call_Xy12ab34Cd", "<ID> and <ID>"),
    ("  many   spaces\n\tand lines ", "many spaces and lines"),
])
def test_normalise(text, expected):
    assert normalise(text) == expected


def test_normalise_words_stay():
    assert normalise("plain words, no numbers") == "plain words, no numbers"
    assert normalise("deadbeef") == "deadbeef"  # no digit: a word, not a hash


def test_normalise_shortens():
    out = normalise("x" * 200, 40)
    assert len(out) == 40 and out.endswith("…")


# --------------------------------------------------------------------------- provider usage

def test_provider_usage_anthropic():
    u = provider_usage({"input_tokens": 12, "cache_read_input_tokens": 2620, "cache_creation_input_tokens": 2529,
                        "output_tokens": 300}, 3)
    assert u == ProviderUsage(3, 5161, 2620, 2529, "anthropic")


def test_provider_usage_openai():
    u = provider_usage({"prompt_tokens": 1000, "completion_tokens": 20,
                        "prompt_tokens_details": {"cached_tokens": 800}}, 0)
    assert u == ProviderUsage(0, 1000, 800, 0, "openai")
    assert provider_usage({"prompt_tokens": 1000}, 1) == ProviderUsage(1, 1000, 0, 0, "openai")
    assert provider_usage({"prompt_tokens": 1000, "prompt_tokens_details": None}, 1).cached_tokens == 0


def test_provider_usage_openai_responses_api():
    u = provider_usage({"input_tokens": 900, "input_tokens_details": {"cached_tokens": 512}}, 2)
    assert u == ProviderUsage(2, 900, 512, 0, "openai")


@pytest.mark.parametrize("usage", [
    None, "12 tokens", 12, [1, 2], {}, {"total_tokens": 5}, {"input_tokens": 12},
    {"prompt_tokens": "n/a"}, {"prompt_tokens": [1]}, {"cache_read_input_tokens": {"x": 1}},
    {"input_tokens": float("nan"), "cache_read_input_tokens": 1},
    {"prompt_tokens": 10, "prompt_tokens_details": {"cached_tokens": "many"}},
])
def test_provider_usage_missing_or_odd(usage):
    assert provider_usage(usage, 0) is None


def test_usage_table_from_a_trace(tmp_path):
    p1 = chat(("system", SYSTEM), USER)
    loaded = load_records(tmp_path, [
        {"input": p1, "output": ANSWER, "usage": {"prompt_tokens": 60, "prompt_tokens_details": {"cached_tokens": 0}}},
        {"input": p1, "output": ANSWER},
        {"input": p1, "output": ANSWER, "usage": {"input_tokens": 2, "cache_read_input_tokens": 58}},
        {"input": p1, "output": ANSWER, "usage": {"prompt_tokens": "odd"}},
    ])
    rows = usage_table(loaded)
    assert [(u.request, u.provider, u.prompt_tokens, u.cached_tokens) for u in rows] == [
        (0, "openai", 60, 0), (2, "anthropic", 60, 58)]
    assert provider_totals(loaded) == provider_totals(loaded, rows) == (120, 58, 0)
    from tracetui.core.explorer import ExplorerData

    assert ExplorerData(loaded).provider_rate == 58 / 120


def test_provider_totals_without_usage(tmp_path):
    from tracetui.core.explorer import ExplorerData

    loaded = load_records(tmp_path, [{"input": "hello", "output": "hi"}])
    assert provider_totals(loaded) == (0, 0, 0)
    assert ExplorerData(loaded).provider_rate is None


# --------------------------------------------------------------------------- sessions

def test_session_stats_two_sessions():
    loaded = load(str(sample("two_sessions.jsonl")), Settings())
    stats = session_stats(loaded)
    assert len(stats) == 2
    assert {s.session for s in stats} == {"sess-a", "sess-b"}
    a = loaded.analysis
    assert sum(s.requests for s in stats) == a.requests
    assert sum(s.input_tokens for s in stats) == a.input_tokens
    assert sum(s.prefix_hits for s in stats) == int(a.unlimited.prefix_hits.sum())
    for s in stats:
        assert 0 <= s.within_prefix_hits <= s.prefix_hits
        assert 0 <= s.within_substring_hits <= s.substring_hits
        assert s.prefix_hits <= s.combined_hits
        assert 0 <= s.rate(s.within_prefix_hits) <= s.rate(s.prefix_hits) <= 1
    # The two sessions share a system prompt: the second one to start reuses it across sessions.
    assert any(s.within_prefix_hits < s.prefix_hits for s in stats)


def test_session_stats_one_session_is_all_within(tmp_path):
    p1 = chat(("system", SYSTEM), USER)
    p2 = chat(("system", SYSTEM), USER, ("assistant", ANSWER), ("user", "and of Spain?"))
    loaded = load_records(tmp_path, [{"input": p1, "output": ANSWER}, {"input": p2, "output": "Madrid."}])
    with patch("tracetui.core.diagnose.analyze", side_effect=AssertionError("no second analysis")):
        (s,) = session_stats(loaded)  # the loaded analysis is reused
    assert s.session is None
    assert s.within_prefix_hits == s.prefix_hits and s.within_substring_hits == s.substring_hits
    assert s.prefix_hits > 0 and s.substring_hits > 0


# --------------------------------------------------------------------------- side by side

def _unmarked(text: str, marks: list[tuple[int, int]]) -> str:
    out, pos = [], 0
    for a, b in sorted(marks):
        out.append(text[pos:a])
        pos = b
    out.append(text[pos:])
    return "".join(out)


def test_side_by_side_marks_cover_the_differences(tmp_path):
    loaded, breaks = breaks_of(tmp_path, _rerender_records(compact_numbers=True))
    b = breaks[1]
    sbs = side_by_side(loaded, b, context=300)
    assert sbs.left_start == sbs.right_start <= b.char
    assert sbs.left_marks and sbs.right_marks
    # What is not marked is the same on both sides...
    assert _unmarked(sbs.left, sbs.left_marks) == _unmarked(sbs.right, sbs.right_marks)
    # ...and the marks hold the difference: the space after "timeout": in the generated call.
    gen_space = sbs.left.index('"timeout": ') + len('"timeout":')
    assert any(a <= gen_space < e for a, e in sbs.left_marks)
    for a, e in sbs.left_marks + sbs.right_marks:
        assert 0 <= a < e
    for a, e in sbs.left_marks:
        assert e <= len(sbs.left)
    for a, e in sbs.right_marks:
        assert e <= len(sbs.right)
    # The excerpts are the texts from the break's neighbourhood.
    src = loaded.trace.requests[b.source]
    assert (src.input + src.output)[sbs.left_start:].startswith(sbs.left)
    assert loaded.trace.requests[b.request].input[sbs.right_start:].startswith(sbs.right)


def test_side_by_side_new_request(tmp_path):
    loaded, breaks = breaks_of(tmp_path, [{"input": chat(("system", SYSTEM), USER), "output": ANSWER}])
    sbs = side_by_side(loaded, breaks[0], context=50)
    assert sbs.left == "" and sbs.left_marks == []
    assert sbs.right == loaded.trace.requests[0].input[:50]
    assert sbs.right_marks == [(0, 50)]


# --------------------------------------------------------------------------- block kinds

def test_block_kind_stats(tmp_path):
    loaded, _ = breaks_of(tmp_path, [{"input": _env_prompt(d), "output": "ls"}
                                     for d in ("Sat Jan 31 2026", "Sun Feb 1 2026")])
    stats = block_kind_stats(loaded)
    assert {"system", "env", "current"} <= set(stats)
    a = loaded.analysis
    assert sum(t for t, _, _ in stats.values()) == a.input_tokens
    assert sum(p for _, p, _ in stats.values()) == int(a.unlimited.prefix_hits.sum())
    # "substring" means one thing everywhere: what a substring cache reuses, the prefix
    # included (the totals' figure), not only what it adds beyond the prefix.
    assert sum(s for _, _, s in stats.values()) == int(a.unlimited.substring_hits.sum())
    for t, p, s in stats.values():
        assert 0 <= p <= t and 0 <= s <= t
    # The date changed in the env block: the system text after it is not a prefix hit the second time.
    t_env, p_env, _ = stats["env"]
    assert p_env < t_env


def test_block_headers_count_substring_as_the_request_list_does():
    from tracetui.core.explorer import ExplorerData

    data = ExplorerData(load(str(sample("aider_like.jsonl")), Settings()))
    for row in data.rows:
        doc = data.document(row.index)
        stats = [st for st in doc.block_stats if st.block.source == "input"]
        assert sum(st.substring for st in stats) == row.substring_hit
        assert sum(st.prefix for st in stats) == row.prefix_hit
    # A block wholly in the prefix is also (all but a partial last chunk) a substring hit.
    doc = data.document(1)
    first = doc.block_stats[0]
    assert first.prefix == first.tokens and first.substring >= first.tokens - data.analysis.chunk_size


# --------------------------------------------------------------------------- sample traces

def test_sample_opencode_like():
    from tracetui.samples import OPENCODE_RESERIALISED

    loaded = load(str(sample("opencode_like.jsonl")), Settings())
    breaks = diagnose(loaded)
    assert breaks[0].cause == "new"
    for b in breaks[1:]:
        if b.request in OPENCODE_RESERIALISED:
            assert b.cause == "rerender", b
            assert b.in_source_output
        else:
            assert b.cause == "append", b
    (g,) = [g for g in rank_breakers(breaks) if g.cause == "rerender"]
    assert g.requests == tuple(OPENCODE_RESERIALISED)


def test_sample_aider_like():
    from tracetui.samples import AIDER_SUMMARISED

    loaded = load(str(sample("aider_like.jsonl")), Settings())
    breaks = diagnose(loaded)
    assert breaks[0].cause == "new"
    ranked = rank_breakers(breaks)
    # The repo map near the top changes every time: it breaks every request, the summaries
    # included (the map comes first). Each is described by what changed in the map.
    assert "Here are summaries of some files" in ranked[0].where
    for i in AIDER_SUMMARISED:
        assert breaks[i].cause in ("edit", "insert")
        assert "Here are summaries of some files" in breaks[i].where
        assert "Here are summaries" not in breaks[i].description
    # Most of what the prefix misses recurs at shifted offsets.
    assert sum(g.recovered for g in ranked) > sum(g.tokens_lost for g in ranked) / 2


def test_sample_two_sessions():
    loaded = load(str(sample("two_sessions.jsonl")), Settings())
    breaks = diagnose(loaded)
    assert breaks[0].description == "first request"
    for b in breaks:
        assert b.cause in CAUSES
        assert b.prefix <= b.input_tokens
        assert 0 <= b.recovered <= b.tokens_lost
    # The prompt ends with "assistant:", the history has "assistant: <output>".
    spaced = [b for b in breaks if b.cause == "template"]
    assert spaced and all(b.added == " " and b.removed == "" for b in spaced)


# --------------------------------------------------------------------------- real traces

AIDER = sorted((TRACES / "aider").glob("*.jsonl")) if (TRACES / "aider").is_dir() else []


@pytest.mark.parametrize("path", AIDER or [pytest.param(None, marks=pytest.mark.skip("no aider traces"))],
                         ids=lambda p: p.stem if p else "none")
def test_real_aider(path):
    loaded = load(str(path), Settings())
    breaks = diagnose(loaded)
    ranked = rank_breakers(breaks)
    assert any("Here are summaries of some files" in g.where for g in ranked[:3]), ranked[:3]
    assert any("I spoke to you previously" in g.description or "summarize" in g.description for g in ranked), ranked
    assert all(g.cause != "append" for g in ranked)
    assert sum(g.tokens_lost for g in ranked) == sum(b.tokens_lost for b in breaks if b.cause != "append")


def test_real_memgpt_described_by_what_differs():
    """The top breaker is the counter that changes in the system prompt (as the diff screen
    shows it), not the system block's first line."""
    loaded = load(str(need(TRACES / "memgpt" / "memgpt1.jsonl")), Settings())
    top = rank_breakers(diagnose(loaded))[0]
    assert (top.cause, top.block, top.description) == ("edit", "system", "- chars_current=⟨<N>⟩ → ⟨<N>⟩")
    assert top.where == "“<base_instructions>”"
    assert len(top.requests) == 11


def test_real_opencode_task1():
    loaded = load(str(need(TRACES / "opencode" / "gpt-5-mini-task1.jsonl")), Settings())
    breaks = diagnose(loaded)
    assert breaks[0].cause == "new"
    for b in breaks[1:]:
        if b.request in (3, 8):
            assert b.cause == "rerender", b
            assert "timeout" in b.description
        else:
            assert b.cause == "append", b
    assert breaks[3].description == breaks[8].description


def test_real_opencode_task3():
    loaded = load(str(need(TRACES / "opencode" / "gpt-5-mini-task3.jsonl")), Settings())
    breaks = diagnose(loaded)
    others = [b for b in breaks if b.cause not in ("append", "new")]
    assert others  # request 14
    for b in others:
        assert b.cause == "rerender", b
        assert "timeout" in b.description


def test_real_opencode_task2_output_dropped():
    loaded = load(str(need(TRACES / "opencode" / "gpt-5-mini-task2.jsonl")), Settings())
    breaks = diagnose(loaded)
    others = [b for b in breaks if b.cause not in ("append", "new")]
    assert others
    for b in others:
        assert b.cause == "rerender", b
        assert "does not come back" in b.description


def test_real_memgpt_usage():
    loaded = load(str(need(TRACES / "memgpt" / "memgpt1.jsonl")), Settings())
    rows = usage_table(loaded)
    assert len(rows) == 20
    assert {u.provider for u in rows} == {"anthropic"}
    for u in rows:
        assert u.prompt_tokens >= u.cached_tokens + u.cache_write_tokens
        usage = loaded.trace.requests[u.request].usage
        assert u.prompt_tokens == (usage.get("input_tokens") or 0) + (usage.get("cache_read_input_tokens") or 0) \
            + (usage.get("cache_creation_input_tokens") or 0)


def test_real_miniswe_missing_outputs():
    """mini-swe-agent's prompts do not hold the model's previous output."""
    paths = sorted((TRACES / "miniswe").glob("*.jsonl")) if (TRACES / "miniswe").is_dir() else []
    if not paths:
        pytest.skip("no miniswe traces")
    for path in paths:
        breaks = diagnose(load(str(path), Settings()))
        assert breaks[0].cause == "new"
        for b in breaks[1:]:
            assert b.cause in ("rerender", "append"), b
            if b.cause == "rerender":
                assert "does not come back" in b.description


def test_real_traces_figures():
    paths = [p for p in agent_traces() if p.stat().st_size > 0]
    if not paths:
        pytest.skip("no shared traces")
    for path in paths:
        loaded = load(str(path), Settings())
        breaks = diagnose(loaded)
        a = loaded.analysis
        assert len(breaks) == a.requests
        lost = np.array([b.tokens_lost for b in breaks])
        assert (lost == a.input_lens - a.unlimited.prefix_hits).all(), path
        rec = np.array([b.recovered for b in breaks])
        assert (rec == a.combined_hits - a.unlimited.prefix_hits).all(), path
        for b in breaks:
            assert b.cause in CAUSES
            assert (b.source < 0) == (b.cause == "new" and b.prefix == 0)
            assert 0 <= b.char <= len(loaded.trace.requests[b.request].input)


# --------------------------------------------------------------------------- explorer rows

def test_request_rows_show_no_control_characters(tmp_path):
    # Session ids and models are drawn in the request list: an escape sequence in a trace
    # (ESC, or the C1 CSI U+009B) must never reach the terminal.
    from tracetui.core.explorer import ExplorerData

    loaded = load_records(tmp_path, [
        {"input": "hello", "output": "hi", "session_id": "s\x1b[2J\x9b1", "model": "m\x85\x07"},
    ])
    (row,) = ExplorerData(loaded).rows
    assert (row.session, row.model) == ("s␛[2J·1", "m·␇")  # ESC and BEL as control pictures, C1 as ·
    assert loaded.trace.requests[0].session_id == "s\x1b[2J\x9b1"  # the data itself is unchanged


# --------------------------------------------------------------------------- file order

def test_timestamps_out_of_file_order_warn(tmp_path):
    from tracetui.core.pipeline import order_warning

    records = [{"input": f"prompt {k}", "output": "x", "timestamp": t}
               for k, t in enumerate([100, 105, 103, 110, None, 104, 111])]
    loaded = load_records(tmp_path, records)
    (w,) = [w for w in loaded.trace.warnings if "timestamp" in w]
    assert w == ("2 requests have timestamps earlier than a line above (first: line 3); "
                 "requests are replayed in file order")
    ordered = load_records(tmp_path, [{"input": "a", "timestamp": 1}, {"input": "b", "timestamp": 1},
                                      {"input": "c"}, {"input": "d", "timestamp": 2}], name="ordered.jsonl")
    assert ordered.trace.warnings == () and order_warning(ordered.trace) is None
    one = load_records(tmp_path, [{"input": "a", "timestamp": 5}, {"input": "b", "timestamp": 4}], name="one.jsonl")
    assert one.trace.warnings == ("1 request has a timestamp earlier than a line above (first: line 2); "
                                  "requests are replayed in file order",)


def test_timestamps_are_compared_within_each_file_of_a_folder(tmp_path):
    """Each file of a folder has its own clock (sessions each timed from 0): a folder whose
    files are in order warns of nothing; a file out of order is named, with its line."""
    import json

    from tracetui.core.pipeline import Settings, load

    def write(folder, name, times):
        folder.mkdir(exist_ok=True)
        (folder / name).write_text("".join(json.dumps({"input": f"{name} {k}", "timestamp": t}) + "\n"
                                           for k, t in enumerate(times)))

    ordered = tmp_path / "ordered"
    write(ordered, "a.jsonl", [0, 1, 2])
    write(ordered, "b.jsonl", [0, 1])
    assert not any("timestamp" in w for w in load(str(ordered), Settings(cache=False)).trace.warnings)
    mixed = tmp_path / "mixed"
    write(mixed, "a.jsonl", [0, 1, 2])
    write(mixed, "b.jsonl", [0, 5, 3, 4])
    (w,) = [w for w in load(str(mixed), Settings(cache=False)).trace.warnings if "timestamp" in w]
    assert w == ("2 requests have timestamps earlier than a line above in their file (first: b.jsonl line 3); "
                 "requests are replayed in file order")


# --------------------------------------------------------------------------- scale: on demand, one pass

from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402

from tracetui.core.diagnose import Diagnosis, char_at  # noqa: E402
from tracetui.core.document import char_offsets  # noqa: E402
from tracetui.core.engines.study import analyze  # noqa: E402

_PIECES = ["system: be brief.\n", "user: hi\n", "user: é ünï 😀\n", "assistant: ok\n", "<|im_end|>\n",
           "tool: ls -la\n", "The quick brown fox. ", "12:30 ", "\n", "x"]


def _records(draw_turns):
    """Sessions of chat turns built from shared pieces: prompts extend, edit or reorder earlier
    ones, so that every cause (and cross-session sharing) comes up."""
    records, history = [], {}
    for session, pieces, output, keep in draw_turns:
        before = history.get(session, "")
        text = (before[:len(before) * keep // 4] if keep < 4 else before) + "".join(_PIECES[k] for k in pieces)
        out = "".join(_PIECES[k] for k in output)
        history[session] = text + out
        records.append({"session_id": session, "input": text, "output": out})
    return records


_TURNS = st.lists(st.tuples(st.sampled_from(["a", "b", "c", None]), st.lists(st.integers(0, len(_PIECES) - 1),
                                                                          max_size=5),
                            st.lists(st.integers(0, len(_PIECES) - 1), max_size=2), st.integers(0, 4)),
                  min_size=1, max_size=12)


def _load_tmp(records):
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        return load_records(Path(d), records)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_TURNS, st.randoms(use_true_random=False))
def test_diagnosis_on_demand_equals_diagnose_and_is_breaker_is_exact(turns, rnd):
    """Breaks computed one by one in any order are diagnose()'s, and is_breaker (from the
    prefix hit and the texts at the break only) agrees with the full diagnosis."""
    loaded = _load_tmp(_records(turns))
    full = diagnose(loaded)
    d = Diagnosis(loaded)
    cheap = [d.is_breaker(i) for i in range(len(d))]
    assert cheap == [b.is_breaker for b in full]
    order = list(range(len(full)))
    rnd.shuffle(order)
    for i in order:
        assert d[i] == full[i]
    for i in order:
        nxt = d.next_breaker(i, 1)
        breakers = [k for k in range(len(full)) if cheap[k]]
        assert nxt == (None if not breakers else next((k for k in breakers if k > i), breakers[0]))


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40), st.lists(st.integers(0, 9), max_size=30), st.lists(st.integers(0, 6), min_size=10,
                                                                                  max_size=10))
def test_char_at_is_char_offsets(text, tokens, lengths):
    """A token's character from byte-length sums, as document.char_offsets places it, whatever
    the text (non-ASCII, lone surrogates) and whether or not the tokens spell it."""
    toks = np.asarray(tokens, dtype=np.uint32)
    bl = np.asarray(lengths, dtype=np.int64)
    full = char_offsets(text, toks, bl)
    assert [char_at(text, toks, k, bl) for k in range(len(toks) + 2)] == list(full) + [len(text)]


def _session_stats_reference(loaded):
    """The per-session replays session_stats replaced: each session analysed on its own."""
    from collections import defaultdict

    a = loaded.analysis
    members = defaultdict(list)
    for i, r in enumerate(loaded.trace.requests):
        members[r.session_id].append(i)
    out = []
    for sid, idx in members.items():
        ix = np.asarray(idx)
        own = analyze([loaded.inputs[i] for i in idx], [loaded.outputs[i] for i in idx], pool_sizes=["unlimited"],
                      chunk_size=a.chunk_size)
        out.append((sid, len(idx), int(a.input_lens[ix].sum()), int(a.unlimited.prefix_hits[ix].sum()),
                    int(a.unlimited.substring_hits[ix].sum()), int(a.combined_hits[ix].sum()),
                    int(own.unlimited.prefix_hits.sum()), int(own.unlimited.substring_hits.sum())))
    return out


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_TURNS, st.sampled_from([1, 2, 4, 16]))
def test_session_stats_in_one_replay_equal_each_session_replayed(turns, chunk):
    """Within-session figures from one replay over (session, token) ids are those of each
    session replayed on its own, for any chunk size."""
    import dataclasses
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "t.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in _records(turns)), encoding="utf-8")
        loaded = load(str(path), Settings(chunk_size=chunk))
    got = [dataclasses.astuple(s) for s in session_stats(loaded)]
    assert got == _session_stats_reference(loaded)


def _resync_reference(new: str, old: str, c: int):
    """_resync's definition, with the whole difflib diff of the windows."""
    import difflib

    from tracetui.core.diagnose import _ANCHOR, _ANCHOR_STEPS

    old_end = min(len(old), c + 512)
    if old_end <= c:
        return len(new) - c, 0
    new_end = min(len(new), c + 1024)
    need = min(12, old_end - c)
    old_w, new_w = old[c: old_end], new[c: new_end]
    for b, a, size in difflib.SequenceMatcher(None, old_w, new_w, autojunk=False).get_matching_blocks():
        if size >= need or (size and b + size == len(old_w) and c + b + size == len(old)):
            return a, b
    for b in _ANCHOR_STEPS:
        anchor = old[c + b: c + b + _ANCHOR]
        if len(anchor) < 16:
            return None
        pos = new.find(anchor, c)
        if pos >= 0:
            return pos - c, b
    return None


_WORDS = st.text(alphabet="ab c\n", max_size=40)


@settings(max_examples=250, deadline=None)
@given(st.lists(_WORDS, min_size=1, max_size=30), st.lists(_WORDS, max_size=30), st.integers(0, 60),
       st.integers(0, 3))
def test_resync_is_the_first_difflib_block(old_parts, new_parts, c, repeat):
    """_resync (longest matches found with str.find, the diff only for a short last block) gives
    what the whole difflib diff of the windows gives, short and long windows alike."""
    from tracetui.core.diagnose import _resync

    old = "".join(old_parts) * (1 + repeat * 8)
    new = "".join(new_parts + old_parts[len(old_parts) // 2:]) * (1 + repeat * 4)
    c = min(c, len(old), len(new))
    assert _resync(new, old, c) == _resync_reference(new, old, c)


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet="abcd\n", max_size=40), st.text(alphabet="abcd\n", max_size=60), st.integers(0, 8))
def test_resync_on_short_texts_finds_difflib_last_block(old, new, c):
    """Short, unlike texts: mostly no 12-character block, so the block ending the source's
    text (difflib's last, found along the right edge of its recursion) decides."""
    from tracetui.core.diagnose import _resync

    c = min(c, len(old), len(new))
    assert _resync(new, old, c) == _resync_reference(new, old, c)
