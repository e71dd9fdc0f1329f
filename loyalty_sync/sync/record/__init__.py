"""The record of a sync's progress: what a run writes about itself, and nothing else.

A sync leaves three kinds of bookkeeping, each in its own module over one model
(`model`, `outcome`):

- `runs`: the `sync_runs` row of each partition a run covers, opened `running`, ticked
  off pass by pass, closed `success`, `failed` or `abandoned`. Sync recency is judged by it.
- `checkpoints` and `generations`: where a pass over an org's programs stands, and which
  passes of an interrupted sync are already done, so a rerun resumes instead of redoing.
- `events`: the `api_events` log of every warning and error code met.

Each figure is counted once, where it happens: rows by the chunk that wrote them (the
checkpoint's `served`), calls by the client and attributed to partitions once
(`PassOutcome.calls_by_partition`), codes by the event log. The clock each timestamp
column holds is stated on the column in `warehouse/tables.py`.
"""
