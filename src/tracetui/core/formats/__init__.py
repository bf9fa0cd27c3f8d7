"""Record formats: which one a parsed record is, and the Requests it stands for.

Every record is detected on its own (a proxy log may mix OpenAI and Anthropic bodies);
`--format NAME` reads every record as NAME instead (records that do not fit are skipped).

Text formats: ``prompt`` (tracetui's own `input` / `prompt` records, unchanged), ``openai``
(Chat Completions bodies, alone, wrapped as `{"request", "response"}`, or Batch API input /
output lines), ``anthropic`` (Messages bodies, alone or wrapped, or Message Batches lines).
Hashed formats (no text, see `hashed`): ``mooncake``, ``bailian``, ``servegen``, ``claude-code``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..model import Request
from ..reader import OUTPUT_ONLY, _dumps, _timestamp, request_from_record
from . import anthropic, openai
from .chat import DEFAULT_TEMPLATE, TEMPLATES, render_output, render_prompt
from .hashed import BLOCK_SIZES, HASHED_FORMATS, HashIds, claude_code_requests, detect_hashed, flat_request

__all__ = ["FORMATS", "TEMPLATES", "DEFAULT_TEMPLATE", "HASHED_FORMATS", "FormatOptions", "Converter", "detect"]

TEXT_FORMATS = ("prompt", "openai", "anthropic")
FORMATS = TEXT_FORMATS + HASHED_FORMATS


@dataclass(frozen=True)
class FormatOptions:
    format: str | None = None
    """One of FORMATS, or None to detect every record's format."""
    template: str = DEFAULT_TEMPLATE
    hash_block_size: int | None = None
    """Block size of hashed files that do not say theirs (default: the format's own)."""


@dataclass(frozen=True, slots=True)
class _Parts:
    """A request-body record taken apart: the body, the response (if any), the record's id."""

    body: dict | None
    response: Any
    request_id: str | None


def _parts(rec: dict) -> _Parts | None:
    """The body / response of the containers: a bare body, {"request", "response"}, a Batch
    API input line (`body`, Anthropic: `params`) or output line (`response.body`, Anthropic:
    `result.message`)."""
    if openai.is_body(rec):
        return _Parts(rec, None, None)
    req = rec.get("request")
    if openai.is_body(req):
        return _Parts(req, rec.get("response"), None)
    cid = rec.get("custom_id")
    if cid is None or isinstance(cid, (dict, list)):
        return None
    cid = str(cid)
    for key in ("body", "params"):
        if openai.is_body(rec.get(key)):
            return _Parts(rec[key], None, cid)
    resp = rec.get("response")
    if isinstance(resp, dict) and isinstance(resp.get("body"), dict):
        return _Parts(None, resp["body"], cid)
    result = rec.get("result")
    if isinstance(result, dict) and isinstance(result.get("message"), dict):
        return _Parts(None, result["message"], cid)
    return None


def _is_anthropic_response(resp: Any) -> bool:
    return isinstance(resp, dict) and isinstance(resp.get("content"), list) and "choices" not in resp


def detect(rec: Any) -> str | None:
    """The format of one parsed record, or None when it is none of FORMATS."""
    if not isinstance(rec, dict):
        return None
    fmt = detect_hashed(rec)
    if fmt is not None:
        return fmt
    if any(rec.get(k) is not None for k in ("input", "prompt")):
        return "prompt"
    parts = _parts(rec)
    if parts is None:
        return None
    if parts.body is not None:
        return "anthropic" if anthropic.looks_like(parts.body) else "openai"
    return "anthropic" if _is_anthropic_response(parts.response) else "openai"


class Converter:
    """The `convert` hook core.reader calls for each record, for every file of one trace.

    It remembers what the trace-level checks need: the formats seen, the block size of the
    hashed records, and the hash-id table (shared by the files of a folder)."""

    def __init__(self, options: FormatOptions = FormatOptions()) -> None:
        if options.format is not None and options.format not in FORMATS:
            raise ValueError(f"unknown format {options.format!r} (choose from {', '.join(FORMATS)})")
        if options.template not in TEMPLATES:
            raise ValueError(f"unknown template {options.template!r} (choose from {', '.join(TEMPLATES)})")
        self.options = options
        self.formats: dict[str, None] = {}
        self.block_sizes: dict[int, str] = {}
        """Block size -> the first file that uses it."""
        self.ids = HashIds()
        self.file = ""
        """Display name of the file being read (set by the loader)."""
        self.file_index = 0
        self._parents: dict[str, str] = {}

    def __call__(self, rec: Any, index: int, line: int) -> tuple[Request, ...] | None:
        fmt = self.options.format or detect(rec)
        if fmt is None or not isinstance(rec, dict):
            return None
        if fmt == "prompt":
            req = request_from_record(rec, index, line)
            reqs = None if req is None else (req,)
        elif fmt in ("openai", "anthropic"):
            req = self._body_request(fmt, rec, index, line)
            reqs = None if req is None else (req,)
        else:
            reqs = self._hashed(fmt, rec, index, line)
        if reqs is not None:
            self.formats.setdefault(fmt, None)
        return reqs

    # --- request bodies ---

    def _body_request(self, fmt: str, rec: dict, index: int, line: int) -> Request | None:
        parts = _parts(rec)
        if parts is None:
            return None
        provider = anthropic if fmt == "anthropic" else openai
        template = self.options.template
        resp = parts.response
        output = ""
        usage = rec.get("usage")
        if isinstance(resp, dict):
            msg = provider.response_message(resp)
            if msg is not None:
                output = _dumps(resp) or "" if template == "json" else render_output(msg, template)
            if not isinstance(usage, dict):
                usage = resp.get("usage")
        ts = _timestamp(rec.get("timestamp"))
        if ts is None and isinstance(resp, dict):
            ts = _timestamp(resp.get("created"))
        session = rec.get("session_id")
        session = str(session) if isinstance(session, (str, int)) and not isinstance(session, bool) else None
        if parts.body is None:  # a batch output line: joined to its input line by the loader
            return Request(index=index, line=line, input="", output=output, timestamp=ts, session_id=session,
                           usage=usage if isinstance(usage, dict) else None, request_id=parts.request_id,
                           input_doc=OUTPUT_ONLY)
        body = parts.body
        try:
            if template == "json":
                text = _dumps(body)
                if text is None:
                    return None
            else:
                text = render_prompt(provider.chat_of(body), template)
        except (RecursionError, TypeError, ValueError, AttributeError):
            return None
        model = body.get("model")
        return Request(index=index, line=line, input=text, output=output, timestamp=ts, session_id=session,
                       model=None if model is None else str(model), input_doc=body,
                       output_doc=resp if isinstance(resp, dict) else None,
                       usage=usage if isinstance(usage, dict) else None, request_id=parts.request_id)

    # --- hashed traces ---

    def _block_size(self, fmt: str, rec: dict) -> int | None:
        said = rec.get("block_size") if fmt == "claude-code" else None
        if isinstance(said, int) and not isinstance(said, bool) and said > 0:
            size = said
        else:
            size = self.options.hash_block_size or BLOCK_SIZES.get(fmt, 0)
        if size <= 0:
            return None
        self.block_sizes.setdefault(size, self.file)
        return size

    def _hashed(self, fmt: str, rec: dict, index: int, line: int) -> tuple[Request, ...] | None:
        if detect_hashed(rec) != fmt and not (fmt in ("mooncake", "servegen") and "hash_ids" in rec):
            return None
        block = self._block_size(fmt, rec)
        if block is None:
            return None
        scope = self.file_index
        if fmt == "claude-code":
            name = rec.get("id") if isinstance(rec.get("id"), str) else self.file
            reqs = claude_code_requests(rec, self.ids, scope, block, index, line, name)
            return None if reqs is None else tuple(reqs)
        # Flat hashed lines: ids are global to the trace (one table for every file).
        req = flat_request(fmt, rec, self.ids, None, block, index, line, self._parents)
        return None if req is None else (req,)
