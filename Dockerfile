# One image for every pushworker process: migrate, web, worker, beat, Flower and the emulator.
# PYTHON_IMAGE: any image with Python 3.11+, its venv module and CA certificates (the official
# python:3.11-slim by default; the compose test substitutes one built from Debian's packages).
ARG PYTHON_IMAGE=python:3.11-slim
FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="pushworker"

# SSL_CERT_FILE: certifi-based clients (httpx to Xiaomi, pip) trust the system bundle, so a CA added
# below for a TLS-inspecting proxy is trusted by every client, as it is by the system's.
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    VIRTUAL_ENV=/opt/pushworker PATH=/opt/pushworker/bin:$PATH \
    PUSHWORKER_HOME=/var/lib/pushworker SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt

# Optional build input (docker/build-input/README.md): extra CA certificates and a pip.conf, for
# builds behind a proxy. Empty by default.
COPY docker/build-input/ /tmp/build-input/
RUN set -e; \
    if ls /tmp/build-input/*.crt >/dev/null 2>&1; then \
        cp /tmp/build-input/*.crt /usr/local/share/ca-certificates/ && update-ca-certificates; \
    fi; \
    if [ -f /tmp/build-input/pip.conf ]; then cp /tmp/build-input/pip.conf /etc/pip.conf; fi; \
    rm -rf /tmp/build-input; \
    python3 -m venv "$VIRTUAL_ENV"

# Dependencies first, in their own layer, so a code change does not reinstall them: from the hashed
# lock file when there is one, else the ranges pyproject.toml declares (with the Flower extra).
WORKDIR /src
COPY pyproject.toml requirements.lock* ./
RUN set -e; export PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1; \
    if [ -f requirements.lock ]; then \
        pip install --require-hashes -r requirements.lock; \
    else \
        python3 -c 'import tomllib; p = tomllib.load(open("pyproject.toml", "rb"))["project"]; \
print("\n".join(p["dependencies"] + p["optional-dependencies"]["flower"]))' \
            >/tmp/requirements.txt; \
        pip install -r /tmp/requirements.txt; \
    fi

COPY README.md ./
COPY pushworker ./pushworker
COPY docker/container_env.py docker/healthcheck.py /opt/pushworker-docker/
# The .pth makes every Python process of the image (the service, its health check, a `docker compose
# exec` command) build the broker and database URLs from their parts the same way.
RUN set -e; export PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1; \
    pip install --no-deps . && rm -rf /src/build; \
    site=$(python3 -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])'); \
    cp /opt/pushworker-docker/container_env.py "$site/"; \
    echo "import container_env" >"$site/pushworker-container.pth"; \
    pip check || { echo "requirements.lock does not match pyproject.toml" >&2; exit 1; }; \
    python3 -c 'import flower, pushworker' \
        || { echo "the image needs Flower: add it to requirements.lock" >&2; exit 1; }; \
    useradd --system --home-dir /var/lib/pushworker pushworker; \
    mkdir -p /var/lib/pushworker && chown pushworker /var/lib/pushworker

USER pushworker
WORKDIR /var/lib/pushworker
CMD ["pushworker", "check"]
