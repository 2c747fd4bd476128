# nginx from Debian's packages on the local base (docker-compose.local.yml), for machines without a registry.
ARG BASE=kefu/python:3.11-bookworm
FROM ${BASE}
RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nginx-light \
 && rm -rf /var/lib/apt/lists/* /etc/nginx/sites-enabled/default \
 && ln -sf /dev/stdout /var/log/nginx/access.log && ln -sf /dev/stderr /var/log/nginx/error.log
EXPOSE 80
HEALTHCHECK --interval=5s --timeout=3s --retries=20 \
  CMD python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1/healthz', timeout=3)"
CMD ["nginx", "-g", "daemon off;"]
