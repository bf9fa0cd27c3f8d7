"""Tests for the prompt splitter (tracetui.core.blocks)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tracetui.core.blocks import split_blocks, split_output
from tracetui.core.model import BLOCK_KINDS, Block
from .paths import TRACES


def assert_covers(text: str, blocks: tuple[Block, ...]) -> None:
    """Blocks tile `text`: contiguous, non-empty, from 0 to len(text)."""
    if not text:
        assert blocks == ()
        return
    assert blocks, "non-empty text must give at least one block"
    assert blocks[0].start == 0
    assert blocks[-1].end == len(text)
    for a, b in zip(blocks, blocks[1:]):
        assert a.end == b.start, (a, b)
    for b in blocks:
        assert b.start < b.end, b
        assert b.kind in BLOCK_KINDS, b
        assert b.source == "input"


def spans(blocks):
    return [(b.kind, b.role, b.start, b.end) for b in blocks]


# ---------------------------------------------------------------------------
# Trivial cases


def test_empty_text():
    assert split_blocks("") == ()
    assert split_output("") == ()


def test_output_is_one_block():
    assert split_output("hello") == (Block("output", "assistant", 0, 5, source="output"),)


def test_unstructured_text_is_one_prompt_block():
    text = "Just a question about Python.\nNo roles here: none at all."
    assert split_blocks(text) == (Block("prompt", "", 0, len(text)),)


# ---------------------------------------------------------------------------
# ChatML

CHATML = (
    "<|im_start|>system\nBe nice.<|im_end|>\n"  # 0..38
    "<|im_start|>user\nHi<|im_end|>\n"  # 38..68
    "<|im_start|>assistant\nHello<|im_end|>\n"  # 68..106
    "<|im_start|>user\nMore<|im_end|>\n"  # 106..138
    "<|im_start|>assistant\n"  # 138..160: generation prompt, stays in the last block
)


def test_chatml():
    blocks = split_blocks(CHATML)
    assert_covers(CHATML, blocks)
    assert spans(blocks) == [
        ("system", "system", 0, 38),
        ("history", "user", 38, 68),
        ("history", "assistant", 68, 106),
        ("current", "user", 106, 160),
    ]
    assert [b.label for b in blocks] == ["message 0", "message 1", "message 2", "message 3"]


def test_chatml_leading_text_joins_first_block():
    text = "preamble " + CHATML
    blocks = split_blocks(text)
    assert_covers(text, blocks)
    assert blocks[0] == Block("system", "system", 0, 9 + 38, "message 0")


def test_chatml_role_aliases_are_normalised():
    text = "<|im_start|>developer\nd<|im_end|>\n<|im_start|>human\nh<|im_end|>\n<|im_start|>ipython\nx"
    blocks = split_blocks(text)
    assert [(b.kind, b.role) for b in blocks] == [("system", "system"), ("history", "user"), ("current", "tool")]


# ---------------------------------------------------------------------------
# Llama 3


def test_llama3():
    s = "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nSys<|eot_id|>"
    u = "<|start_header_id|>user<|end_header_id|>\n\nQ?<|eot_id|>"
    a = "<|start_header_id|>assistant<|end_header_id|>\n\nA.<|eot_id|>"
    t = "<|start_header_id|>ipython<|end_header_id|>\n\n{}<|eot_id|>"
    g = "<|start_header_id|>assistant<|end_header_id|>\n\n"
    text = s + u + a + t + g
    blocks = split_blocks(text)
    assert_covers(text, blocks)
    o1, o2, o3 = len(s), len(s + u), len(s + u + a)
    assert spans(blocks) == [
        ("system", "system", 0, o1),  # <|begin_of_text|> joins the first block
        ("history", "user", o1, o2),
        ("history", "assistant", o2, o3),
        ("current", "tool", o3, len(text)),
    ]


# ---------------------------------------------------------------------------
# === ROLE === headers


def test_header_lines():
    text = "=== SYSTEM ===\nbe nice\n=== User ===\nhi\n=== ASSISTANT ===\nhello\n=== tool ===\nresult\n"
    blocks = split_blocks(text)
    assert_covers(text, blocks)
    assert spans(blocks) == [
        ("system", "system", 0, 23),
        ("history", "user", 23, 39),
        ("history", "assistant", 39, 63),
        ("current", "tool", 63, 83),
    ]


def test_header_lines_ignore_unknown_headers():
    text = "=== RESULTS ===\nnothing to see\n"
    assert split_blocks(text) == (Block("prompt", "", 0, len(text)),)


# ---------------------------------------------------------------------------
# Plain "role:" lines


def test_plain_roles():
    text = "System: be nice\nHuman: hi\nAI: hello\nuser: again\n"
    blocks = split_blocks(text)
    assert_covers(text, blocks)
    assert spans(blocks) == [
        ("system", "system", 0, 16),
        ("history", "user", 16, 26),
        ("history", "assistant", 26, 36),
        ("current", "user", 36, len(text)),
    ]


def test_plain_roles_need_a_leading_marker_or_two_markers():
    one = "Some prose first.\nuser: a single marker is not enough\n"
    assert split_blocks(one) == (Block("prompt", "", 0, len(one)),)
    two = "Some prose first.\nuser: q\nassistant: a\n"
    blocks = split_blocks(two)
    assert_covers(two, blocks)
    assert spans(blocks) == [("history", "user", 0, 26), ("current", "assistant", 26, 39)]


def test_plain_trailing_generation_prompt_stays_in_last_block():
    text = "user: hi\nassistant:"
    assert spans(split_blocks(text)) == [("current", "user", 0, len(text))]


# ---------------------------------------------------------------------------
# JSON request bodies


def test_openai_json_body():
    doc = {
        "model": "gpt-4o",
        "messages": [
            {"role": "developer", "content": "Be brief."},
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello"},
            {"role": "user", "content": "Bye"},
        ],
        "tools": [{"type": "function", "function": {"name": "a"}}, {"type": "function", "function": {"name": "b"}}],
        "stream": True,
    }
    text = json.dumps(doc)
    m0 = text.index('"messages"')
    m1 = text.index('{"role": "user", "content": "Hi"}')
    m2 = text.index('{"role": "assistant"')
    m3 = text.index('{"role": "user", "content": "Bye"}')
    tools = text.index('"tools"')
    blocks = split_blocks(text)
    assert_covers(text, blocks)
    assert spans(blocks) == [
        ("prompt", "", 0, m0),  # model etc. before any content
        ("system", "system", m0, m1),  # the first message owns `"messages": [`
        ("history", "user", m1, m2),
        ("history", "assistant", m2, m3),
        ("current", "user", m3, tools),  # `], ` closes the last message
        ("tools", "", tools, len(text)),  # trailing `"stream": true}` joins the block before
    ]
    assert blocks[0].label == "request"
    assert blocks[-1].label == "2 tools"
    # The parsed doc is only a hint: same result.
    assert split_blocks(text, doc) == blocks


def test_anthropic_json_body_with_env_and_tool_results():
    doc = {
        "system": "You are X.\n<env>\nWorking directory: /tmp\n</env>\nMore rules.",
        "tools": [{"name": "t", "input_schema": {}}],
        "messages": [
            {"role": "user", "content": "Do it"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "1", "name": "t", "input": {}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "1", "content": "ok"}]},
        ],
    }
    text = "  " + json.dumps(doc, indent=2) + "\n"
    env_start = text.index("<env>")
    env_end = text.index("</env>") + len("</env>")
    tools = text.index('"tools"')
    m0 = text.index('"messages"')
    m1 = text.index('{\n      "role": "assistant"')
    m2 = text.index('{\n      "role": "user",\n      "content": [')
    blocks = split_blocks(text)
    assert_covers(text, blocks)
    assert spans(blocks) == [
        ("system", "system", 0, env_start),  # no request params first: `{` joins the system block
        ("env", "system", env_start, env_end),
        ("system", "system", env_end, tools),
        ("tools", "", tools, m0),
        ("history", "user", m0, m1),
        ("history", "assistant", m1, m2),
        ("current", "tool", m2, len(text)),  # Anthropic tool results are role "tool"
    ]
    assert blocks[3].label == "1 tool"


def test_json_without_messages_or_invalid_is_one_prompt_block():
    for text in ('{"prompt": "hello", "model": "x"}', '{"messages": [{"role": "user"}', '{"messages": []} trailing'):
        assert split_blocks(text) == (Block("prompt", "", 0, len(text)),), text
    deep = '{"messages": ' + "[" * 100_000
    assert split_blocks(deep) == (Block("prompt", "", 0, len(deep)),)


def test_json_doc_without_messages_skips_json():
    text = '{"prompt": "x"}'
    assert split_blocks(text, {"prompt": "x"}) == (Block("prompt", "", 0, len(text)),)


# ---------------------------------------------------------------------------
# Env and tools extraction


def _chatml(*msgs: tuple[str, str], gen: bool = True) -> str:
    text = "".join(f"<|im_start|>{r}\n{c}<|im_end|>\n" for r, c in msgs)
    return text + ("<|im_start|>assistant\n" if gen else "")


def test_env_section_splits_the_system_message():
    sys_msg = "Rules.\n<env>\n  Working directory: /x\n  Platform: linux\n</env>\n<files></files>"
    text = _chatml(("system", sys_msg), ("user", "go"))
    a, b = text.index("<env>"), text.index("</env>") + 6
    u = text.index("<|im_start|>user")
    assert spans(split_blocks(text)) == [
        ("system", "system", 0, a),
        ("env", "system", a, b),
        ("system", "system", b, u),
        ("current", "user", u, len(text)),
    ]


def test_env_section_at_the_end_absorbs_trailing_whitespace():
    text = "=== SYSTEM ===\nRules.\n<env>\nx\n</env>\n\n=== USER ===\nhi\n"
    a, u = text.index("<env>"), text.index("=== USER")
    blocks = split_blocks(text)
    assert spans(blocks) == [("system", "system", 0, a), ("env", "system", a, u), ("current", "user", u, len(text))]


def test_short_env_message_is_env():
    text = _chatml(
        ("system", "You are helpful."),
        ("system", "Working directory: /home/me\nPlatform: linux\nToday's date: 2025-01-01"),
        ("user", "hi"),
    )
    kinds = [b.kind for b in split_blocks(text)]
    assert kinds == ["system", "env", "current"]


def test_long_system_prompt_with_one_date_line_stays_system():
    text = _chatml(("system", "Rules. " * 100 + "\nToday's date: 2025-01-01"), ("user", "hi"))
    assert [b.kind for b in split_blocks(text)] == ["system", "current"]


def test_env_in_first_user_message():
    first = "Please help.\n<env>\ncwd: /a\n</env>\n" + "context " * 60
    text = _chatml(("user", first), ("assistant", "ok"), ("user", "go"))
    blocks = split_blocks(text)
    assert_covers(text, blocks)
    assert [(b.kind, b.role) for b in blocks] == [
        ("history", "user"),
        ("env", "user"),
        ("history", "user"),
        ("history", "assistant"),
        ("current", "user"),
    ]
    assert text[blocks[1].start : blocks[1].end] == "<env>\ncwd: /a\n</env>"


def test_env_is_not_extracted_from_the_current_turn():
    text = _chatml(("user", "<env>\ncwd: /a\n</env>\nfix it"))
    assert spans(split_blocks(text)) == [("current", "user", 0, len(text))]


def test_tools_in_system_messages():
    text = _chatml(
        ("system", "Be good.\n<tools>\n{\"name\": \"f\"}\n</tools>\nThanks."),
        ("system", "# Tools\n\n## functions\nf()"),
        ("user", "hi"),
    )
    blocks = split_blocks(text)
    assert_covers(text, blocks)
    assert [b.kind for b in blocks] == ["system", "tools", "system", "tools", "current"]
    assert text[blocks[1].start : blocks[1].end] == '<tools>\n{"name": "f"}\n</tools>'


# ---------------------------------------------------------------------------
# Current turn


def test_current_turn_is_everything_after_last_assistant():
    text = _chatml(
        ("system", "s"), ("user", "u"), ("assistant", "call"), ("tool", "r1"), ("tool", "r2")
    )
    blocks = split_blocks(text)
    assert [(b.kind, b.role, b.label) for b in blocks] == [
        ("system", "system", "message 0"),
        ("history", "user", "message 1"),
        ("history", "assistant", "message 2"),
        ("current", "tool", "message 3"),
        ("current", "tool", "message 4"),
    ]
    assert blocks[-1].end == len(text)  # generation prompt included


def test_current_turn_without_assistant_is_last_non_system_message():
    text = _chatml(("system", "s"), ("user", "a"), ("user", "b"), ("system", "late"), gen=False)
    assert [(b.kind, b.role) for b in split_blocks(text)] == [
        ("system", "system"),
        ("history", "user"),
        ("current", "user"),
        ("current", "system"),
    ]


def test_prompt_ending_with_an_assistant_prefill():
    text = _chatml(("user", "q"), gen=False) + "<|im_start|>assistant\nSure, here"
    assert [(b.kind, b.role) for b in split_blocks(text)] == [("history", "user"), ("current", "assistant")]


def test_only_system_messages():
    text = _chatml(("system", "a"), ("system", "b"), gen=False)
    assert [b.kind for b in split_blocks(text)] == ["system", "system"]


# ---------------------------------------------------------------------------
# Properties

FRAGMENTS = st.sampled_from(
    [
        "<|im_start|>", "<|im_end|>", "user", "assistant", "system", "tool", "\n", " ", ":", "===",
        "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>", "<env>", "</env>", "<tools>", "</tools>",
        "User:", "assistant:", "=== USER ===", "{", "}", '"messages"', "[", "]", ",", "Working directory: /x",
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_random_text_is_covered(text):
    assert_covers(text, split_blocks(text))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(FRAGMENTS, st.text(max_size=5)), max_size=40))
def test_random_marker_soup_is_covered(parts):
    text = "".join(parts)
    assert_covers(text, split_blocks(text))


ROLES = st.sampled_from(["system", "user", "assistant", "tool", "developer", "human"])
CONTENT = st.text(alphabet=st.characters(blacklist_characters="<"), max_size=30) | st.sampled_from(
    ["<env>\ncwd: /a\n</env>", "Working directory: /w\nPlatform: x", "# Tools\nf()", "<tools>x</tools> y"]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(ROLES, CONTENT), min_size=1, max_size=12), st.booleans(), st.text(max_size=5))
def test_random_chatml_conversations(msgs, gen, lead):
    lead = lead.replace("<", "")
    text = lead + _chatml(*msgs, gen=gen)
    blocks = split_blocks(text)
    assert_covers(text, blocks)
    # One or more blocks per message; each message label appears in order.
    labels = [b.label for b in blocks if b.label.startswith("message ")]
    assert sorted(set(labels), key=lambda s: int(s.split()[1])) == [f"message {i}" for i in range(len(msgs))]
    kinds = [b.kind for b in blocks]
    # Current blocks come last, and there is at least one unless all messages are system.
    if any(r not in ("system", "developer") for r, _ in msgs):
        assert "current" in kinds
        first_cur = kinds.index("current")
        assert all(k == "current" for k in kinds[first_cur:])


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.fixed_dictionaries({"role": ROLES, "content": st.text(max_size=20)}), max_size=8),
    st.one_of(st.none(), st.integers(0, 3)),
    st.booleans(),
)
def test_random_json_bodies(messages, indent, with_system):
    doc: dict = {"model": "m"}
    if with_system:
        doc["system"] = "sys"
    doc["messages"] = messages
    text = json.dumps(doc, indent=indent)
    blocks = split_blocks(text)
    assert_covers(text, blocks)
    message_blocks = [b for b in blocks if b.label.startswith("message ")]
    assert len(message_blocks) == len(messages)


# ---------------------------------------------------------------------------
# Large and pathological prompts: covered. (Their speed, linear in the size, is measured by
# benchmarks/bench_blocks.py, never by a clock in a test.)


def test_large_prompt_is_covered():
    msgs = [("system", "S" * 5000)]
    for i in range(200):
        msgs += [("user", f"question {i} " + "u" * 600), ("assistant", f"answer {i} " + "a" * 600)]
    text = _chatml(*msgs)
    assert len(text) > 250_000
    assert_covers(text, split_blocks(text))


@pytest.mark.parametrize(
    "text",
    [
        "<|im_start|>system\n" + "<env><tools>" * 20_000,  # unclosed tags: must not go quadratic
        "{" + '"a": 1, ' * 30_000 + '"messages": []}',
        "=== = ===\n" * 25_000,
    ],
    ids=["unclosed-tags", "many-json-keys", "fake-headers"],
)
def test_pathological_inputs_are_covered(text):
    assert_covers(text, split_blocks(text))


# ---------------------------------------------------------------------------
# Real traces

needs_traces = pytest.mark.skipif(not TRACES.is_dir(), reason="shared traces not available")


def _inputs(subdir: str) -> list[str]:
    out = []
    for path in sorted((TRACES / subdir).glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                out.append(json.loads(line)["input"])
    return out


def _memgpt_bodies() -> list[str]:
    # The bodies sit unescaped inside "input", so the line itself is not JSON.
    bodies = []
    for line in (TRACES / "memgpt" / "memgpt1.jsonl").read_text(encoding="utf-8").splitlines():
        a = line.find('"input": "')
        b = line.find('", "output": "')
        if a >= 0 and b > a:
            bodies.append(line[a + len('"input": "') : b])
    return bodies


@needs_traces
@pytest.mark.parametrize("subdir", ["opencode", "aider", "miniswe", "taubench"])
def test_real_traces_are_covered(subdir):
    inputs = _inputs(subdir)
    assert inputs
    for text in inputs:
        assert_covers(text, split_blocks(text))


@needs_traces
def test_real_opencode_prompt():
    text = _inputs("opencode")[2]
    blocks = split_blocks(text)
    assert_covers(text, blocks)
    assert {b.kind for b in blocks} == {"system", "env", "history", "current"}
    env = [b for b in blocks if b.kind == "env"]
    assert len(env) == 1 and text[env[0].start :].startswith("<env>")
    assert text[blocks[-1].start :].endswith("<|im_start|>assistant\n")


@needs_traces
def test_real_aider_prompt():
    text = _inputs("aider")[1]
    blocks = split_blocks(text)
    assert_covers(text, blocks)
    assert [b.kind for b in blocks][0] == "system"
    assert {b.kind for b in blocks} == {"system", "history", "current"}


@needs_traces
def test_real_memgpt_bodies():
    bodies = _memgpt_bodies()
    assert bodies
    for text in bodies:
        blocks = split_blocks(text)
        assert_covers(text, blocks)
        assert {"system", "tools", "history", "current"} <= {b.kind for b in blocks}
        assert split_blocks(text, json.loads(text)) == blocks


def test_block_at_agrees_with_a_scan():
    from tracetui.core.blocks import block_at

    text = "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
    blocks = split_blocks(text)
    assert len(blocks) >= 2
    for char in range(-2, len(text) + 3):
        inside = [k for k, b in enumerate(blocks) if b.start <= char < b.end]
        assert block_at(blocks, char) == (inside[0] if inside else len(blocks) - 1)
    assert block_at((), 0) == -1
    doc = _doc(text)
    assert [doc.block_at(ch) for ch in (0, len(text) - 1, len(text) + 5)] == [0, len(blocks) - 1, len(blocks) - 1]
    assert _doc("").block_at(0) == 0


# ---------------------------------------------------------------------------
# Display: control characters and wrapping by terminal cells (tracetui.core.document)


def _doc(input_text: str, prefix_hit: int = 0):
    import numpy as np

    from tracetui.core.document import PromptDocument

    toks = np.frombuffer(input_text.encode(), dtype=np.uint8).astype(np.uint32)  # one token per byte
    return PromptDocument(0, input_text, "", toks, np.zeros(0, np.uint32), np.zeros(len(toks), np.uint8),
                          np.ones(256, np.int64), prefix_hit)


def _cells(s: str) -> int:
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in s)


def _text_rows(doc, lay):
    from tracetui.core.document import ROW_TEXT

    return [doc.text[int(a):int(b)] for k, a, b in zip(lay.kind, lay.start, lay.end) if k == ROW_TEXT]


@pytest.mark.parametrize("width", [8, 9, 10, 17])
def test_layout_wraps_wide_characters_by_cells(width):
    text = "日本語のテキストです。" * 5 + "\nabc漢字def😀ghij\n" + "x" * 30 + "\n混ぜたtext文字"
    doc = _doc(text)
    lay = doc.layout(width)
    rows = _text_rows(doc, lay)
    assert "".join(rows) == text  # no character is lost
    assert all(_cells(r) <= width for r in rows)
    assert max(_cells(r) for r in rows) >= width - 1  # and rows are filled
    assert "x" * width in rows  # narrow lines wrap by character count as before


def test_layout_of_narrow_text_is_unchanged_by_non_ascii():
    # Accented Latin text takes one cell per character: cut exactly like ASCII text.
    latin, ascii_ = "café crème brûlée " * 10, "cafe creme brulee " * 10
    a, b = _doc(latin).layout(12), _doc(ascii_).layout(12)
    assert a.start.tolist() == b.start.tolist() and a.end.tolist() == b.end.tolist()


def test_break_marker_column_counts_cells():
    from tracetui.core.document import ROW_MARKER

    text = "漢字漢字xyz"  # the break after "漢字漢字x": 9 cells in
    doc = _doc(text, prefix_hit=len("漢字漢字x".encode()))
    lay = doc.layout(20)
    r = lay.marker_row
    assert lay.kind[r] == ROW_MARKER and int(lay.end[r]) == 5 and int(lay.start[r]) == 9


def test_a_break_at_the_start_of_a_row_is_marked_above_it():
    """"No prefix hit" breaks at the first character: its marker comes before the first row, never
    between two rows of the wrapped first line (which split a word in two)."""
    from tracetui.core.document import ROW_MARKER, ROW_TEXT

    text = "word " * 10  # one logical line, wrapped
    lay = _doc(text, prefix_hit=0).layout(12)
    r = lay.marker_row
    assert lay.marker_above and lay.kind[r] == ROW_MARKER and int(lay.start[r]) == 0
    assert lay.kind[r + 1] == ROW_TEXT and int(lay.start[r + 1]) == 0  # the first text row follows
    # Mid-row breaks stay below their row, the column pointing at the first missed character.
    lay = _doc(text, prefix_hit=14).layout(12)
    r = lay.marker_row
    assert not lay.marker_above and int(lay.end[r]) == 14 and int(lay.start[r]) == 2
    assert int(lay.start[r - 1]) == 12
