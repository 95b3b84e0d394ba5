#!/usr/bin/env bash
# Shared by the image scripts: podman with the project's settings, the Debian packages
# they need, and the base images the Dockerfile names (read from it, so they are
# written once).
# shellcheck source=scripts/checks/lib.sh
. scripts/checks/lib.sh

# podman reads this file instead of /etc/containers/containers.conf (see the file).
export CONTAINERS_CONF="${PWD}/scripts/images/containers.conf"

# podman and its runtime; slirp4netns lets a container reach services that the tests
# bind to the host's loopback only; debootstrap makes the base image stand-ins.
ensure_image_tools() {
  ensure_apt podman runc slirp4netns debootstrap
  if [[ $(id -u) -ne 0 ]]; then
    echo "the image steps run podman as root (rootful storage, networks and cache): run them as root" >&2
    return 1
  fi
}

# The builder is the first FROM, the runtime the last (flags such as --platform skipped).
dockerfile_bases() {
  awk 'toupper($1) == "FROM" { i = 2; while ($i ~ /^--/) i++; print $i }' Dockerfile | sed -n '1p;$p'
}
