# One image for the whole deployment: the code location (its default command serves the
# definitions over gRPC), and, with another command, the webserver and the daemon. The
# project is installed as a package with the pinned versions of constraints.txt, and
# dagster.production.yaml is the instance of every process started from it.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DAGSTER_HOME=/opt/dagster/dagster_home

WORKDIR /opt/dagster/app

# The package first, so a change to the instance or workspace file rebuilds one layer only.
COPY pyproject.toml constraints.txt README.md ./
COPY loyalty_sync ./loyalty_sync
COPY capillary_simulator ./capillary_simulator
RUN pip install --no-cache-dir -c constraints.txt . \
    && useradd --create-home --uid 1000 --user-group dagster \
    && mkdir -p "$DAGSTER_HOME/storage" \
    && chown -R dagster "$DAGSTER_HOME"

COPY dagster.production.yaml "$DAGSTER_HOME/dagster.yaml"
COPY workspace.production.yaml ./

USER 1000

# The code location's gRPC port; the webserver (3000) runs from this image with another command.
EXPOSE 4000 3000

# A command, no entrypoint: docker-compose.yaml and the Helm chart give each process its whole
# command line.
CMD ["dagster", "code-server", "start", "-h", "0.0.0.0", "-p", "4000", "-m", "loyalty_sync.definitions", "--location-name", "loyalty_sync"]
