FROM python:3.11-slim

# METRICS_LISTEN: /healthz (the HEALTHCHECK below asks it) and /metrics on port 9090 inside the container;
# nothing publishes the port. Set METRICS_LISTEN= (empty) to serve neither: the HEALTHCHECK then passes.
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    DATABASE_URL=sqlite:////data/atelier.db METRICS_LISTEN=0.0.0.0:9090

WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY adapters ./adapters
RUN pip install . && useradd --create-home --uid 10001 atelier && mkdir /data && chown atelier /data

USER atelier
VOLUME ["/data"]
# 8443: Telegram webhook mode; 8080: provider webhooks (APIFRAME). Neither is needed with long polling.
# 9090: /healthz and /metrics.
EXPOSE 8443 8080 9090
# Unhealthy when the store stops answering or a platform adapter has stopped (bot/health.py).
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 CMD ["python", "-m", "bot.probe"]
CMD ["atelier", "run"]
