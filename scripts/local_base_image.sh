#!/usr/bin/env bash
# Build a local Debian bookworm base image with Python 3.11 for machines that cannot pull public base images.
#
#   scripts/local_base_image.sh [TAG]        (default TAG: kefu/python:3.11-bookworm)
#
# debootstrap (minbase) from the Debian mirror apt already uses on this host, plus python3, venv and pip, imported with
# `docker import`. The image then serves as `--build-arg PYTHON=<TAG>` for the Dockerfile and as the base of the
# postgres/redis/nginx images of docker-compose.local.yml. Needs root, debootstrap and a running Docker daemon.
# Idempotent: an existing image of that tag is kept unless KEFU_REBUILD_BASE=1.
set -euo pipefail
TAG=${1:-kefu/python:3.11-bookworm}
if [ "${KEFU_REBUILD_BASE:-0}" != 1 ] && docker image inspect "$TAG" >/dev/null 2>&1; then
  echo "base image $TAG exists (KEFU_REBUILD_BASE=1 rebuilds it)"; exit 0
fi
command -v debootstrap >/dev/null || { apt-get update -qq && apt-get install -y -qq debootstrap; }
# the mirror apt uses here (deb822 or one-line sources), else Debian's default
MIRROR=$(grep -hoE 'https?://[^ ]+' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null \
  | grep -E '/debian/?$' | head -n1 || true)
MIRROR=${MIRROR:-http://deb.debian.org/debian}
ROOT=$(mktemp -d /tmp/kefu-base.XXXXXX)
trap 'rm -rf "$ROOT"' EXIT
start=$(date +%s)
debootstrap --variant=minbase --include=python3,python3-venv,python3-pip,ca-certificates bookworm "$ROOT" "$MIRROR" \
  >/tmp/kefu-debootstrap.log 2>&1 || { tail -20 /tmp/kefu-debootstrap.log; exit 1; }
# a slim image: no apt lists, docs or caches
chroot "$ROOT" apt-get clean
rm -rf "$ROOT"/var/lib/apt/lists/* "$ROOT"/usr/share/doc/* "$ROOT"/usr/share/man/* "$ROOT"/var/cache/*
# `python` and `pip` as on the public python images; pip may install system-wide inside images (PEP 668 marker off)
ln -sf python3 "$ROOT/usr/bin/python"
rm -f "$ROOT"/usr/lib/python3*/EXTERNALLY-MANAGED
printf '#!/bin/sh\nexec python3 -m pip "$@"\n' > "$ROOT/usr/local/bin/pip"; chmod +x "$ROOT/usr/local/bin/pip"
tar -C "$ROOT" -c . | docker import \
  -c 'ENV LANG=C.UTF-8 PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  -c 'CMD ["python3"]' - "$TAG" >/dev/null
echo "base image $TAG built in $(( $(date +%s) - start )) s ($(docker image inspect -f '{{.Size}}' "$TAG" | awk '{printf "%.0f MB", $1/1e6}'))"
