"""KV-cache sizes of common models: how many tokens fit in one GB of cache.

bytes per token = 2 (K and V) x layers x kv_heads x head_dim x dtype bytes; a GB here is
2**30 bytes, as in LMCache's KV cache calculator (Llama-3.1-8B in bf16: 128 KiB per token,
8192 tokens per GB, which the seed study rounded to its default of 8200).
"""

from __future__ import annotations

from dataclasses import dataclass

GB = 1 << 30

DTYPE_BYTES = {"bf16": 2, "fp16": 2, "fp8": 1, "int8": 1, "fp32": 4}


@dataclass(frozen=True, slots=True)
class KVModel:
    name: str
    layers: int
    kv_heads: int
    head_dim: int
    dtype: str = "bf16"

    @property
    def bytes_per_token(self) -> int:
        return 2 * self.layers * self.kv_heads * self.head_dim * DTYPE_BYTES[self.dtype]

    @property
    def tokens_per_gb(self) -> int:
        return GB // self.bytes_per_token


PRESETS: dict[str, KVModel] = {
    m.name: m
    for m in (
        KVModel("llama-3.1-8b", 32, 8, 128),
        KVModel("llama-3.1-70b", 80, 8, 128),
        KVModel("llama-3.1-405b", 126, 8, 128),
        KVModel("llama-3.2-3b", 28, 8, 128),
        KVModel("mistral-7b", 32, 8, 128),
        KVModel("qwen2.5-7b", 28, 4, 128),
        KVModel("qwen2.5-32b", 64, 8, 128),
        KVModel("qwen2.5-72b", 80, 8, 128),
        KVModel("qwen3-8b", 36, 8, 128),
        KVModel("qwen3-32b", 64, 8, 128),
    )
}


class UnknownKVModel(ValueError):
    pass


def kv_model(spec: str) -> KVModel:
    """'qwen3-8b' or 'qwen3-8b:fp8' -> the preset (in that dtype)."""
    name, _, dtype = spec.strip().lower().partition(":")
    if name not in PRESETS:
        raise UnknownKVModel(f"unknown --kv-model {spec!r} (known: {', '.join(PRESETS)}; add :fp8 / :fp32 for other dtypes)")
    model = PRESETS[name]
    if dtype:
        if dtype not in DTYPE_BYTES:
            raise UnknownKVModel(f"unknown KV dtype {dtype!r} (known: {', '.join(DTYPE_BYTES)})")
        model = KVModel(model.name, model.layers, model.kv_heads, model.head_dim, dtype)
    return model
