"""Headless output: `tracetui analyze`, `check` and `compare`, each fed by one core.result.TraceResult.

cli (command line: parsing, dispatch, errors) · analyze · check · compare · summary (header,
pools, the --each table) · requests (--per-request) · why (breakers, sessions, provider usage)
· engines (the cache engines' figures) · charts (plotext; the explorer's curves too) ·
document (the --json document) · matches (--log-matches) · output (table, csv, tsv, markdown,
json) · progress (loading, with a progress bar on stderr).
"""
