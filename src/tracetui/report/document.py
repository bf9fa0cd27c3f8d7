"""`analyze --json` (and `-o json`): one JSON document per trace (see README)."""

from __future__ import annotations

from typing import Any

from ..core.kvmodels import KVModel
from ..core.result import TraceResult
from .engines import is_default, update_json
from .output import rounded as _r
from .requests import requests_detail
from .summary import bytes_per_token


def to_json(result: TraceResult, kv: KVModel | None, *, per_request: bool = False, why: bool = False) -> dict[str, Any]:
    loaded = result.loaded
    n, trace, s = loaded.lengths, loaded.trace, loaded.settings
    doc: dict[str, Any] = {
        "trace": trace.name,
        "requests": n.requests,
        "sessions": trace.session_count,
        "input_tokens": n.input_tokens,
        "output_tokens": n.output_tokens,
        "mean_input_tokens": _r(n.input_tokens / n.requests) if n.requests else 0.0,
        "tokenizer": None if trace.hashed else loaded.tokenizer.name,
        "tokenizer_note": loaded.tokenizer_note or None,
        "block_size": trace.block_size,
        "formats": list(trace.formats),
        "chunk_size": n.chunk_size,
        "tokens_per_gb": s.tokens_per_gb,
        "kv_model": {"name": kv.name, "dtype": kv.dtype, "bytes_per_token": kv.bytes_per_token} if kv else None,
        "bytes_per_token": round(bytes_per_token(s, kv), 3),
        "warnings": list(result.warnings(usage_shown=per_request or why)),
    }
    if is_default(result):  # the study's figures (another engine's replace them: update_json)
        a = loaded.analysis
        doc["unlimited"] = {
            "prefix_hit_rate": _r(a.unlimited.prefix_rate),
            "substring_hit_rate": _r(a.unlimited.substring_rate),
            "combined_hit_rate": _r(a.combined_rate),
        }
        doc["pools"] = [{
            "gb": p.size.gb,
            "capacity_tokens": p.size.capacity,
            "prefix_hit_rate": _r(p.prefix_rate),
            "substring_hit_rate": _r(p.substring_rate),
            "combined_hit_rate": _r(a.combined_rate) if p.size.unlimited else None,
        } for p in a.pools]
    splits = update_json(doc, result, why=why)
    if why:
        from .why import why_json

        doc.update(why_json(result))
    if per_request:
        doc["requests_detail"] = requests_detail(result, why, splits=splits)
    return doc
