# Gateflow in a container: the web app on 0.0.0.0:8000, CPU torch by default. Needs BuildKit.
#
#   docker build -t gateflow .
#   docker run -p 8000:8000 gateflow                  # then open http://localhost:8000
#
# Build arguments
#   TORCH_SPEC       pip requirement for torch (default torch==2.13.0)
#   TORCH_INDEX_URL  where torch comes from (default PyTorch's CPU-only index). For CUDA, e.g.
#                    --build-arg TORCH_INDEX_URL=https://download.pytorch.org/whl/cu126, then run with
#                    --gpus all -e GATEFLOW_DEVICE=cuda. An empty value means pip's usual index.
#   SLIM_TORCH       1 (default) drops torch's C++ tests and headers, strips its libraries; 0 keeps all
#   BASE_IMAGE       a Debian bookworm image (default debian:bookworm-slim)
#   WHEELS_IMAGE     an image whose root holds wheels that pip may use (find-links), for builds
#                    without PyPI/PyTorch access to torch; only the builder stage sees it.
# Build secret
#   cacert           a CA bundle for pip (networks that intercept TLS): --secret id=cacert,src=<file>.
#                    Mounted for the pip steps only, never stored in a layer.
# Run-time settings: GATEFLOW_* environment variables (see app/settings.py), e.g. -e GATEFLOW_PORT=9000
# together with -p 9000:9000, or -e GATEFLOW_MAX_SEQ_LEN=200.
# scripts/docker-smoke.sh builds this offline, runs it and checks it end to end (docs/docker.md).

ARG BASE_IMAGE=debian:bookworm-slim
ARG WHEELS_IMAGE=scratch

FROM ${WHEELS_IMAGE} AS wheels

# ---- builder: a venv in /opt/venv with torch and the runtime dependencies -------------------------
FROM ${BASE_IMAGE} AS builder
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 python3-venv binutils \
    && rm -rf /var/lib/apt/lists/* \
    && python3 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    PIP_PREFER_BINARY=1

ARG TORCH_SPEC="torch==2.13.0"
ARG TORCH_INDEX_URL="https://download.pytorch.org/whl/cpu"
RUN --mount=type=secret,id=cacert \
    --mount=type=bind,from=wheels,target=/wheels \
    set -eu; \
    if [ -s /run/secrets/cacert ]; then export PIP_CERT=/run/secrets/cacert; fi; \
    if [ -n "$(ls -A /wheels 2>/dev/null)" ]; then export PIP_FIND_LINKS=/wheels; fi; \
    pip install ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"} $TORCH_SPEC

# The other runtime dependencies, read from pyproject.toml (torch is already satisfied). Then drop what
# Gateflow never runs: pip itself, test suites, and with SLIM_TORCH=1 torch's C++ test programs and
# headers (the headers serve only C++ extensions and torch.compile) and its libraries' symbol tables
# (strip keeps the dynamic symbols): about 280 MB of the CPU build.
ARG SLIM_TORCH=1
COPY pyproject.toml /tmp/pyproject.toml
RUN --mount=type=secret,id=cacert \
    set -eu; \
    if [ -s /run/secrets/cacert ]; then export PIP_CERT=/run/secrets/cacert; fi; \
    python -c 'import tomllib; print("\n".join(tomllib.load(open("/tmp/pyproject.toml", "rb"))["project"]["dependencies"]))' \
        > /tmp/requirements.txt; \
    pip install -r /tmp/requirements.txt; \
    pip uninstall -y -q pip setuptools; \
    if [ "$SLIM_TORCH" = 1 ]; then \
        (cd /opt/venv/lib/python3*/site-packages/torch && rm -rf test include bin/protoc* bin/test_* bin/*Test \
            && strip --strip-unneeded lib/*.so*); \
    fi; \
    find /opt/venv -depth -type d \( -name tests -o -name test \) -path '*/site-packages/*' \
        -not -path '*/site-packages/torch/*' -exec rm -rf {} +; \
    cd /tmp && python -c 'import torch, fastapi, uvicorn, plotly, numpy; torch.nn.LSTM(2, 3)(torch.zeros(4, 1, 2)); print("torch", torch.__version__)'

# ---- runtime: python3, the venv and the app; no compilers, no pip, no apt lists ------------------
FROM ${BASE_IMAGE}
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/* /var/log/apt/* /var/log/dpkg.log \
    && groupadd --gid 10001 gateflow \
    && useradd --uid 10001 --gid gateflow --no-log-init --create-home --home-dir /home/gateflow \
        --shell /usr/sbin/nologin gateflow

COPY --from=builder /opt/venv /opt/venv
WORKDIR /app
COPY app ./app
COPY models ./models
COPY templates ./templates
COPY static ./static
RUN python3 -m compileall -q /app

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    GATEFLOW_HOST=0.0.0.0 \
    GATEFLOW_PORT=8000

USER gateflow
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python3", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('GATEFLOW_PORT', '8000'), timeout=4)"]
# python -m app: the settings' host and port, and their WebSocket message limit given to uvicorn
CMD ["python3", "-m", "app"]

LABEL org.opencontainers.image.title="gateflow" \
      org.opencontainers.image.description="See how RNNs, LSTMs and GRUs remember and forget" \
      org.opencontainers.image.licenses="MIT"
