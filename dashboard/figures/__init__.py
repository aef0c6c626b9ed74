"""Figure and table builders for the pages: pure functions from read-model data to Plotly dicts.

`common` holds the dict-figure helpers every chart uses; one module per page holds that page's
builders, so a page module keeps only its layout and callbacks and a chart can be tested without a
request, a database or a Dash app.
"""
