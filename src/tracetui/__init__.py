"""tracetui: explore how much of every prompt in an LLM agent trace a KV cache could reuse."""

__version__ = "0.1.0"
