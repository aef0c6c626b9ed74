"""Where the public sample data sets live: shipped in the repository (data/samples/), so a clone tests alone."""

from __future__ import annotations

from pathlib import Path

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "samples"
ROBYN_WEEKLY = SAMPLES / "robyn_dt_simulated_weekly.csv"
MERIDIAN_NATIONAL = SAMPLES / "meridian_national_media.csv"
