"""Operations: encrypted backups and verified restores, retention, masked copies, key rotation.

One module per concern; `python -m core.ops <command>` is the operator's entry point
(docs/OPERATIONS.md). Nothing here imports Flask or Dash.
"""
