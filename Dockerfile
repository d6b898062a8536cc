# fakeai as an image: `docker build -t fakeai-server .`, then
#   docker run -p 8000:8000 fakeai-server
#   docker run -p 8000:8000 -v "$PWD/scenarios:/scenarios:ro" fakeai-server \
#       --host 0.0.0.0 --port 8000 --state redis://valkey:6379/0 --scenario /scenarios/support-conversation.yaml
# Arguments after the image name replace CMD (fakeai's flags); FAKEAI_* variables set settings too.
# deploy/compose-replicas.yml and deploy/k8s/ run it; tests/test_deploy.py checks this file against fakeai.

# --- build: the wheel, and a virtualenv with it and its extras (the final stage copies only the venv) ---
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY fakeai ./fakeai
COPY spec ./spec
COPY fixtures ./fixtures
COPY scenarios ./scenarios
RUN pip wheel --no-deps --wheel-dir /dist . \
 && python -m venv /opt/venv \
 && /opt/venv/bin/pip install "$(ls /dist/fakeai_server-*.whl)[redis,speed]"

# --- runtime ---
FROM python:3.11-slim
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    FAKEAI_CACHE_DIR=/var/cache/fakeai \
    FAKEAI_HOST=0.0.0.0 \
    FAKEAI_PORT=8000
# a numeric user, so Kubernetes' runAsNonRoot can verify it without a runAsUser of its own
RUN groupadd --system --gid 10001 fakeai \
 && useradd --system --uid 10001 --gid fakeai --home-dir /home/fakeai --create-home fakeai \
 && mkdir -p /scenarios /var/cache/fakeai \
 && chown fakeai:fakeai /scenarios /var/cache/fakeai
COPY --from=build /opt/venv /opt/venv
USER 10001:10001
# compile the embedded OpenAI spec once here: FAKEAI_CACHE_DIR holds the result, so a container starts warm
# (~1 s less); a read-only or empty cache directory only costs that second back (fakeai.spec.load)
RUN python -c "from fakeai.spec.load import load_document; load_document()"
VOLUME ["/scenarios"]
EXPOSE 8000
# vLLM-style readiness probe, public even with --api-key; python because slim images have no curl. It asks
# FAKEAI_PORT: to serve on another port, set FAKEAI_PORT rather than --port
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('FAKEAI_PORT', '8000') + '/health', timeout=2)"]
ENTRYPOINT ["fakeai"]
CMD ["--host", "0.0.0.0", "--port", "8000"]
