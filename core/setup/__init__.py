"""Setting up a portfolio: the first administrator, organizations, projects, brands, the metric
framework and channels, as a new customer brings them (issue 14).

One module per kind of object holds its service functions (each takes the acting principal,
authorizes, validates, audits); the pages, the REST API and the command line (`python -m core.setup`)
all call them, so a rule is written once.
"""
