"""Giving native memory back (issue 13, item 9): the trim schedule, its setting and the gunicorn hook.

What the trim saves is measured by benchmarks/memory.py; these tests check behaviour: when the trim
runs, that the setting is read and validated in core.config, and that gunicorn's hooks drive it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from core.config import MALLOC_TRIM_EVERY_DEFAULT, PROJECT_ROOT, ConfigError, malloc_trim_every
from core.memory import MallocTrimmer, _libc_malloc_trim


def test_trims_after_every_nth_request_only():
    calls: list[int] = []
    trimmer = MallocTrimmer(3, trim=lambda pad: calls.append(pad) or 1)
    done = [trimmer.request_finished() for _ in range(7)]
    assert done == [False, False, True, False, False, True, False]
    assert calls == [0, 0] and trimmer.trims == 2 and trimmer.requests == 7


def test_zero_turns_trimming_off():
    calls: list[int] = []
    trimmer = MallocTrimmer(0, trim=lambda pad: calls.append(pad) or 1)
    assert not trimmer.active
    assert not any(trimmer.request_finished() for _ in range(500)) and calls == []


def test_a_negative_interval_is_refused():
    with pytest.raises(ValueError):
        MallocTrimmer(-1)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc_trim")
def test_glibc_trim_is_found_and_callable():
    trim = _libc_malloc_trim()
    assert trim is not None and trim(0) in (0, 1)
    assert MallocTrimmer(1).active


def test_setting_is_read_and_validated_in_config():
    assert malloc_trim_every({}) == MALLOC_TRIM_EVERY_DEFAULT > 0
    assert malloc_trim_every({"DIGICADENCE_MALLOC_TRIM_EVERY": "0"}) == 0
    assert malloc_trim_every({"DIGICADENCE_MALLOC_TRIM_EVERY": " 25 "}) == 25
    for bad in ("-5", "often"):
        with pytest.raises(ConfigError, match="DIGICADENCE_MALLOC_TRIM_EVERY"):
            malloc_trim_every({"DIGICADENCE_MALLOC_TRIM_EVERY": bad})


def _hooks_after(requests: int, every: str, tmp_path) -> dict:
    """Run gunicorn.conf.py's post_worker_init and `requests` post_request hooks on a stand-in worker."""
    code = ("import runpy, json, types; c = runpy.run_path('deploy/gunicorn.conf.py'); w = types.SimpleNamespace(); "
            f"c['post_worker_init'](w); [c['post_request'](w, None, {{}}, None) for _ in range({requests})]; "
            "t = w.malloc_trimmer; print(json.dumps({'every': t.every, 'trims': t.trims, 'requests': t.requests}))")
    environ = {k: v for k, v in os.environ.items() if k not in ("DIGICADENCE_MALLOC_TRIM_EVERY",)}
    result = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True,
                            env={**environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path),
                                 "DIGICADENCE_MALLOC_TRIM_EVERY": every})
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc_trim")
def test_gunicorn_hooks_trim_on_the_configured_schedule(tmp_path):
    assert _hooks_after(10, "4", tmp_path) == {"every": 4, "trims": 2, "requests": 10}
    assert _hooks_after(10, "0", tmp_path) == {"every": 0, "trims": 0, "requests": 0}
