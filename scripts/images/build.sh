#!/usr/bin/env bash
# Builds the repository's Dockerfile with podman exactly as `docker build` would, on the
# local base-image stand-ins (scripts/images/base-images.sh), and tags it TAG (default
# employee-db:local). podman keeps its layer cache in its own storage between runs, so
# an unchanged tree rebuilds nothing and a code change re-runs only the last compile.
# Installs podman, runc, slirp4netns and debootstrap from Debian when missing.
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=scripts/images/lib.sh
. scripts/images/lib.sh

TAG="${1:-employee-db:local}"
ensure_image_tools
scripts/images/base-images.sh
echo "==> podman build -t ${TAG} (Dockerfile)" >&2
# --format docker: the OCI format has no HEALTHCHECK and podman would drop it.
# --pull=never: nothing can be pulled here; a missing base image must fail, not hang.
podman build --format docker --pull=never --layers --tag "${TAG}" --file Dockerfile . >&2
podman image inspect --format '{{.Id}}' "${TAG}"
