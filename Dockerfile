# One image for the Python deployables: `monitoring exporter | receiver | simulate | fake-services`.
# Built by docker-compose.yml; the command picks the deployable.
FROM python:3.11.10-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml README.md ./
COPY monitoring monitoring
COPY exporter exporter
COPY receiver receiver
COPY simulator simulator
RUN pip install . \
    && useradd --system --uid 10001 --home-dir /app monitoring \
    && mkdir -p /app/.cache /var/lib/monitoring \
    && chown monitoring /app/.cache /var/lib/monitoring

USER monitoring
ENTRYPOINT ["monitoring"]
CMD ["--help"]
