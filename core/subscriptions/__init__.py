"""Report subscriptions (issue 18 items 1, 2, 4 and 5): a report sent on a cadence, by e-mail and/or webhook.

Modules, each importing only those listed before it (nothing is re-exported here):
- schedule: when a subscription is next due (cadence, hour, IANA time zone; DST-correct) and its period key.
- service: create, list, pause, delete one's subscriptions; the one-click unsubscribe; input checks.
- sending: the SMTP message and send, the Slack-compatible webhook POST (real network, with timeouts).
- alert_mail: the alert digest (a person's new alerts by e-mail and/or webhook): the choice, what goes in, the mail.
- delivery: one attempt of one delivery, run as the `report_delivery` job kind (core/jobs/delivery_kind.py)
  with the recipient's principal; retries with exponential backoff; the skip when access is gone.
- scheduler: `tick` queues due deliveries once per period and re-sends retries; the embedded timer and the
  Celery beat task both call it. The delivery log and Resend are `log`.
"""
