# syntax=docker/dockerfile:1
# The rollout-sentinel image: the package and its dependencies installed from wheels into a
# virtual environment, run as a non-root user. Build from the repository root:
#   docker build -t rollout-sentinel:0.1.0 .
ARG PYTHON_IMAGE=python:3.11-slim-bookworm
# The same Python with a C compiler: setup.py compiles the hot path with mypyc (docs/design.md,
# "Speed"); the runtime image gets the compiled modules and no compiler.
ARG BUILD_IMAGE=python:3.11-bookworm

FROM ${BUILD_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
# README.md* rather than README.md: the build still works in a tree without one.
COPY pyproject.toml setup.py README.md* ./
COPY sentinel ./sentinel
# The project's wheel (made as tests/deploy/test_dockerfile.py makes it), installed with its
# dependencies into a virtual environment that has no pip or setuptools of its own.
RUN python -m pip wheel --no-deps --wheel-dir /wheels . \
 && python -m venv --without-pip /opt/sentinel \
 && python -m pip --python /opt/sentinel/bin/python install /wheels/rollout_sentinel-*.whl

FROM ${PYTHON_IMAGE}
ENV PATH=/opt/sentinel/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN groupadd --system --gid 10001 sentinel \
 && useradd --system --uid 10001 --gid sentinel --home-dir /var/lib/sentinel --no-create-home sentinel \
 && install -d -o sentinel -g sentinel /var/lib/sentinel \
 && install -d /etc/sentinel
COPY --from=build /opt/sentinel /opt/sentinel
USER 10001:10001
WORKDIR /var/lib/sentinel
EXPOSE 9464
ENTRYPOINT ["sentinel", "run", "--config", "/etc/sentinel/config.yaml"]
