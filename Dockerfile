# syntax=docker/dockerfile:1
# Multi-stage build: `--target app` (router + action server) and `--target rasa` (Rasa 3.6 server with the trained model).
# Run `make setup` before `docker build` (it builds var/demo, which the app image copies; the sentiment model is
# committed under router/sentiment/model).
ARG PYTHON=python:3.11-slim-bookworm

# ---------------------------------------------------------------- app dependencies
FROM ${PYTHON} AS app-deps
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /srv/kefu
RUN pip install --index-url https://download.pytorch.org/whl/cpu torch==2.13.0 || pip install torch==2.13.0
COPY pyproject.toml README.md ./
COPY knowledge_base/__init__.py knowledge_base/__init__.py
COPY actions/__init__.py actions/__init__.py
COPY router/__init__.py router/__init__.py
RUN pip install . && pip uninstall -y kefu

# ---------------------------------------------------------------- app image: router (default) or action server
FROM app-deps AS app
COPY knowledge_base knowledge_base
COPY actions actions
COPY router router
COPY bot bot
COPY var/demo var/demo
RUN pip install --no-deps . && kefu kb build
ENV KEFU_ROUTER_HOST=0.0.0.0 HF_HUB_OFFLINE=1
EXPOSE 8000 5055
# router: uvicorn router.app:create_service --factory; actions: python -m rasa_sdk --actions actions
CMD ["uvicorn", "router.app:create_service", "--factory", "--host", "0.0.0.0", "--port", "8000"]

# ---------------------------------------------------------------- rasa: train in the build, serve the model
FROM ${PYTHON} AS rasa
ENV PIP_NO_CACHE_DIR=1 RASA_TELEMETRY_ENABLED=false
WORKDIR /srv/kefu
COPY requirements/rasa.txt requirements/rasa-nodeps.txt requirements/
RUN pip install -r requirements/rasa.txt \
 && pip install --no-deps --ignore-requires-python -r requirements/rasa-nodeps.txt
# bot/config.yml names a component in knowledge_base/ (the USE featurizer): the project without its dependencies
COPY pyproject.toml README.md ./
COPY knowledge_base knowledge_base
RUN pip install --no-deps .
COPY bot bot
COPY nlu_data nlu_data
RUN cd bot && rasa train --config config.yml --domain domain.yml --data data ../nlu_data \
      --out /srv/kefu/models --fixed-model-name kefu
COPY scripts/rasa_server.py scripts/rasa_server.py
WORKDIR /srv/kefu/bot
EXPOSE 5005
CMD ["python", "../scripts/rasa_server.py", "run", "--enable-api", "--model", "/srv/kefu/models/kefu.tar.gz", "--endpoints", "endpoints.docker.yml", \
     "--credentials", "credentials.yml", "--port", "5005"]
