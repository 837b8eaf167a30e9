#!/usr/bin/env bash
# Build the container lab's machine image (simplecloud/host by default) from
# debian:bookworm-slim (images/base.sh makes it offline) with the machine
# deploy (deploy.py) through pyinfra's @docker connector.
#
# pyinfra's image mode (`@docker/IMAGE`) starts `IMAGE tail -f /dev/null`,
# then `docker commit`s it untagged, keeping `tail` as the command. So this
# script starts the build container itself (named simplecloud-build-*),
# hands its id to @docker (container mode: pyinfra changes it and leaves it
# running), and commits it with the machine's config and the tag
# (`docker commit --change` cannot set STOPSIGNAL: a one-line build on top does).
# The orchestrator's dependencies (make deps-wheels: their wheels and
# requirements.txt) are copied in for the deploy to install into its venv.
# Usage: images/machine/build-host.sh [TAG]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
tag=${1:-simplecloud/host}
pyinfra=${PYINFRA:-$here/../../.venv/bin/pyinfra}
deps=${SIMPLECLOUD_DEPS:-$here/../build/deps}
[ -f "$deps/requirements.txt" ] || { echo "host: no dependency wheels in $deps: run make deps-wheels" >&2; exit 1; }

cid=$(docker run -d --name "simplecloud-build-host-$$" debian:bookworm-slim tail -f /dev/null)
trap 'docker rm -f "$cid" >/dev/null' EXIT
docker cp -q "$deps" "$cid:/tmp/simplecloud-deps"
"$pyinfra" -y --data simplecloud_target=container "@docker/$cid" "$here/deploy.py"
docker commit \
  --change 'ENV container=docker' \
  --change 'CMD ["/sbin/init"]' \
  --change 'LABEL simplecloud.machine=container' \
  "$cid" "$tag" >/dev/null
printf 'FROM %s\nSTOPSIGNAL SIGRTMIN+3\n' "$tag" | docker build -q -t "$tag" - >/dev/null
echo "host: built $tag"
