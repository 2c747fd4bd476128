#!/usr/bin/env bash
# Build the images and run the docker-compose topology (postgres, redis, rasa, actions, two routers, nginx), then
# drive through nginx the checks that matter at scale (scripts/compose_checks.py), and take it all down again.
#
#   scripts/compose_check.sh            local base image + docker-compose.local.yml (no registry needed)
#   KEFU_COMPOSE_PUBLIC=1 scripts/compose_check.sh   public base images (a machine that can pull them)
#   KEFU_COMPOSE_BAD_REDIS=1 ...        give router-b a wrong Redis URL: the check must fail (shows it can)
#
# Prints the time of each phase and the image sizes. Exit 0 only if every check passed.
set -euo pipefail
cd "$(dirname "$0")/.."
export DOCKER_BUILDKIT=1
DOCKER=${DOCKER:-$(command -v /usr/bin/docker || command -v docker)}
PROJECT=${KEFU_COMPOSE_PROJECT:-kefucheck}
BASE=kefu/python:3.11-bookworm
t0=$(date +%s); phase_t=$t0
phase() { local now; now=$(date +%s); printf '[compose-check] %-34s %4ds (total %4ds)\n' "$1" $((now - phase_t)) $((now - t0)); phase_t=$now; }

"$DOCKER" info >/dev/null 2>&1 || { echo "[compose-check] no Docker daemon answers" >&2; exit 3; }
command -v docker-compose >/dev/null || { echo "[compose-check] docker-compose is not installed" >&2; exit 3; }

secret_args=()
for ca in /etc/ssl/certs/ca-certificates.crt /etc/pki/tls/certs/ca-bundle.crt; do
  [ -s "$ca" ] && { secret_args=(--secret "id=pipcert,src=$ca"); break; }
done
files=(-f docker-compose.yml)
if [ "${KEFU_COMPOSE_PUBLIC:-0}" = 1 ]; then
  build_args=()
else
  bash scripts/local_base_image.sh "$BASE"
  build_args=(--build-arg "PYTHON=$BASE")
  files+=(-f docker-compose.local.yml)
fi
phase "base image"
"$DOCKER" build -q "${secret_args[@]}" "${build_args[@]}" --target app -t kefu-app:latest . >/dev/null
phase "image kefu-app"
"$DOCKER" build -q "${secret_args[@]}" "${build_args[@]}" --target rasa -t kefu-rasa:latest . >/dev/null
phase "image kefu-rasa"

export KEFU_ROUTER_SECRET_KEY=${KEFU_ROUTER_SECRET_KEY:-$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')}
export KEFU_ROUTER_RASA_TOKEN=${KEFU_ROUTER_RASA_TOKEN:-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')}
export KEFU_PROXY_PORT=${KEFU_PROXY_PORT:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')}
# docker-compose builds with the `docker` first on PATH: the same client as above (a newer CLI without the buildx
# plugin refuses DOCKER_BUILDKIT=1)
compose() { PATH="$(dirname "$DOCKER"):$PATH" docker-compose -p "$PROJECT" "${files[@]}" "$@"; }
cleanup() { compose down -v --remove-orphans >/dev/null 2>&1 || true; }
trap cleanup EXIT
if [ "${KEFU_COMPOSE_PUBLIC:-0}" != 1 ]; then
  compose build postgres redis proxy >/tmp/kefu-compose-build.log 2>&1 || { tail -30 /tmp/kefu-compose-build.log; exit 1; }
fi
phase "images postgres/redis/nginx"
compose up -d --no-build >/dev/null 2>&1 || { compose ps; compose logs --tail=40; exit 1; }
case ${KEFU_COMPOSE_BAD_REDIS:-0} in
  0) ;;
  db) bad_redis=redis://redis:6379/5 ;;  # a Redis that answers, but not the one the others share
  *) bad_redis=redis://redis:6390/0 ;;  # no Redis there
esac
if [ -n "${bad_redis:-}" ]; then  # router-b with a wrong Redis URL: this run must fail (shows that it can)
  echo "[compose-check] router-b gets KEFU_ROUTER_REDIS_URL=$bad_redis"
  compose stop router-b >/dev/null 2>&1
  compose rm -f router-b >/dev/null 2>&1
  KEFU_ROUTER_REDIS_URL_OVERRIDE=$bad_redis compose up -d --no-build --no-deps router-b >/dev/null 2>&1
fi
network="${PROJECT}_default"
echo "[compose-check] waiting for every service to be healthy"
ok=0
deadline=$(( $(date +%s) + ${KEFU_COMPOSE_HEALTH_S:-600} ))
while [ "$(date +%s)" -lt "$deadline" ]; do
  states=$(compose ps -q | xargs "$DOCKER" inspect -f '{{.Name}} {{if .State.Health}}{{.State.Health.Status}}{{else}}{{.State.Status}}{{end}} restarts={{.RestartCount}}')
  waiting=$(grep -v -E ' (healthy|running) ' <<<"$states" || true)
  if [ -z "$waiting" ]; then ok=1; break; fi
  # a crash on the way up (a start-up race, a service it cannot reach) fails at once, not after the deadline
  if grep -q -v ' restarts=0$' <<<"$states"; then break; fi
  sleep 5
done
restarted=$(grep -v ' restarts=0$' <<<"$states" || true)
if [ -n "$restarted" ]; then
  echo "[compose-check] crashed while starting:" >&2; sed 's/^/  /' <<<"$restarted" >&2
  for name in $(awk '{print $1}' <<<"$restarted"); do "$DOCKER" logs --tail=25 "${name#/}" 2>&1 | sed "s|^|  ${name#/}: |"; done
  exit 1
fi
if [ $ok != 1 ]; then
  echo "[compose-check] not healthy after ${KEFU_COMPOSE_HEALTH_S:-600} s:" >&2; sed 's/^/  /' <<<"$waiting" >&2
  compose logs --tail=30; exit 1
fi
phase "up and healthy"
# the first accounts of a new deployment, as a shop makes them (kefu user add; the password on standard input)
password=$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
kefu_user() { printf '%s\n' "$password" | compose exec -T router-a kefu user add --password-stdin "$@" >/dev/null; }
kefu_user editor --role content --display-name 内容小周
kefu_user zhao --role agent --display-name 小赵 --capacity 3 \
  --skill general=5 --skill after_sales=5 --skill logistics=5 --skill billing=5 --skill product=5 --skill vip=5
phase "accounts (kefu user add)"
# the driver runs in the app image on the compose network; the Docker socket lets it kill and restart a replica
"$DOCKER" run --rm --network "$network" -v "$PWD/scripts/compose_checks.py:/srv/check.py:ro" \
  -v /var/run/docker.sock:/var/run/docker.sock --group-add "$(stat -c %g /var/run/docker.sock)" \
  -e KEFU_PROXY=http://proxy:80 -e KEFU_REPLICAS=router-a,router-b -e KEFU_COMPOSE_PROJECT="$PROJECT" \
  -e KEFU_CHECK_AGENT=zhao -e KEFU_CHECK_EDITOR=editor -e KEFU_CHECK_PASSWORD="$password" \
  -e KEFU_CHECK_DB=postgresql://kefu:kefu@postgres:5432/kefu \
  kefu-app:latest python /srv/check.py && checks=0 || checks=$?
phase "checks through nginx"
"$DOCKER" image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep -E '^kefu' | sed 's/^/[compose-check] image /'
[ "$checks" = 0 ] || { echo "[compose-check] FAILED" >&2; compose logs --tail=40 router-a router-b; exit 1; }
cleanup; trap - EXIT
phase "down -v"
echo "[compose-check] passed"
