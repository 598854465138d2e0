# syntax=docker/dockerfile:1.7
# Orbital propagation: the base plus Dask distributed; also the image of the Dask scheduler and
# workers (same numpy/dask/distributed versions as the client, which Dask requires). The compiled
# kernel's numba comes with the base (a core dependency, so the code server computes the same code
# version as this image); NUMBA_CACHE_DIR gives it a writable place for its machine-code cache.
# Built FROM the pushed base image (by digest, from docker/images.json; build.sh passes it).
# Extra packages go to /opt/extras with the base's versions as constraints, so they never change
# what the base (and the code versions computed from it) already pins; the runtime stage adds
# only that layer on top of the unchanged base layers.
ARG BASE_IMAGE=registry.example.org/data-platform/base@sha256:0000000000000000000000000000000000000000000000000000000000000000

FROM ${BASE_IMAGE} AS build
USER root
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONPATH=/opt/platform:/opt/extras/lib/python3.11/site-packages
RUN mkdir -p /opt/extras && pip freeze > /tmp/base-constraints.txt \
 && pip install --prefix=/opt/extras -c /tmp/base-constraints.txt 'dask[distributed]' 'dagster-dask==0.29.27' bokeh \
 && python -m compileall -q /opt/extras

FROM ${BASE_IMAGE} AS runtime
COPY --from=build /opt/extras /opt/extras
ENV PYTHONPATH=/opt/platform:/opt/extras/lib/python3.11/site-packages \
    PATH=/opt/extras/bin:/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    NUMBA_CACHE_DIR=/tmp/numba-cache
USER 10001:10001
