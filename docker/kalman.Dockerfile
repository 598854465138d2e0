# syntax=docker/dockerfile:1.7
# The Kalman program ONLY (programs/kalman, console script `kalman-enkf`): no Dagster, no
# platform code. PipesK8sClient runs it in its own pod; it reports back through its own Pipes
# messages. In production this is the team's .NET image; this Python one stands in for it.
ARG PYTHON_BASE=docker.io/library/python:3.11.13-slim-bookworm@sha256:0000000000000000000000000000000000000000000000000000000000000000

FROM ${PYTHON_BASE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
COPY programs/kalman /src/kalman
RUN python -m venv /opt/kalman && /opt/kalman/bin/pip install /src/kalman \
 && /opt/kalman/bin/python -m compileall -q /opt/kalman

FROM ${PYTHON_BASE} AS runtime
RUN groupadd --system --gid 10001 kalman \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin kalman
COPY --from=build /opt/kalman /opt/kalman
ENV PATH=/opt/kalman/bin:$PATH PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /tmp
USER 10001:10001
ENTRYPOINT ["kalman-enkf"]
CMD ["--help"]
