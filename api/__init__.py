"""HTTP endpoints outside the Dash pages: health checks now, the REST API later."""
