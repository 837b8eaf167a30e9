#!/usr/bin/env bash
# Build the three job images simplecloud/light|medium|heavy on the local engine
# (the manager runs the same script through the worker_images role).
# Usage: images/build-jobs.sh [PREFIX]   e.g. PREFIX=manager:5050/simplecloud/
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
prefix=${1:-simplecloud/}
for job in light medium heavy; do
  docker build -q -t "${prefix}${job}" -f "$here/jobs/$job/Dockerfile" "$here/jobs" >/dev/null
  echo "jobs: built ${prefix}${job}"
done
