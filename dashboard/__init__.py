"""The Dash front end: shell, pages (one module each under pages/), shared components."""
