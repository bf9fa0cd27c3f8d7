"""malformed.jsonl: Llama 3 prompts plus one recoverable line, one garbage line and one blank
line (see MALFORMED_*_LINE)."""

from __future__ import annotations

import random

from .common import _Clock, _dumps, _record

MALFORMED_RECOVERABLE_LINE = 5
"""1-based line of malformed.jsonl holding unescaped JSON in "input" (recoverable)."""
MALFORMED_BLANK_LINE = 8
"""1-based line of malformed.jsonl that is empty."""
MALFORMED_GARBAGE_LINE = 10
"""1-based line of malformed.jsonl that is truncated garbage (to be skipped)."""

_LLAMA_SYSTEM = (
    "Cutting Knowledge Date: December 2023\nToday Date: 01 Jan 2026\n\n"
    "You are a helpful assistant for Linux system administration. Prefer POSIX tools and bash. "
    "Point out anything that could lose data before the user runs it."
)


def _llama(role: str, content: str) -> str:
    return f"<|start_header_id|>{role}<|end_header_id|>\n\n{content}<|eot_id|>"


def _backup_script(src: str, dest: str, keep: int, *, full: bool) -> str:
    head = (
        "#!/usr/bin/env bash\n"
        f"# Daily snapshot of {src} into {dest}, keeping {keep} days.\n"
        "set -euo pipefail\n\n"
        f"SRC={src}/\n"
        f"DEST={dest}\n"
        f"KEEP={keep}\n"
        'TODAY=${BACKUP_DATE:-$(date +%F)}\n'
    )
    if not full:
        return head + (
            'LATEST=$(ls -1d "$DEST"/20* 2>/dev/null | tail -n 1 || true)\n\n'
            'rsync -a --delete ${LATEST:+--link-dest="$LATEST"} "$SRC" "$DEST/$TODAY"\n\n'
            'ls -1d "$DEST"/20* | head -n -"$KEEP" | xargs -r rm -rf --\n'
        )
    return head + (
        "LOG=/var/log/backup.log\n\n"
        'log() { printf \'%s %s\\n\' "$(date \'+%F %T\')" "$*" >> "$LOG"; }\n\n'
        f'if ! mountpoint -q {dest.rsplit("/", 1)[0] or "/"}; then\n'
        f'    log "backup disk not mounted, skipping"\n'
        "    exit 1\n"
        "fi\n\n"
        'LATEST=$(ls -1d "$DEST"/20* 2>/dev/null | tail -n 1 || true)\n'
        'log "starting snapshot $TODAY (link-dest: ${LATEST:-none})"\n\n'
        "set +e\n"
        'rsync -a --delete --exclude node_modules/ --exclude .venv/ \\\n'
        '    ${LATEST:+--link-dest="$LATEST"} "$SRC" "$DEST/$TODAY"\n'
        "status=$?\n"
        "set -e\n"
        'if [ "$status" -ne 0 ] && [ "$status" -ne 24 ]; then\n'
        '    log "rsync failed with status $status"\n'
        '    exit "$status"\n'
        "fi\n\n"
        'ls -1d "$DEST"/20* | head -n -"$KEEP" | xargs -r rm -rf --\n'
        'log "done"\n'
    )


def _malformed_good(rng: random.Random) -> list[tuple[str, str]]:
    src = rng.choice(["/home/dev/projects", "/srv/www", "/home/dev/work"])
    dest = rng.choice(["/mnt/backup/snapshots", "/media/usb1/backups"])
    keep = rng.choice([7, 10, 14])
    return [
        (
            f"Write a bash script that backs up {src} to {dest} with rsync and keeps {keep} daily "
            "snapshots, using hard links so unchanged files take no extra space.",
            "This uses `--link-dest`: files unchanged since the previous snapshot become hard links "
            "to it.\n\n```bash\n" + _backup_script(src, dest, keep, full=False) + "```\n\n"
            f"The last line deletes everything but the newest {keep} snapshots. It relies on the "
            "directory names sorting by date, which `date +%F` guarantees.",
        ),
        (
            "What happens if the backup disk is not mounted when cron runs it?",
            f"Then {dest} is just a directory on the root filesystem, and rsync happily fills it, "
            "possibly filling `/`. Check first:\n\n```bash\n"
            f"mountpoint -q {dest.rsplit('/', 1)[0]} || {{ echo 'backup disk not mounted' >&2; exit 1; }}\n```",
        ),
        (
            "Add logging to /var/log/backup.log with a timestamp on every line.",
            "A small function keeps it readable:\n\n```bash\nLOG=/var/log/backup.log\n"
            "log() { printf '%s %s\\n' \"$(date '+%F %T')\" \"$*\" >> \"$LOG\"; }\n\n"
            'log "starting snapshot $TODAY"\n```\n\nThe script needs write access to the log, so '
            "run it as root or create the file with the right owner first.",
        ),
        (
            "rsync sometimes exits with code 24. Is that a failure?",
            "Code 24 means some source files vanished while rsync was running (for example "
            "temporary files deleted by an editor or a build). The snapshot is otherwise "
            "complete, so it is usually safe to treat 24 like success and fail on anything else.",
        ),
        (
            "How do I exclude node_modules and .venv directories everywhere in the tree?",
            "Add `--exclude node_modules/ --exclude .venv/`. A pattern without a leading slash "
            "matches at any depth, and the trailing slash limits it to directories.",
        ),
        (
            "Can you show the final script in full?",
            "```bash\n" + _backup_script(src, dest, keep, full=True) + "```",
        ),
        (
            "How can I test the retention logic without waiting a week?",
            "The script reads `BACKUP_DATE` when it is set, so you can fake the days:\n\n```bash\n"
            f"for d in $(seq 1 {keep + 3}); do\n"
            "    BACKUP_DATE=2026-01-$(printf %02d \"$d\") ./backup.sh\n"
            "done\n"
            f"ls {dest}\n```\n\n"
            f"You should see only the last {keep} dates. Use a scratch DEST while testing.",
        ),
        ("Thanks, that works.", "Glad it works. Remember to try a restore once, too."),
    ]


def _malformed(rng: random.Random) -> list[str]:
    """Lines of malformed.jsonl (without line endings)."""
    model = "llama-3.1-8b-instruct"
    session = "m1"
    clock = _Clock(rng, 3000, 12000)
    turns = _malformed_good(rng)
    stamps = [clock.next() for _ in range(len(turns) + 1)]
    recoverable_stamp = stamps.pop(4)  # the recoverable line sits between good requests 3 and 4
    good = []
    prompt = "<|begin_of_text|>" + _llama("system", _LLAMA_SYSTEM)
    for (user, output), stamp in zip(turns, stamps):
        prompt += _llama("user", user)
        full = prompt + "<|start_header_id|>assistant<|end_header_id|>\n\n"
        good.append(_dumps(_record(stamp, session, model, full, output)))
        prompt += _llama("assistant", output)
    recoverable = (
        f'{{"timestamp": {recoverable_stamp}, "session_id": "{session}", "model": "{model}", '
        '"input": "{"messages":[{"role":"user","content":"ping"}],"max_tokens":1}", "output": "pong"}'
    )
    garbage = '{"timestamp": 17672256, "session_id": "m1", "input": "<|begin_of_text|><|start_header_id|>sys'
    lines = good[:4] + [recoverable] + good[4:6] + [""] + [good[6], garbage, good[7]]
    assert lines[MALFORMED_RECOVERABLE_LINE - 1] == recoverable
    assert lines[MALFORMED_BLANK_LINE - 1] == ""
    assert lines[MALFORMED_GARBAGE_LINE - 1] == garbage
    return lines
