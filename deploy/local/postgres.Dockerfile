# PostgreSQL 15 from Debian's packages on the local base (docker-compose.local.yml), for machines without a registry.
# Same contract as the public postgres image: POSTGRES_USER / POSTGRES_PASSWORD / POSTGRES_DB on first start.
ARG BASE=kefu/python:3.11-bookworm
FROM ${BASE}
RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql-15 \
 && rm -rf /var/lib/apt/lists/* && mkdir -p /var/lib/postgresql/data /run/postgresql \
 && chown -R postgres:postgres /var/lib/postgresql /run/postgresql
COPY postgres-entrypoint.sh /usr/local/bin/postgres-entrypoint.sh
ENV PGDATA=/var/lib/postgresql/data PATH=/usr/lib/postgresql/15/bin:$PATH
USER postgres
EXPOSE 5432
HEALTHCHECK --interval=5s --timeout=3s --retries=20 CMD pg_isready -h 127.0.0.1 -U "${POSTGRES_USER:-postgres}"
ENTRYPOINT ["/usr/local/bin/postgres-entrypoint.sh"]
