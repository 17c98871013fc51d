# The one image for web, worker and beat (docker-compose.yml picks the command).
FROM python:3.11-slim-bookworm

# bubblewrap: the function sandbox; python3 + python3-pil: the interpreter and Pillow inside it
# (sandboxes run Debian's /usr/bin/python3, see docs/functions.md).
RUN apt-get update \
    && apt-get install -y --no-install-recommends bubblewrap python3 python3-pil \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
# The locked dependency tree first (its own layer, rebuilt only when the lock changes), then baas
# itself without resolving again. requirements.lock includes the wsgi extra (granian), so both
# `baas serve` interfaces work in the image.
COPY requirements.lock ./
RUN pip install --no-cache-dir --require-hashes -r requirements.lock
COPY pyproject.toml README.md ./
COPY baas ./baas
COPY auth ./auth
COPY documents ./documents
COPY storage ./storage
COPY realtime ./realtime
COPY functions ./functions
COPY console ./console
COPY baas_runtime ./baas_runtime
COPY sdk/python ./sdk/python
RUN pip install --no-cache-dir --no-deps . ./sdk/python

RUN useradd --system --create-home baas
USER baas
ENV BAAS_DATA_DIR=/home/baas/data
EXPOSE 8000
CMD ["baas", "serve", "--host", "0.0.0.0", "--port", "8000"]
