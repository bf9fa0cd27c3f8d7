"""two_sessions.jsonl: two interleaved sessions in plain `role: text` form."""

from __future__ import annotations

import random

from .common import _Clock, _record

_PLAIN_SYSTEM = (
    "You are a concise assistant for software engineers. Answer with working code when code is "
    "asked for, state the assumptions you made, and prefer standard tools that are installed "
    "everywhere over clever dependencies. When the user reports an error, explain its cause in "
    "one or two sentences before giving the fix. Do not repeat the question back. Use fenced "
    "code blocks with a language tag. If a command is destructive, say so."
)


def _session_a(rng: random.Random) -> list[tuple[str, str]]:
    """(user message, output) pairs; an empty output is followed by a retry of the same prompt."""
    months = rng.choice([6, 12])
    slow = rng.randrange(7, 15)
    rows = rng.randrange(20, 90)
    fast = rng.randrange(6, 19) / 10
    return [
        (
            "I have a Postgres table events(user_id bigint, kind text, created_at timestamptz). "
            f"How do I count monthly active users for the last {months} months?",
            "Count distinct users per calendar month:\n\n```sql\n"
            "SELECT date_trunc('month', created_at) AS month,\n"
            "       count(DISTINCT user_id)       AS active_users\n"
            "FROM events\n"
            f"WHERE created_at >= date_trunc('month', now()) - interval '{months - 1} months'\n"
            "GROUP BY 1\nORDER BY 1;\n```\n\n"
            f"The `WHERE` clause starts at the first day of the month {months - 1} months ago, so the "
            f"current (partial) month is included and you get {months} rows at most.",
        ),
        (
            "Months with no activity at all are missing from the result. I want them as 0.",
            "Generate the months and left-join the counts onto them:\n\n```sql\n"
            "WITH months AS (\n"
            "    SELECT generate_series(\n"
            f"        date_trunc('month', now()) - interval '{months - 1} months',\n"
            "        date_trunc('month', now()),\n"
            "        interval '1 month') AS month\n"
            ")\n"
            "SELECT m.month, count(DISTINCT e.user_id) AS active_users\n"
            "FROM months m\n"
            "LEFT JOIN events e\n"
            "       ON e.created_at >= m.month\n"
            "      AND e.created_at <  m.month + interval '1 month'\n"
            "GROUP BY m.month\nORDER BY m.month;\n```\n\n"
            "`count(DISTINCT e.user_id)` ignores the NULLs produced by the join, so empty months "
            "come out as 0.",
        ),
        (
            f"That takes {slow} seconds on {rows}M rows. EXPLAIN says Seq Scan on events.",
            "There is no index the range condition can use. Events are appended in time order, so "
            "a BRIN index is tiny and works well here:\n\n```sql\n"
            "CREATE INDEX CONCURRENTLY events_created_at_brin\n"
            "    ON events USING brin (created_at);\n```\n\n"
            "If rows are often inserted out of order (backfills), use a regular B-tree on "
            "`created_at` instead; it is bigger but does not depend on physical order. Run "
            "`ANALYZE events;` afterwards.",
        ),
        (
            f"BRIN index created, now {fast} s. Can I also split the count into kind = 'purchase' "
            "and everything else in the same query?",
            "",
        ),
        (
            f"BRIN index created, now {fast} s. Can I also split the count into kind = 'purchase' "
            "and everything else in the same query?",
            "Yes, with aggregate `FILTER` clauses:\n\n```sql\n"
            "SELECT m.month,\n"
            "       count(DISTINCT e.user_id) FILTER (WHERE e.kind = 'purchase')  AS buyers,\n"
            "       count(DISTINCT e.user_id) FILTER (WHERE e.kind <> 'purchase') AS others\n"
            "FROM months m\n"
            "LEFT JOIN events e\n"
            "       ON e.created_at >= m.month\n"
            "      AND e.created_at <  m.month + interval '1 month'\n"
            "GROUP BY m.month\nORDER BY m.month;\n```\n\n"
            "A user who did both in a month is counted in both columns; if you want them only in "
            "`buyers`, compute the others as a set difference instead.",
        ),
        (
            "How do I turn this into a materialized view that is refreshed every night?",
            "Wrap the query in a materialized view and schedule the refresh, for example with the "
            "pg_cron extension:\n\n```sql\n"
            "CREATE MATERIALIZED VIEW monthly_active AS\n"
            "    <the query above>;\n\n"
            "SELECT cron.schedule('refresh-mau', '15 3 * * *',\n"
            "                     'REFRESH MATERIALIZED VIEW CONCURRENTLY monthly_active');\n```\n\n"
            "Without pg_cron, a crontab line calling `psql -c 'REFRESH MATERIALIZED VIEW ...'` "
            "does the same.",
        ),
        (
            "The refresh fails: ERROR:  cannot refresh materialized view \"public.monthly_active\" "
            "concurrently. HINT: Create a unique index with no WHERE clause on one or more columns "
            "of the materialized view.",
            "`CONCURRENTLY` needs a way to match old and new rows, which is what the unique index "
            "provides. `month` is unique in this view:\n\n```sql\n"
            "CREATE UNIQUE INDEX monthly_active_month ON monthly_active (month);\n```\n\n"
            "The first refresh after creating it may still take a lock-free full pass; later ones "
            "only touch changed rows.",
        ),
        (
            "Last one: can the view also show month-over-month growth in percent?",
            "Add a window function over the ordered months:\n\n```sql\n"
            "SELECT month,\n"
            "       active_users,\n"
            "       round(100.0 * (active_users - lag(active_users) OVER w)\n"
            "             / nullif(lag(active_users) OVER w, 0), 1) AS growth_pct\n"
            "FROM monthly_active\n"
            "WINDOW w AS (ORDER BY month)\n"
            "ORDER BY month;\n```\n\n"
            "The first month has no predecessor and a month after a zero month would divide by "
            "zero; `nullif` turns both into NULL instead of an error.",
        ),
    ]


def _session_b(rng: random.Random) -> list[tuple[str, str]]:
    top = rng.choice([10, 15, 20])
    field = 9  # the status code in the combined log format
    rotations = rng.randrange(7, 31)
    line = rng.choice([13, 15])  # the zcat line or the head line of the script below
    threshold = rng.choice([50, 100, 200])
    return [
        (
            f"Bash one-liner to print the {top} most frequent IP addresses in access.log? The IP is "
            "the first field.",
            f"```bash\nawk '{{print $1}}' access.log | sort | uniq -c | sort -rn | head -n {top}\n```\n\n"
            "`uniq -c` only merges adjacent lines, hence the first `sort`.",
        ),
        (
            f"Only count requests that returned a 5xx status. The status code is field {field}.",
            f"Filter in awk before counting:\n\n```bash\n"
            f"awk '${field} ~ /^5[0-9][0-9]$/ {{print $1}}' access.log | sort | uniq -c | sort -rn | head -n {top}\n"
            "```",
        ),
        (
            f"The logs are rotated and compressed: access.log, access.log.1, access.log.2.gz up to "
            f"access.log.{rotations}.gz. Include all of them.",
            "`zcat -f` reads compressed and plain files alike:\n\n```bash\n"
            f"zcat -f access.log* | awk '${field} ~ /^5[0-9][0-9]$/ {{print $1}}' | sort | uniq -c | sort -rn | head -n {top}\n"
            "```",
        ),
        (
            "Make it a script that takes the log directory and N as arguments and prints a usage "
            "message when they are missing.",
            "```bash\n#!/usr/bin/env bash\n# top-errors.sh DIR N: the N IPs with the most 5xx responses.\n"
            "set -euo pipefail\n\n"
            "if [ $# -ne 2 ]; then\n"
            "    echo \"usage: $0 LOG_DIR N\" >&2\n"
            "    exit 2\n"
            "fi\n\n"
            "dir=$1\n"
            "n=$2\n\n"
            f"zcat -f $dir/access.log* \\\n    | awk '${field} ~ /^5[0-9][0-9]$/ {{print $1}}' \\\n"
            "    | sort | uniq -c | sort -rn | head -n $n\n```",
        ),
        (
            f"shellcheck says SC2086 (double quote to prevent globbing and word splitting) on line "
            f"{line}.",
            "",
        ),
        (
            f"shellcheck says SC2086 (double quote to prevent globbing and word splitting) on line "
            f"{line}.",
            "`$dir` and `$n` are unquoted, so a directory with a space in its name would be split "
            "into two words. Quote the variables but leave the glob outside the quotes so it still "
            "expands:\n\n```bash\n"
            f"zcat -f \"$dir\"/access.log* \\\n    | awk '${field} ~ /^5[0-9][0-9]$/ {{print $1}}' \\\n"
            "    | sort | uniq -c | sort -rn | head -n \"$n\"\n```",
        ),
        (
            f"Thanks. How do I run it every hour and get an email only when some IP has more than "
            f"{threshold} errors?",
            "Let the script print only offenders and rely on cron mailing any output:\n\n```bash\n"
            f"./top-errors.sh /var/log/nginx 50 | awk '$1 > {threshold}'\n```\n\n"
            "and in `crontab -e`:\n\n```\n"
            "MAILTO=ops@example.com\n"
            f"0 * * * * /usr/local/bin/top-errors.sh /var/log/nginx 50 | awk '$1 > {threshold}'\n```\n\n"
            "cron sends mail only when the command writes something, so quiet hours stay quiet.",
        ),
        (
            "How can I test the threshold part without waiting for real errors?",
            f"Feed it a fake log. This writes {threshold + 20} error lines for one address and 3 "
            "for another:\n\n"
            "```bash\ntmp=$(mktemp -d)\n"
            f"for i in $(seq {threshold + 20}); do\n"
            f"    echo '203.0.113.7 - - [01/Jan/2026:10:00:00 +0000] \"GET / HTTP/1.1\" 502 0' >> \"$tmp/access.log\"\n"
            "done\n"
            "for i in 1 2 3; do\n"
            f"    echo '198.51.100.4 - - [01/Jan/2026:10:00:01 +0000] \"GET / HTTP/1.1\" 503 0' >> \"$tmp/access.log\"\n"
            "done\n"
            f"./top-errors.sh \"$tmp\" 50 | awk '$1 > {threshold}'\n```\n\n"
            "Only 203.0.113.7 should be printed. Remove the directory afterwards.",
        ),
    ]


def _plain_session(system: str, turns: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """(input, output) for every request of an append-only plain-text session."""
    requests = []
    prompt = f"system: {system}"
    for user, output in turns:
        # An empty output leaves the history untouched, so the retry that follows it (same
        # user message) sends exactly the same prompt again.
        current = f"{prompt}\nuser: {user}\nassistant:"
        requests.append((current, output))
        if output:
            prompt = f"{current} {output}"
    return requests


def _two_sessions(rng: random.Random) -> list[dict]:
    model = "mistral-small-3.2-24b-instruct"
    queues = {
        "sess-a": _plain_session(_PLAIN_SYSTEM, _session_a(rng)),
        "sess-b": _plain_session(_PLAIN_SYSTEM, _session_b(rng)),
    }
    clock = _Clock(rng, 1500, 7000)
    order = ["sess-a", "sess-b"]
    records = []
    positions = {name: 0 for name in queues}
    while any(positions[n] < len(queues[n]) for n in order):
        open_ = [n for n in order if positions[n] < len(queues[n])]
        name = open_[0] if len(records) == 0 else rng.choice(open_)
        prompt, output = queues[name][positions[name]]
        positions[name] += 1
        records.append(_record(clock.next(), name, model, prompt, output))
    return records
