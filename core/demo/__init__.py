"""The deterministic demo portfolio: `python -m core.demo`, or `seed_demo` / `ensure_demo`.

`catalogue` holds what never changes with the seed (sections, platforms, the 60 metrics,
channels, names), `generate` turns a seed into arrays (no database), `load` writes them.
"""

from core.demo.generate import Portfolio, generate_benchmark, generate_demo
from core.demo.load import DemoDataExists, DemoSummary, ensure_demo, seed_demo

__all__ = [
    "DemoDataExists",
    "DemoSummary",
    "Portfolio",
    "ensure_demo",
    "generate_benchmark",
    "generate_demo",
    "seed_demo",
]
