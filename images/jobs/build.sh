#!/bin/sh
# Build the job images PREFIX<job> from this directory's Dockerfile (one
# image per job, --build-arg JOB). The one way they are built:
#   - on the manager by role worker_images (its build-and-push script runs
#     this with PREFIX manager:5050/simplecloud/, then pushes);
#   - on this machine's engine by the integration tier's fixtures, with the
#     default PREFIX, when an image is missing.
# The base image (debian:bookworm-slim) must be on the engine (images/base.sh).
# Usage: images/jobs/build.sh [PREFIX [JOB...]]   (default: simplecloud/ light medium heavy)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
prefix=${1:-simplecloud/}
[ $# -gt 0 ] && shift
for job in ${*:-light medium heavy}; do
  docker build -q --build-arg JOB="$job" -t "${prefix}${job}" "$here" >/dev/null
  echo "jobs: built ${prefix}${job}"
done
