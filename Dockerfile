# Threadline: slim image, non-root user, history in the /data volume, migrations at start.
FROM python:3.12-slim AS build
WORKDIR /src
COPY pyproject.toml README.md alembic.ini ./
COPY bot ./bot
COPY adapters ./adapters
COPY migrations ./migrations
RUN pip install --no-cache-dir --prefix=/install '.[all]'

FROM python:3.12-slim
COPY --from=build /install /usr/local
RUN useradd --create-home --uid 10001 threadline && mkdir /data && chown threadline /data
USER threadline
ENV THREADLINE_DATA_DIR=/data \
    METRICS_PORT=9100 \
    PYTHONUNBUFFERED=1
VOLUME /data
EXPOSE 8080 9100
# /readyz answers 200 while the database takes writes, every configured platform is connected
# and the process is not shutting down (compose.yaml uses the same check).
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9100/readyz', timeout=4)"]
# `run` applies pending migrations before it connects to any platform.
ENTRYPOINT ["threadline"]
CMD ["run"]
