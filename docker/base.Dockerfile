# syntax=docker/dockerfile:1.7
# The code location image: the Dagster gRPC code server, the run workers and the steps of light
# assets. Dependencies from pyproject.toml (core only); the project source is copied, not
# installed, so module paths (and therefore automatic code versions) match a checkout.
ARG PYTHON_BASE=docker.io/library/python:3.11.13-slim-bookworm@sha256:0000000000000000000000000000000000000000000000000000000000000000

FROM ${PYTHON_BASE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml','rb'))['project']['dependencies']))" > requirements.txt \
 && python -m venv /opt/venv \
 && /opt/venv/bin/pip install -r requirements.txt
COPY platform_assets /opt/platform/platform_assets
COPY resources /opt/platform/resources
COPY sensors /opt/platform/sensors
COPY programs /opt/platform/programs
RUN /opt/venv/bin/python -m compileall -q /opt/platform

FROM ${PYTHON_BASE} AS runtime
RUN groupadd --system --gid 10001 platform \
 && useradd --system --uid 10001 --gid 10001 --home-dir /opt/platform --no-create-home --shell /usr/sbin/nologin platform \
 && mkdir -p /opt/dagster/dagster_home && chown 10001:10001 /opt/dagster/dagster_home
COPY --from=build /opt/venv /opt/venv
COPY --from=build /opt/platform /opt/platform
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/opt/platform \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DAGSTER_HOME=/opt/dagster/dagster_home \
    PLATFORM_HOME=/tmp/platform \
    PLATFORM_ENV=k8s
WORKDIR /opt/platform
USER 10001:10001
EXPOSE 4000
CMD ["dagster", "api", "grpc", "-m", "platform_assets.definitions", "-a", "defs", "-h", "0.0.0.0", "-p", "4000"]
