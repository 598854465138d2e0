# syntax=docker/dockerfile:1.7
# Spark steps: the base plus pyspark/dagster-pyspark and a Java 17 runtime. The JRE is copied from
# the pinned Temurin image (no apt, no build tools in the result). Steps are Spark *drivers*
# that connect to SPARK_MASTER; executors on the Spark cluster need the same Spark version.
ARG BASE_IMAGE=registry.example.org/data-platform/base@sha256:0000000000000000000000000000000000000000000000000000000000000000
ARG JRE_BASE=docker.io/library/eclipse-temurin:17.0.15_6-jre-jammy@sha256:0000000000000000000000000000000000000000000000000000000000000000

FROM ${JRE_BASE} AS jre

FROM ${BASE_IMAGE} AS build
USER root
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONPATH=/opt/platform:/opt/extras/lib/python3.11/site-packages
RUN mkdir -p /opt/extras && pip freeze > /tmp/base-constraints.txt \
 && pip install --prefix=/opt/extras -c /tmp/base-constraints.txt 'dagster-pyspark==0.29.27'

FROM ${BASE_IMAGE} AS runtime
COPY --from=jre /opt/java/openjdk /opt/java/openjdk
COPY --from=build /opt/extras /opt/extras
ENV JAVA_HOME=/opt/java/openjdk \
    PYTHONPATH=/opt/platform:/opt/extras/lib/python3.11/site-packages \
    PATH=/opt/extras/bin:/opt/java/openjdk/bin:/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    SPARK_LOCAL_DIRS=/tmp/spark
USER 10001:10001
