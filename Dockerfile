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
    PYTHONUNBUFFERED=1
VOLUME /data
EXPOSE 8080
# `threadline db current` exits non-zero when the database is unreachable.
HEALTHCHECK --interval=60s --timeout=10s --start-period=30s \
  CMD ["threadline", "db", "current"]
# `run` applies pending migrations before it connects to any platform.
ENTRYPOINT ["threadline"]
CMD ["run"]
