# syntax=docker/dockerfile:1
# The collector's image, which also runs hosiery-sim, hosiery-admin, hosiery-top and
# hosiery-report: the project installed from this repository's files into a slim Python, run as
# an unprivileged user.
FROM python:3.11.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN groupadd --system --gid 10001 hosiery \
    && useradd --system --uid 10001 --gid hosiery --home-dir /var/lib/hosiery --create-home \
       --shell /usr/sbin/nologin hosiery

WORKDIR /opt/hosiery
COPY pyproject.toml README.md constraints.txt ./
COPY contract/ contract/
COPY mqtt/ mqtt/
COPY influx/ influx/
COPY collector/ collector/
COPY simulators/ simulators/
COPY stack/ stack/
COPY admin/ admin/
COPY report/ report/
# The versions CI tested (constraints.txt, written by scripts/lock).
RUN pip install --no-compile -c constraints.txt . && rm -rf build ./*.egg-info

# The collector's state (accounting journal, snapshots, alert store) must survive the container.
ENV HOSIERY_STATE_DIR=/var/lib/hosiery/collector \
    HOSIERY_HTTP_HOST=0.0.0.0 \
    HOSIERY_LOG_FORMAT=json
VOLUME ["/var/lib/hosiery"]
WORKDIR /var/lib/hosiery
USER hosiery
EXPOSE 9108

HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as u; u.urlopen('http://127.0.0.1:' + os.environ.get('HOSIERY_HTTP_PORT', '9108') + '/healthz', timeout=4)"]

ENTRYPOINT ["hosiery-collector"]
