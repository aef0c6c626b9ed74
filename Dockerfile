# Digi-Cadence image: one image for web, worker, beat and the migration job (the command differs).
#   docker build -t digicadence .
#   docker run --env-file deploy/digicadence.env -p 8050:8050 digicadence
# Secrets (SECRET_KEY, DATABASE_URL, REDIS_URL, DIGICADENCE_FERNET_KEYS, METRICS_TOKEN) come from the
# environment at run time; nothing secret is baked into the image.

# ---- builder: every dependency as a wheel, with a compiler for any source-only package ----
FROM python:3.11-slim AS builder
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /build
COPY requirements.txt .
RUN pip wheel --wheel-dir /wheels -r requirements.txt

# ---- runtime: the wheels and the code, no compiler, a non-root user ----
FROM python:3.11-slim AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PORT=8050 \
    DIGICADENCE_INSTANCE_DIR=/app/instance \
    PROMETHEUS_MULTIPROC_DIR=/tmp/digicadence-metrics
RUN groupadd --system --gid 10001 digicadence \
    && useradd --system --uid 10001 --gid digicadence --home-dir /app --no-create-home \
       --shell /usr/sbin/nologin digicadence
WORKDIR /app
COPY --from=builder /wheels /wheels
COPY requirements.txt .
RUN pip install --no-index --find-links=/wheels -r requirements.txt && rm -rf /wheels
COPY --chown=root:root . .
RUN mkdir -p /app/instance /tmp/digicadence-metrics \
    && chown digicadence:digicadence /app/instance /tmp/digicadence-metrics
USER 10001:10001
EXPOSE 8050
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '8050'), timeout=4)"]
CMD ["gunicorn", "-c", "deploy/gunicorn.conf.py", "app:server"]
