"""Every `snapshots/<name>/` folder belongs to a test module `tests/<name>.py`.

syrupy reports unused snapshots only for the test modules that run; the SVGs of a deleted
or renamed module would otherwise stay in `snapshots/` forever.
"""

from __future__ import annotations

from .conftest import SNAPSHOTS
from .paths import REPO

TESTS = REPO / "tests"


def test_every_snapshot_folder_has_a_test_module():
    if not SNAPSHOTS.is_dir():
        return
    orphans = sorted(d.name for d in SNAPSHOTS.iterdir()
                     if d.is_dir() and not (TESTS / f"{d.name}.py").is_file())
    assert orphans == [], f"snapshot folders without a tests/<name>.py: {orphans}"


def test_snapshot_folders_hold_only_svgs():
    if not SNAPSHOTS.is_dir():
        return
    stray = sorted(str(p.relative_to(SNAPSHOTS)) for p in SNAPSHOTS.rglob("*")
                   if p.is_file() and p.suffix != ".svg")
    loose = sorted(p.name for p in SNAPSHOTS.iterdir() if p.is_file())
    assert stray == [] and loose == [], (stray, loose)
