# Multi-stage build, self-sufficient (no `make setup` on the host first):
#   --target app    router and action server (one image, two commands), FAQ index and demo data built inside
#   --target rasa   Rasa 3.6 server; the model is trained inside the build
# The default base is the public Python image. A machine that cannot pull it builds a local one first
# (scripts/local_base_image.sh) and passes `--build-arg PYTHON=kefu/python:3.11-bookworm`.
# A proxy's CA bundle reaches pip at build time only, as a BuildKit secret (never in a layer):
#   DOCKER_BUILDKIT=1 docker build --secret id=pipcert,src=/etc/ssl/certs/ca-certificates.crt ...
ARG PYTHON=python:3.11-slim-bookworm

# ---------------------------------------------------------------- app dependencies (cached unless pyproject changes)
FROM ${PYTHON} AS app-deps
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /srv/kefu
COPY pyproject.toml README.md ./
COPY knowledge_base/__init__.py knowledge_base/__init__.py
COPY actions/__init__.py actions/__init__.py
COPY router/__init__.py router/__init__.py
COPY shop/__init__.py shop/__init__.py
RUN --mount=type=secret,id=pipcert,required=false --mount=type=cache,target=/root/.cache/pip \
    if [ -s /run/secrets/pipcert ]; then export PIP_CERT=/run/secrets/pipcert; fi; \
    pip install . && pip uninstall -y kefu

# ---------------------------------------------------------------- app image: router (default) or action server
FROM app-deps AS app
COPY knowledge_base knowledge_base
COPY actions actions
COPY router router
COPY shop shop
COPY bot bot
# the project itself editable, as `make run` has it: every entry point (uvicorn, `kefu`, rasa_sdk) imports the same
# /srv/kefu tree, so var/ (FAQ index builds, demo orders) is /srv/kefu/var, and the non-Python files the packages
# read (migrations, templates, corpus) are there too. Then the index of the seed corpus (a fresh database is seeded
# with the same entries, so the build is reused) and the demo shop's orders; the sentiment model ships in the
# repository (router/sentiment/model)
RUN --mount=type=secret,id=pipcert,required=false \
    if [ -s /run/secrets/pipcert ]; then export PIP_CERT=/run/secrets/pipcert; fi; \
    pip install -q --no-deps -e . \
 && useradd --system --uid 10001 --home-dir /srv/kefu kefu \
 && mkdir -p var && KEFU_KB_STORE=yaml kefu kb build && kefu demo seed --db var/demo/orders.db \
 && chown -R kefu:kefu var /tmp/jieba.cache
USER kefu
ENV HF_HUB_OFFLINE=1 KEFU_ROUTER_HOST=0.0.0.0
EXPOSE 8000 5055
HEALTHCHECK --interval=10s --timeout=4s --start-period=60s --retries=6 \
  CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=3)"
# router: uvicorn router.app:create_service --factory; actions: python -m rasa_sdk --actions actions
CMD ["uvicorn", "router.app:create_service", "--factory", "--host", "0.0.0.0", "--port", "8000"]

# ---------------------------------------------------------------- rasa dependencies, in a venv (some pins compile)
FROM ${PYTHON} AS rasa-deps
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends gcc libc6-dev \
      $( [ -f /usr/local/include/python3.11/Python.h ] || echo python3-dev ) >/dev/null \
 && rm -rf /var/lib/apt/lists/* && python -m venv /opt/rasa
COPY requirements/rasa.txt requirements/rasa-nodeps.txt /tmp/req/
RUN --mount=type=secret,id=pipcert,required=false --mount=type=cache,target=/root/.cache/pip \
    if [ -s /run/secrets/pipcert ]; then export PIP_CERT=/run/secrets/pipcert; fi; \
    /opt/rasa/bin/pip install -q --upgrade pip wheel \
 && /opt/rasa/bin/pip install -q -r /tmp/req/rasa.txt \
 && /opt/rasa/bin/pip install -q --no-deps --ignore-requires-python -r /tmp/req/rasa-nodeps.txt

# ---------------------------------------------------------------- rasa: train in the build, serve the model
FROM ${PYTHON} AS rasa
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 RASA_TELEMETRY_ENABLED=false \
    TF_CPP_MIN_LOG_LEVEL=2 PATH=/opt/rasa/bin:$PATH
COPY --from=rasa-deps /opt/rasa /opt/rasa
WORKDIR /srv/kefu
# bot/config.yml names a component in knowledge_base/ (the USE featurizer): its two modules and the package's lazy
# __init__ (the Makefile's NLU_CODE), so a change elsewhere in knowledge_base/ does not retrain the model
ENV PYTHONPATH=/srv/kefu
RUN useradd --system --uid 10001 --home-dir /srv/kefu kefu
COPY knowledge_base/__init__.py knowledge_base/embedder.py knowledge_base/rasa_featurizer.py knowledge_base/
COPY bot bot
COPY nlu_data nlu_data
RUN cd bot && rasa train --config config.yml --domain domain.yml --data data ../nlu_data \
      --out /srv/kefu/models --fixed-model-name kefu --num-threads 2 \
 && rm -rf /srv/kefu/bot/.rasa /tmp/* && chown -R kefu:kefu /srv/kefu/bot /srv/kefu/models
COPY scripts/rasa_server.py scripts/rasa_server.py
USER kefu
WORKDIR /srv/kefu/bot
EXPOSE 5005
HEALTHCHECK --interval=10s --timeout=4s --start-period=120s --retries=12 \
  CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:5005/', timeout=3)"
CMD ["python", "../scripts/rasa_server.py", "run", "--enable-api", "--model", "/srv/kefu/models/kefu.tar.gz", \
     "--endpoints", "endpoints.docker.yml", "--credentials", "credentials.yml", "--port", "5005"]
