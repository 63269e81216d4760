FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    DATABASE_URL=sqlite:////data/atelier.db

WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY adapters ./adapters
RUN pip install . && useradd --create-home --uid 10001 atelier && mkdir /data && chown atelier /data

USER atelier
VOLUME ["/data"]
# 8443: Telegram webhook mode; 8080: provider webhooks (APIFRAME). Neither is needed with long polling.
EXPOSE 8443 8080
CMD ["atelier", "run"]
