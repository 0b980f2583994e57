# The citybot application image (hub, actions, bot, notifier, ingestion). The Rasa server uses the official
# rasa/rasa image instead (see docker-compose.yml).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app

COPY requirements/app.lock requirements/app.lock
RUN pip install --no-cache-dir -r requirements/app.lock

COPY pyproject.toml README.md ./
COPY citybot citybot
COPY hub hub
COPY hubapi hubapi
COPY hotline hotline
COPY nlu nlu
COPY actions actions
COPY bot bot
COPY data data
RUN pip install --no-cache-dir --no-deps -e . && useradd --system --home /app citybot && mkdir -p /app/var && chown citybot /app/var
USER citybot
ENTRYPOINT ["citybot"]
