"""Security alerts (issue 18 item 3): what the audit trail shows that a security contact should hear about.

Modules, each importing only those listed before it (nothing is re-exported here):
- detectors: the five detectors that read audit events (lockout burst, denial spike, new administrator,
  MFA or key reset, sign-in from a new network), each finding with a unique key, in plain words.
- chain: the audit chain's check, incremental at every pass and whole at least every few hours.
- delivery: the e-mails and webhook posts to the security contacts, each a durable row retried with backoff
  (core.subscriptions' SMTP settings, sending functions and backoff).
- run: the pass: a lease so one runs at a time, the cursor over the audit trail, storing findings once,
  the Prometheus counter, queueing and sending; called by the subscriptions' timer (embedded) or Celery beat.
- listing: the recent alerts an administrator sees on the Audit page, scoped by audit:read.
"""
