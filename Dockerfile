# One image for every pushworker process: worker, beat, Flower, emulator, migrations.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PUSHWORKER_HOME=/var/lib/pushworker
WORKDIR /app
COPY pyproject.toml README.md ./
COPY pushworker ./pushworker
RUN pip install --no-cache-dir '.[flower]' && useradd --system pushworker \
    && mkdir -p /var/lib/pushworker && chown pushworker /var/lib/pushworker
USER pushworker
WORKDIR /var/lib/pushworker
CMD ["pushworker", "check"]
