# duban 督办 in a container: `duban serve` on a home kept in the volume /data.
#
#   docker build -t duban .
#   docker run --rm -it -v duban-home:/data duban init /data          # once: the home, then import & check:
#   docker run --rm -it -v duban-home:/data -v "$PWD":/in:ro duban import /in/通知.docx /in/名录.xlsx
#   docker run --rm -it -v duban-home:/data --env-file duban.env duban check
#   docker run -d --name duban --restart unless-stopped --stop-timeout 180 \
#          --env-file duban.env -v duban-home:/data duban               # the service
#
# duban.env holds the secrets (DUBAN_IMAP_PASSWORD=…, DUBAN_SMTP_PASSWORD=…); they never go in duban.toml.
# Not built on the development machine (it has no container engine): tests/test_dockerfile.py checks the
# COPY sources, the packages and that the command is a valid duban command; tests/test_packaging.py
# builds and runs the same wheel this file builds.

FROM python:3.11-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml setup.py MANIFEST.in README.md ./
COPY mailer/ mailer/
COPY templates/ templates/
COPY examples/ examples/
# The wheel carries the default templates and the examples (setup.py copies them into mailer/data/).
RUN pip wheel --no-cache-dir --no-deps -w /dist .

FROM python:3.11-slim-bookworm
# LibreOffice converts the notice to PDF and reads legacy .doc/.wps; Noto CJK renders the Chinese text;
# tini is PID 1: it forwards SIGTERM to duban and reaps the soffice.bin a killed conversion leaves behind.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libreoffice-writer-nogui fonts-noto-cjk tini \
    && rm -rf /var/lib/apt/lists/*
RUN useradd --system --create-home --home-dir /home/duban --shell /usr/sbin/nologin duban \
    && mkdir /data \
    && chown duban:duban /data
COPY --from=build /dist/ /tmp/dist/
# With the optional parts a bureau may switch on in duban.toml: the console ([web] listen), Microsoft 365
# (transport = "graph") and a PostgreSQL registry (registry_url).
RUN whl=$(ls /tmp/dist/*.whl) \
    && pip install --no-cache-dir "${whl}[web,graph,postgres]" \
    && rm -rf /tmp/dist
USER duban
# The token key (secret.key, made on first use) lives in the volume too: a new container must sign and
# recognise the same form tokens as the old one. Or set DUBAN_SECRET_KEY in duban.env.
ENV DUBAN_HOME=/data \
    XDG_CONFIG_HOME=/data/.config \
    PYTHONUNBUFFERED=1
WORKDIR /data
VOLUME ["/data"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/bin/tini", "--", "duban"]
CMD ["-v", "serve"]
