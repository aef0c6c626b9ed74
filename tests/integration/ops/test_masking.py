"""A masked copy: nothing that names a customer or a person survives, values keep their
distributions, secrets are gone, the audit chain verifies, and DC scores are recomputed."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import create_engine, func, select, text

from core.db import Database
from core.models import Brand, DCScore, Organization, Project, User
from core.ops.backup import RestoreRefused
from core.ops.masking import UNUSABLE_PASSWORD, mask
from core.security.audit import verify_chain
from core.security.passwords import verify_password
from tests.support import DEMO_PASSWORD


def _frame(url: str, sql: str) -> pd.DataFrame:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return pd.read_sql_query(text(sql), conn)
    finally:
        engine.dispose()


def _all_text(url: str) -> str:
    """Every value of every table as text, to search for anything that should not be there."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            from core.ops.manifest import table_names

            return "\n".join(str(row) for table in table_names(conn)
                             for row in conn.execute(text(f'SELECT * FROM "{table}"')))
    finally:
        engine.dispose()


def test_masked_copy_hides_names_keeps_distributions_and_drops_secrets(populated, fresh_url):
    db, _ = populated
    with db.session() as s:
        # Brand and organization names and e-mail addresses are distinctive; project and demo people's
        # names ("Audio", "Analyst") are ordinary words that the catalogue and role names also use.
        originals = (list(s.scalars(select(Brand.name))) + list(s.scalars(select(Organization.name)))
                     + list(s.scalars(select(User.email))))
        source_scores = s.scalar(select(func.count()).select_from(DCScore))
    assert originals and source_scores
    target = fresh_url()
    report = mask(db.url, target, seed=1)
    assert report.rows["metric_values"] > 100 and report.scores == source_scores

    dump = _all_text(target)
    leaked = [name for name in originals if name in dump]
    assert leaked == [], f"original names in the masked copy: {leaked[:5]}"
    assert "example.invalid" in dump

    before = _frame(db.url, "SELECT metric_id, brand_id, period, raw_value FROM metric_values")
    after = _frame(target, "SELECT metric_id, brand_id, period, raw_value FROM metric_values")
    assert len(before) == len(after)
    joined = before.merge(after, on=["metric_id", "brand_id", "period"], suffixes=("", "_masked"))
    assert len(joined) == len(before)
    assert (joined["raw_value"] != joined["raw_value_masked"]).mean() > 0.9, "values were perturbed"
    stats = joined.groupby("metric_id").agg(mean=("raw_value", "mean"), sd=("raw_value", "std"),
                                            mean_m=("raw_value_masked", "mean"), sd_m=("raw_value_masked", "std"))
    stats = stats[stats["sd"] > 0]
    assert np.allclose(stats["mean_m"], stats["mean"], rtol=0.03, atol=1e-9)
    assert np.allclose(stats["sd_m"], stats["sd"], rtol=0.10, atol=1e-9)
    spend_before = _frame(db.url, "SELECT channel_id, amount FROM spend").groupby("channel_id")["amount"]
    spend_after = _frame(target, "SELECT channel_id, amount FROM spend").groupby("channel_id")["amount"]
    if len(spend_before.mean()):
        assert np.allclose(spend_after.mean(), spend_before.mean(), rtol=0.03)
        assert np.allclose(spend_after.std(), spend_before.std(), rtol=0.10)

    copy = Database(target)
    try:
        with copy.session() as s:
            users = s.scalars(select(User)).all()
            assert all(u.password_hash == UNUSABLE_PASSWORD and not verify_password(DEMO_PASSWORD, u.password_hash)
                       for u in users)
            assert all(u.mfa_secret_encrypted is None and not u.mfa_enabled for u in users)
            assert all(u.name == f"User {u.id}" for u in users)
            assert all(p.name == f"Project {p.id}" for p in s.scalars(select(Project)))
            for table in ("user_sessions", "mfa_recovery_codes", "password_history", "account_tokens", "jobs"):
                assert s.scalar(text(f"SELECT count(*) FROM {table}")) == 0, table
            assert s.scalar(text("SELECT count(*) FROM audit_events WHERE personal::text NOT IN ('{}')"
                                 if copy.dialect == "postgresql" else
                                 "SELECT count(*) FROM audit_events WHERE personal != '{}'")) == 0
            last = s.execute(text("SELECT action FROM audit_events ORDER BY id DESC LIMIT 1")).scalar()
            assert last == "ops.masked_copy"
            s.add(Brand(organization_id=s.scalar(select(Organization.id).limit(1)), name="New on the copy"))
        assert verify_chain(copy).ok
    finally:
        copy.dispose()


def test_mask_refuses_a_non_empty_target(populated):
    db, _ = populated
    with pytest.raises(RestoreRefused, match="not empty"):
        mask(db.url, db.url)
