"""Long work that outlives a request, as durable Job rows on one queue (the page and the API alike).

Modules, each importing only those listed before it (tests/unit/test_import_graph.py keeps it so):
- records: the Job row as its owner sees it (get, list, latest, cancel, close) and JobReporter;
  the domain may import it (core.scenarios saves from a finished job).
- kinds: the registry of job kinds (validate, run, save); knows no kind in particular.
- delivery_kind: the "report_delivery" kind (one attempt at a subscription's delivery, core.subscriptions).
- fit_kind: the "fit" kind (a brand's response curves, kept as a fit version).
- builtin: the built-in kinds (optimization, recommendation, export_report); imports the domain.
- queue: QueueSettings and `submit` (validate, commit the row, dispatch).
- runner: `execute` (claim, heartbeat, exactly one result) and `sweep` (recover dead workers' jobs).
- tasks: the Celery app, its run and sweep tasks, the beat schedule.
- executor: the in-process LocalExecutor and `install`, which picks it or Celery at start-up.
- refit: `refit_after_import`, a fit job per brand whose spend or outcome an import changed.

Nothing is re-exported here, so importing one module never drags in the others.
"""
