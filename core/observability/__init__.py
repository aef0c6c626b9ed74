"""What the running app tells its operators: Prometheus metrics and structured JSON logs.

`metrics` holds every metric and the small functions the rest of the code calls when something
worth counting happens (a job finishing, a failed sign-in, a pool checkout); `logs` holds the JSON
formatter and the request id; `web` wires both onto the Flask server and serves `/metrics`.
"""
