# syntax=docker/dockerfile:1
# The etl_framework job image: ENTRYPOINT `pipeline`, run as a Kubernetes Job.
#
#   invoke make-docker-image            # builds with the right labels and pip settings
#   docker run --rm IMAGE 20240115 demo_orders truncate jobs/config/local.yaml
#
# Two stages: `builder` installs the package and its pinned dependencies
# (constraints.txt) into a virtualenv; the final stage copies only that virtualenv onto
# a clean base, so no compiler, pip cache or build tree reaches the image. It never
# contains credentials: keys are mounted at run time (see keyscredentials/README.md).
#
# pip settings (index, certificate) come from BuildKit/buildah secrets `pipconf` and
# `pipcert`, which never land in a layer; `invoke make-docker-image` passes the host's.
#
# The base image is pinned by digest (a tag moves; a digest is the exact bytes): both
# stages start from BASE_IMAGE. How to bump it: docs/deploy.md, "Base image".
# `invoke make-docker-image --base-image REF@sha256:...` overrides it for one build (the
# image test builds from the local stand-in script/setup/podman makes, by its digest).
# The digest below was taken from a public reference, not checked against Docker Hub
# (no registry was reachable where it was pinned): check it with the command in
# docs/deploy.md before the first release build; a wrong digest fails the pull loudly.

ARG BASE_IMAGE=docker.io/library/python:3.11-slim-bookworm@sha256:2e32f7d302adc1c37428355c1e646897c0c53f4fd60b6a551245fb90ee129f91

FROM ${BASE_IMAGE} AS builder
LABEL org.opencontainers.image.title="etl-framework-builder"

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

# binutils' strip only: debug symbols are a third of pyarrow's libraries.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends binutils \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /src
RUN python3 -m venv /opt/venv

COPY constraints.txt setup.py pyproject.toml ./
COPY etl_framework ./etl_framework
COPY jobs ./jobs

# The pod runs `pipeline` only: the kubernetes client (extra `k8s`, 125 MB) is for the
# machine that launches Jobs, not for the job image. Override with --build-arg EXTRAS=all.
ARG EXTRAS=postgres,gcs,bigquery,http
RUN --mount=type=secret,id=pipconf,required=false \
    --mount=type=secret,id=pipcert,required=false \
    if [ -s /run/secrets/pipconf ]; then export PIP_CONFIG_FILE=/run/secrets/pipconf; fi \
    && /opt/venv/bin/pip install --no-cache-dir --no-compile \
        --constraint constraints.txt ".[${EXTRAS}]" \
    && /opt/venv/bin/pip uninstall --yes pip setuptools

# Size (target <= 350 MB): drop test suites (SQLAlchemy's and alembic's `testing`
# packages too: pytest plugins, imported only by their dialects' test provisioning),
# C headers and the pyarrow parts no transfer loads (Flight, S3, the C++ test module);
# the wheel ships libarrow_python* as copies: make them links; strip debug symbols.
# Byte-code: the root filesystem is read-only in a pod, so Python cannot cache it there
# and compiles a module without it from source on every run (psycopg alone ~0.5 s, the
# cloud SDKs ~1 s). Precompiled are the packages a run loads lazily, in full, and every
# module importing the transfers' modules loads (etl_framework/deploy/bytecode.py;
# every package would add ~15 MB no run reads); tests/integration/container checks a
# run compiles nothing from source.
WORKDIR /opt/venv/lib/python3.11/site-packages
RUN find . -depth -type d \( -name tests -o -name test \) -exec rm -rf {} + \
    && rm -rf sqlalchemy/testing alembic/testing \
    && find . -depth -type d -name __pycache__ -exec rm -rf {} + \
    && if [ -d pyarrow ]; then \
        rm -rf pyarrow/include pyarrow/src pyarrow/libarrow_flight.so* \
            pyarrow/libarrow_python_flight.so* pyarrow/_flight.*.so pyarrow/flight.py \
            pyarrow/libarrow_s3.so* pyarrow/_s3fs.*.so pyarrow/_pyarrow_cpp_tests.*.so \
        && find pyarrow \( -name '*.pxd' -o -name '*.pyx' -o -name '*.pxi' -o -name '*.h' \) \
            -exec rm -f {} + \
        && for lib in libarrow_python libarrow_python_parquet_encryption; do \
            for real in pyarrow/"${lib}".so.*.*.*; do \
                [ -f "$real" ] || continue; \
                ln -sf "${real##*/}" "pyarrow/${lib}.so"; \
                ln -sf "${real##*/}" "${real%.*.*}"; \
            done; \
        done; \
    fi \
    && find . -name '*.so*' -type f -exec strip --strip-unneeded {} + \
    && /opt/venv/bin/python3 -m compileall -q -j 0 \
        etl_framework jobs click sqlalchemy pydantic pydantic_core alembic yaml \
    && /opt/venv/bin/python3 -m etl_framework.deploy.bytecode

FROM ${BASE_IMAGE}

ARG VERSION=0.0.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="etl-framework" \
      org.opencontainers.image.description="ETL transfers: pipeline EXECUTION_DATE TRANSFER truncate|delta CONFIG" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="proprietary"

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/app \
    ETL_CODE_VERSION=${VERSION}+${REVISION}

# A numeric non-root user (10001) with a passwd entry: libpq and getpass look it up.
RUN echo "etl:x:10001:10001:etl:/app:/usr/sbin/nologin" >> /etc/passwd \
    && echo "etl:x:10001:" >> /etc/group \
    && install -d -o 10001 -g 10001 -m 0755 /app /app/.etl

COPY --from=builder /opt/venv /opt/venv
WORKDIR /app
# Config examples and demo data, so relative paths like jobs/config/local.yaml work.
COPY --chown=10001:10001 jobs/config ./jobs/config
COPY --chown=10001:10001 jobs/data ./jobs/data

USER 10001:10001
ENTRYPOINT ["pipeline"]
CMD ["--help"]
