"""big_prompt.jsonl: three requests, two of which carry a ~250 KB prompt (a generated Python
repository)."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

from .common import _Clock, _IM_ASSISTANT, _hex, _im, _record

_AREAS = [
    "api", "auth", "blobs", "cache", "config", "manifests", "mirror", "policy",
    "storage", "sync", "webhooks", "audit", "gc", "quota",
]
_NOUNS = [
    "manifest", "layer", "blob", "tag", "digest", "repository", "token", "session", "chunk",
    "mirror", "policy", "quota", "webhook", "event", "label", "artifact", "signature", "upload",
    "replica", "lease", "credential", "endpoint", "snapshot", "bucket", "namespace", "schedule",
    "checksum", "annotation", "reference", "index",
]
_VERBS = [
    "load", "fetch", "resolve", "build", "render", "prune", "sync", "collect", "apply",
    "compute", "upload", "verify", "refresh", "rotate", "scan", "export", "select", "publish",
]
_ADJS = ["stale", "pending", "orphaned", "pinned", "signed", "partial", "remote", "active", "locked", "cold"]
_STR_FIELDS = ["name", "key", "owner", "region", "kind", "url", "media_type", "reference", "tenant", "host"]
_INT_FIELDS = ["size", "count", "priority", "retries", "ttl", "generation", "offset", "version", "weight", "shard"]
_BOOL_FIELDS = ["enabled", "pinned", "signed", "deleted", "public", "immutable"]
_FLOAT_FIELDS = ["created_at", "updated_at", "last_seen", "expires_at"]


def _camel(*words: str) -> str:
    return "".join(w[:1].upper() + w[1:] for part in words for w in part.split("_"))


def _plural(noun: str) -> str:
    if noun.endswith(("s", "x", "ch", "sh")):
        return noun + "es"
    if noun.endswith("y") and noun[-2:-1] not in "aeiou":
        return noun[:-1] + "ies"
    return noun + "s"


class _Entity:
    """The dataclass a generated module is about, and the names of its fields."""

    def __init__(self, rng: random.Random, noun: str, adj: str | None) -> None:
        self.noun = noun
        self.plural = _plural(noun)
        self.cls = _camel(adj, noun) if adj else _camel(noun)
        self.s1, self.s2 = rng.sample(_STR_FIELDS, 2)
        self.i1, self.i2 = rng.sample(_INT_FIELDS, 2)
        self.b1 = rng.choice(_BOOL_FIELDS)
        self.f1 = rng.choice(_FLOAT_FIELDS)

    def definition(self, rng: random.Random) -> str:
        doc = rng.choice([
            f"One {self.noun} as stored by the registry.",
            f"A {self.noun} and the bookkeeping the mirror keeps about it.",
            f"Immutable view of a {self.noun} returned by the upstream API.",
        ])
        frozen = rng.choice(["(frozen=True)", "(frozen=True, slots=True)", ""])
        return (
            f"@dataclass{frozen}\nclass {self.cls}:\n    \"\"\"{doc}\"\"\"\n\n"
            f"    {self.s1}: str\n"
            f"    {self.s2}: str = \"\"\n"
            f"    {self.i1}: int = 0\n"
            f"    {self.i2}: int = {rng.choice([0, 1, 3, 10])}\n"
            f"    {self.b1}: bool = False\n"
            f"    {self.f1}: float = field(default_factory=time.time)\n"
        )


# Each template: (rng, entity) -> (code, imports). Imports are "module" or "module:name".
_Template = Callable[[random.Random, _Entity], tuple[str, list[str]]]


def _t_filter(rng: random.Random, e: _Entity) -> tuple[str, list[str]]:
    verb, adj = rng.choice(_VERBS), rng.choice(_ADJS)
    code = f'''\
def {verb}_{adj}_{e.plural}(items: Iterable[{e.cls}], *, limit: int = {rng.choice([50, 100, 256, 1000])}) -> list[{e.cls}]:
    """Return up to `limit` {adj} {e.plural}, in input order."""
    result: list[{e.cls}] = []
    for item in items:
        if not item.{e.b1}:
            continue
        if item.{e.i1} < {rng.randrange(1, 64)}:
            continue
        result.append(item)
        if len(result) >= limit:
            break
    return result
'''
    return code, ["collections.abc:Iterable"]


def _t_group(rng: random.Random, e: _Entity) -> tuple[str, list[str]]:
    code = f'''\
def group_{e.plural}_by_{e.s1}(items: Iterable[{e.cls}]) -> dict[str, list[{e.cls}]]:
    """Bucket {e.plural} by `{e.s1}`, keeping the input order inside each bucket."""
    groups: dict[str, list[{e.cls}]] = defaultdict(list)
    for item in items:
        groups[item.{e.s1}].append(item)
    return dict(groups)
'''
    return code, ["collections:defaultdict", "collections.abc:Iterable"]


def _t_parse(rng: random.Random, e: _Entity) -> tuple[str, list[str]]:
    upper = e.noun.upper()
    sep = rng.choice([":", "@", "/"])
    code = f'''\
_{upper}_RE = re.compile(r"^(?P<{e.s1}>[a-z0-9][a-z0-9._-]*)(?:{sep}(?P<{e.s2}>[A-Za-z0-9_.-]{{1,{rng.choice([64, 128, 255])}}}))?$")


def parse_{e.noun}(text: str) -> {e.cls}:
    """Parse `{e.s1}[{sep}{e.s2}]` into a {e.cls}."""
    match = _{upper}_RE.match(text.strip())
    if match is None:
        raise ValueError(f"not a valid {e.noun}: {{text!r}}")
    return {e.cls}({e.s1}=match.group("{e.s1}"), {e.s2}=match.group("{e.s2}") or "")
'''
    return code, ["re"]


def _t_retry(rng: random.Random, e: _Entity) -> tuple[str, list[str]]:
    verb = rng.choice(["fetch", "upload", "resolve", "publish", "refresh"])
    code = f'''\
def {verb}_{e.noun}_with_retry(client: Any, key: str, *, attempts: int = {rng.randrange(3, 7)}, delay: float = {rng.choice([0.1, 0.25, 0.5, 1.0])}) -> bytes:
    """Call `client.{verb}(key)`, backing off exponentially on timeouts."""
    for attempt in range(1, attempts + 1):
        try:
            return client.{verb}(key)
        except TimeoutError:
            if attempt == attempts:
                raise
            log.warning("{verb} %s timed out (attempt %d/%d)", key, attempt, attempts)
            time.sleep(delay)
            delay *= 2
    raise AssertionError("unreachable")
'''
    return code, ["typing:Any", "time", "logging"]


def _t_load(rng: random.Random, e: _Entity) -> tuple[str, list[str]]:
    sep = rng.choice(["\\t", ",", "|"])
    code = f'''\
def load_{e.plural}(path: Path) -> Iterator[{e.cls}]:
    """Yield one {e.cls} per non-empty, non-comment line of `path`."""
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            parts = line.split("{sep}")
            if len(parts) != 3:
                log.debug("%s:%d: expected 3 fields, got %d", path, lineno, len(parts))
                continue
            yield {e.cls}({e.s1}=parts[0], {e.s2}=parts[1], {e.i1}=int(parts[2]))
'''
    return code, ["pathlib:Path", "collections.abc:Iterator", "logging"]


def _t_digest(rng: random.Random, e: _Entity) -> tuple[str, list[str]]:
    code = f'''\
def {e.noun}_digest(item: {e.cls}, *, length: int = {rng.choice([12, 16, 20, 32])}) -> str:
    """A short, stable fingerprint of the identifying fields of `item`."""
    h = hashlib.{rng.choice(["sha256", "blake2b", "sha1"])}()
    for part in (item.{e.s1}, item.{e.s2}, item.{e.i1}):
        h.update(str(part).encode("utf-8"))
        h.update(b"\\0")
    return h.hexdigest()[:length]
'''
    return code, ["hashlib"]


def _t_validate(rng: random.Random, e: _Entity) -> tuple[str, list[str]]:
    limit = rng.choice([16, 100, 1024, 65535])
    code = f'''\
def validate_{e.noun}(item: {e.cls}) -> list[str]:
    """Return human-readable problems with `item`; empty when it is valid."""
    problems: list[str] = []
    if not item.{e.s1}:
        problems.append("{e.s1} is empty")
    if item.{e.i1} < 0:
        problems.append(f"{e.i1} must be >= 0, got {{item.{e.i1}}}")
    if item.{e.i2} > {limit}:
        problems.append(f"{e.i2} must be <= {limit}, got {{item.{e.i2}}}")
    if item.{e.b1} and not item.{e.s2}:
        problems.append("{e.s2} is required when {e.b1} is set")
    return problems
'''
    return code, []


def _t_summary(rng: random.Random, e: _Entity) -> tuple[str, list[str]]:
    code = f'''\
def summarise_{e.plural}(items: Iterable[{e.cls}]) -> dict[str, int]:
    """Count, total and largest `{e.i1}` over `items`."""
    count = total = largest = 0
    for item in items:
        count += 1
        total += item.{e.i1}
        largest = max(largest, item.{e.i1})
    return {{"count": count, "total": total, "largest": largest}}
'''
    return code, ["collections.abc:Iterable"]


def _t_cache(rng: random.Random, e: _Entity) -> tuple[str, list[str]]:
    code = f'''\
class {e.cls}Cache:
    """A small least-recently-used cache of {e.plural} keyed by `{e.s1}`."""

    def __init__(self, capacity: int = {rng.choice([64, 128, 512, 4096])}) -> None:
        if capacity <= 0:
            raise ValueError("capacity must be positive")
        self.capacity = capacity
        self._items: OrderedDict[str, {e.cls}] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def get(self, key: str) -> {e.cls} | None:
        item = self._items.get(key)
        if item is None:
            self.misses += 1
            return None
        self._items.move_to_end(key)
        self.hits += 1
        return item

    def put(self, item: {e.cls}) -> None:
        self._items[item.{e.s1}] = item
        self._items.move_to_end(item.{e.s1})
        while len(self._items) > self.capacity:
            evicted, _ = self._items.popitem(last=False)
            log.debug("evicted {e.noun} %s", evicted)

    def __len__(self) -> int:
        return len(self._items)
'''
    return code, ["collections:OrderedDict", "logging"]


def _t_merge(rng: random.Random, e: _Entity) -> tuple[str, list[str]]:
    code = f'''\
def merge_{e.plural}(old: Sequence[{e.cls}], new: Sequence[{e.cls}]) -> list[{e.cls}]:
    """Merge two lists of {e.plural}; on equal `{e.s1}` the higher `{e.i2}` wins."""
    by_key: dict[str, {e.cls}] = {{item.{e.s1}: item for item in old}}
    for item in new:
        current = by_key.get(item.{e.s1})
        if current is None or item.{e.i2} >= current.{e.i2}:
            by_key[item.{e.s1}] = item
    return sorted(by_key.values(), key=lambda item: (item.{e.s1}, -item.{e.i2}))
'''
    return code, ["collections.abc:Sequence"]


def _t_serialise(rng: random.Random, e: _Entity) -> tuple[str, list[str]]:
    code = f'''\
def {e.noun}_to_dict(item: {e.cls}) -> dict[str, Any]:
    """Serialise `item` for the JSON API, leaving out empty values."""
    data = asdict(item)
    return {{k: v for k, v in data.items() if v not in (None, "", 0, False)}}


def {e.noun}_from_dict(data: dict[str, Any]) -> {e.cls}:
    """Inverse of `{e.noun}_to_dict`; unknown keys are ignored."""
    known = {{f.name for f in fields({e.cls})}}
    return {e.cls}(**{{k: v for k, v in data.items() if k in known}})
'''
    return code, ["dataclasses:asdict", "dataclasses:fields", "typing:Any"]


def _t_expire(rng: random.Random, e: _Entity) -> tuple[str, list[str]]:
    code = f'''\
def expire_{e.plural}(items: list[{e.cls}], *, max_age: float = {rng.choice([60.0, 3600.0, 86400.0, 604800.0])}, now: float | None = None) -> list[{e.cls}]:
    """Drop {e.plural} whose `{e.f1}` is more than `max_age` seconds old."""
    now = time.time() if now is None else now
    kept = [item for item in items if now - item.{e.f1} <= max_age]
    if len(kept) != len(items):
        log.info("expired %d of %d {e.plural}", len(items) - len(kept), len(items))
    return kept
'''
    return code, ["time", "logging"]


def _t_paginate(rng: random.Random, e: _Entity) -> tuple[str, list[str]]:
    code = f'''\
def iter_{e.plural}(client: Any, {e.s2}: str, *, page_size: int = {rng.choice([50, 100, 250])}) -> Iterator[{e.cls}]:
    """Yield every {e.noun} of `{e.s2}`, following the API's `next` links."""
    url: str | None = f"/v2/{{{e.s2}}}/{e.plural}?n={{page_size}}"
    while url:
        response = client.get(url)
        response.raise_for_status()
        for data in response.json().get("{e.plural}", []):
            yield {e.cls}(**data)
        url = response.links.get("next", {{}}).get("url")
'''
    return code, ["typing:Any", "collections.abc:Iterator"]


_TEMPLATES: list[_Template] = [
    _t_filter, _t_group, _t_parse, _t_retry, _t_load, _t_digest, _t_validate,
    _t_summary, _t_cache, _t_merge, _t_serialise, _t_expire, _t_paginate,
]


def _render_imports(imports: Sequence[str]) -> str:
    plain: list[str] = []
    froms: dict[str, list[str]] = {}
    for spec in imports:
        if ":" in spec:
            module, name = spec.split(":", 1)
            names = froms.setdefault(module, [])
            if name not in names:
                names.append(name)
        elif spec not in plain:
            plain.append(spec)
    lines = [f"import {m}" for m in sorted(plain)]
    lines += [f"from {m} import {', '.join(sorted(froms[m]))}" for m in sorted(froms)]
    return "\n".join(lines)


def _gen_module(rng: random.Random, area: str, entity: _Entity) -> tuple[str, list[str]]:
    """Source of one module about `entity`, and the names of the functions it defines."""
    doc = rng.choice([
        f"Helpers for {entity.plural} in the {area} layer.",
        f"{_camel(entity.noun)} records and the operations the {area} service needs on them.",
        f"Everything about {entity.plural} that the {area} package shares with the rest of harbor.",
        f"Reading, checking and caching {entity.plural} for {area}.",
    ])
    chosen = rng.sample(_TEMPLATES, rng.randrange(4, 8))
    imports = ["dataclasses:dataclass", "dataclasses:field", "time"]
    parts = []
    for template in chosen:
        code, needs = template(rng, entity)
        parts.append(code)
        imports += needs
    uses_log = "logging" in imports
    head = f'"""{doc}"""\n\nfrom __future__ import annotations\n\n{_render_imports(imports)}\n'
    if uses_log:
        head += "\nlog = logging.getLogger(__name__)\n"
    upper = entity.noun.upper()
    head += f"\nDEFAULT_{upper}_{entity.i1.upper()} = {rng.choice([1, 4, 8, 30, 300, 3600])}\n"
    source = head + "\n\n" + entity.definition(rng) + "\n\n" + "\n\n".join(parts)
    names = [template.__name__ for template in chosen]
    return source, names


def _gen_tests(rng: random.Random, module: str, entity: _Entity, templates: list[str]) -> str | None:
    tests = []
    imported = [entity.cls]
    if "_t_validate" in templates:
        imported.append(f"validate_{entity.noun}")
        tests.append(
            f"def test_validate_{entity.noun}_flags_empty_{entity.s1}():\n"
            f"    assert \"{entity.s1} is empty\" in validate_{entity.noun}({entity.cls}({entity.s1}=\"\"))\n\n\n"
            f"def test_validate_{entity.noun}_accepts_minimal():\n"
            f"    assert validate_{entity.noun}({entity.cls}({entity.s1}=\"x\")) == []\n"
        )
    if "_t_summary" in templates:
        imported.append(f"summarise_{entity.plural}")
        a, b = rng.randrange(1, 50), rng.randrange(50, 500)
        tests.append(
            f"def test_summarise_{entity.plural}():\n"
            f"    items = [{entity.cls}(\"a\", {entity.i1}={a}), {entity.cls}(\"b\", {entity.i1}={b})]\n"
            f"    assert summarise_{entity.plural}(items) == {{\"count\": 2, \"total\": {a + b}, \"largest\": {b}}}\n"
        )
    if "_t_group" in templates:
        imported.append(f"group_{entity.plural}_by_{entity.s1}")
        tests.append(
            f"def test_group_{entity.plural}_keeps_order():\n"
            f"    items = [{entity.cls}(\"a\"), {entity.cls}(\"b\"), {entity.cls}(\"a\", {entity.i1}=2)]\n"
            f"    groups = group_{entity.plural}_by_{entity.s1}(items)\n"
            f"    assert [i.{entity.i1} for i in groups[\"a\"]] == [0, 2]\n"
        )
    if "_t_digest" in templates:
        imported.append(f"{entity.noun}_digest")
        tests.append(
            f"def test_{entity.noun}_digest_is_stable():\n"
            f"    item = {entity.cls}(\"{rng.choice(_NOUNS)}\")\n"
            f"    assert {entity.noun}_digest(item) == {entity.noun}_digest(item)\n"
        )
    if not tests:
        return None
    return f"from {module} import {', '.join(imported)}\n\n\n" + "\n\n".join(tests)


def _gen_repository(rng: random.Random, target_chars: int) -> list[tuple[str, str, _Entity]]:
    """(path, source, entity) of generated files until about `target_chars` of source."""
    files: list[tuple[str, str, _Entity]] = []
    used: list[str] = []
    total = 0
    while total < target_chars:
        area = rng.choice(_AREAS)
        noun = rng.choice(_NOUNS)
        adj = rng.choice(_ADJS) if rng.random() < 0.3 else None
        stem = f"{adj}_{_plural(noun)}" if adj else _plural(noun)
        path = f"src/harbor/{area}/{stem}.py"
        if path in used:
            continue
        used.append(path)
        entity = _Entity(rng, noun, adj)
        source, templates = _gen_module(rng, area, entity)
        files.append((path, source, entity))
        total += len(source)
        if rng.random() < 0.4:
            test = _gen_tests(rng, f"harbor.{area}.{stem}", entity, templates)
            if test is not None:
                files.append((f"tests/{area}/test_{stem}.py", test, entity))
                total += len(test)
    return files


_BIG_SYSTEM = (
    "You are a senior Python engineer reviewing a code base for a colleague. Be specific: name "
    "files and functions, quote the lines you mean, and separate facts you can see in the code "
    "from guesses. Keep answers under 400 words unless asked for more."
)


def _big_prompt(rng: random.Random) -> list[dict]:
    model = "qwen3-coder-30b-a3b-instruct"
    session = "ses_" + _hex(rng, 24)
    files = _gen_repository(rng, 232_000)
    tree = "\n".join(path for path, _, _ in files)
    dump = "\n\n".join(f"### {path}\n```python\n{source}```" for path, source, _ in files)
    modules = [(p, e) for p, _, e in files if p.startswith("src/")]
    caches = [(p, e) for p, s, e in files if p.startswith("src/") and f"class {e.cls}Cache" in s]
    cache_names = list(dict.fromkeys(f"`{e.cls}Cache`" for _, e in caches))
    retries = [(p, e) for p, s, e in files if p.startswith("src/") and "_with_retry(" in s]
    areas = sorted({p.split("/")[2] for p, _ in modules})

    turns = [
        (
            f"I'm about to paste the whole source of harbor, our container registry mirror "
            f"({len(modules)} modules, roughly 60k tokens). Anything you want me to leave out?",
            "Paste everything under src/ and tests/. Leave out lock files, vendored code and "
            "generated protobuf modules if there are any; they rarely matter for an architecture "
            "review and cost a lot of context.",
        ),
        (
            "Here is the repository. File list first, then every file.\n\n"
            + tree + "\n\n" + dump
            + "\n\nGive me an overview of the architecture and the three places you consider the "
            "riskiest.",
            f"harbor is organised by domain: {', '.join(areas)}. Each module is built around one "
            "dataclass (for example "
            + ", ".join(f"`{e.cls}` in {p}" for p, e in modules[:3])
            + ") plus free functions that filter, validate, merge or serialise lists of it. There "
            "is no central service layer; modules do not import each other, so the wiring must "
            "live outside this tree.\n\nRiskiest places:\n\n"
            f"1. The {len(caches)} LRU caches ("
            + ", ".join(cache_names[:3])
            + ", ...) mutate an `OrderedDict` in `get()` without a lock. Shared between threads, "
            "`move_to_end` and `popitem` can race.\n"
            f"2. The retry helpers ({', '.join(p for p, _ in retries[:2])}) double `delay` but "
            "never cap it or add jitter, so many clients that time out together retry together.\n"
            "3. The `*_from_dict` helpers silently drop unknown keys, so a renamed field in the "
            "upstream API turns into default values instead of an error.",
        ),
        (
            "Which of the caches would be safe to share between threads as they are?",
            "None of them. Even `get()` writes (`move_to_end`, the hit and miss counters), so "
            "concurrent readers race with each other, not only with writers. Wrap the body of "
            "`get` and `put` in a `threading.Lock`, or give each worker its own cache if the hit "
            "rate allows it.",
        ),
    ]
    clock = _Clock(rng, 5000, 60000)
    records = []
    prompt = _im("system", _BIG_SYSTEM)
    for user, output in turns:
        prompt += _im("user", user)
        records.append(_record(clock.next(), session, model, prompt + _IM_ASSISTANT, output))
        prompt += _im("assistant", output)
    return records
