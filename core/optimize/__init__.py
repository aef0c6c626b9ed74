"""What-if engines: response curves, the budget allocator and the metric recommender.

Pure numpy/scipy; nothing here imports Flask, Dash or the database.
"""
