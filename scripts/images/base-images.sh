#!/usr/bin/env bash
# Local STAND-INS for the two base images the Dockerfile names, made on this machine
# because it cannot pull from any registry (the test machines reach only package
# registries). They are NOT the published images: they are assembled the way those
# images are, from the same Debian release, so that the repository's own Dockerfile
# builds unchanged, under the exact names it uses:
#
#   builder  rust:X.Y.Z-slim-SUITE   Debian SUITE (debootstrap --variant=minbase from the
#            machine's own Debian mirror) with gcc, libc6-dev and ca-certificates, plus
#            this machine's Rust toolchain (it must be version X.Y.Z) at the official
#            image's paths (RUSTUP_HOME=/usr/local/rustup, CARGO_HOME=/usr/local/cargo),
#            and this machine's TLS trust store, which the crate downloads inside the
#            build need to reach crates.io from here.
#   runtime  gcr.io/distroless/base-nossl-debianN:nonroot   the way distroless assembles
#            it: Debian's libc6, ca-certificates, tzdata, netbase and base-files unpacked
#            into an empty tree, /etc/passwd and /etc/group with nonroot (65532), /tmp,
#            no shell, no package manager, user 65532.
#
# Where Docker can pull, it uses the real images and this script is not needed.
# Idempotent: images made by the current version of this script (a label records a
# hash of its recipe) are kept, so a warm run does nothing. Needs root (podman's
# rootful storage) and debootstrap; scripts/images/build.sh installs both.
# DEBIAN_MIRROR overrides the mirror read from /etc/apt/sources.list{,.d}.
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=scripts/images/lib.sh
. scripts/images/lib.sh

say() { echo "==> base images: $*" >&2; }
die() { echo "base-images.sh: $*" >&2; exit 1; }

{ read -r BUILDER && read -r RUNTIME; } < <(dockerfile_bases) || die "Dockerfile has no FROM lines"
[[ "${BUILDER}" =~ ^rust:([0-9]+\.[0-9]+\.[0-9]+)-slim-([a-z]+)$ ]] ||
  die "the builder '${BUILDER}' is not rust:X.Y.Z-slim-SUITE; this script makes only that kind"
RUST_VERSION="${BASH_REMATCH[1]}"
SUITE="${BASH_REMATCH[2]}"
[[ "${RUNTIME}" =~ ^gcr\.io/distroless/base-nossl-debian([0-9]+):nonroot$ ]] ||
  die "the runtime '${RUNTIME}' is not gcr.io/distroless/base-nossl-debianN:nonroot"
case "${SUITE}:${BASH_REMATCH[1]}" in
  bookworm:12 | trixie:13 | forky:14) ;;
  *) die "builder (${SUITE}) and runtime (debian${BASH_REMATCH[1]}) are different Debian releases: the binary would run on another glibc than it was built against" ;;
esac

command -v rustc >/dev/null || die "rustc not found: the builder stand-in carries this machine's toolchain"
HOST_RUST="$(rustc --version | awk '{ print $2 }')"
[[ "${HOST_RUST}" == "${RUST_VERSION}" ]] ||
  die "the Dockerfile builds with Rust ${RUST_VERSION} but this machine has ${HOST_RUST}"
SYSROOT="$(readlink -f "$(rustc --print sysroot)")"
TRIPLE="$(rustc -vV | sed -n 's/^host: //p')"

# Docker's reading of a name: "rust:1.95" is docker.io/library/rust:1.95. podman would
# store an imported short name as localhost/rust, which a FROM line does not match.
qualified() {
  local first="${1%%/*}"
  if [[ "$1" != */* ]]; then
    echo "docker.io/library/$1"
  elif [[ "${first}" == *.* || "${first}" == *:* || "${first}" == localhost ]]; then
    echo "$1"
  else
    echo "docker.io/$1"
  fi
}
BUILDER="$(qualified "${BUILDER}")"
RUNTIME="$(qualified "${RUNTIME}")"

# What the stand-ins are made of. Rebuilding them invalidates podman's whole layer cache
# (a cold build), so only a change of content counts: bump RECIPE_VERSION when the way
# they are assembled changes; the names, the toolchain and the package list count by
# themselves.
RECIPE_VERSION=1
RUNTIME_PACKAGES=(base-files ca-certificates libc6 netbase tzdata)
RECIPE="$(printf '%s\n' "${RECIPE_VERSION}" "${BUILDER}" "${RUNTIME}" "${RUNTIME_PACKAGES[*]}" "$(rustc -vV)" |
  sha256sum | cut -c1-16)"
LABEL=org.employee-db.stand-in-recipe
recipe_of() { podman image inspect --format "{{ index .Labels \"${LABEL}\" }}" "$1" 2>/dev/null || true; }
if [[ "$(recipe_of "${BUILDER}")" == "${RECIPE}" && "$(recipe_of "${RUNTIME}")" == "${RECIPE}" ]]; then
  say "stand-ins for ${BUILDER} and ${RUNTIME} are up to date"
  exit 0
fi

# The machine's Debian archive: the first enabled source for its own release (deb822
# .sources files first, then one-line .list files). Read, never written down.
debian_mirror() {
  local codename files=()
  # shellcheck source=/dev/null
  codename="$(. /etc/os-release && [[ "${ID}" == debian ]] && echo "${VERSION_CODENAME}")" ||
    die "not a Debian machine: set DEBIAN_MIRROR to a Debian archive URL"
  shopt -s nullglob
  files=(/etc/apt/sources.list.d/*.sources)
  ((${#files[@]} == 0)) || awk -v release="${codename}" '
    BEGIN { RS = ""; FS = "\n" }
    {
      uris = ""; suites = ""; types = ""; enabled = "yes"
      for (i = 1; i <= NF; i++) {
        if ($i ~ /^[ \t]*#/ || index($i, ":") == 0) continue
        key = tolower(substr($i, 1, index($i, ":") - 1))
        value = substr($i, index($i, ":") + 1)
        if (key == "uris") uris = value
        else if (key == "suites") suites = value
        else if (key == "types") types = value
        else if (key == "enabled") enabled = value
      }
      if ((" " types " ") ~ / deb / && enabled !~ /no/ && (" " suites " ") ~ (" " release " ")) {
        split(uris, u, " "); print u[1]; exit
      }
    }' "${files[@]}"
  files=(/etc/apt/sources.list /etc/apt/sources.list.d/*.list)
  for f in "${files[@]}"; do
    [[ -f "${f}" ]] || continue
    awk -v release="${codename}" '
      $1 == "deb" {
        i = 2
        if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
        if ($(i + 1) == release) { print $i; exit }
      }' "${f}"
  done
}
MIRROR="${DEBIAN_MIRROR:-$(debian_mirror | head -n 1)}"
[[ -n "${MIRROR}" ]] || die "no Debian source found in /etc/apt: set DEBIAN_MIRROR"

# Replaced stand-ins are removed, unless an image built on them still needs them.
REPLACED=()
for image in "${BUILDER}" "${RUNTIME}"; do
  REPLACED+=("$(podman image inspect --format '{{.Id}}' "${image}" 2>/dev/null || true)")
done

WORK="$(mktemp -d "${TMPDIR:-/tmp}/employee-db-base-images.XXXXXX")"
trap 'rm -rf "${WORK}"' EXIT
ROOTFS="${WORK}/builder"
TREE="${WORK}/runtime"

# --- builder ---------------------------------------------------------------------------
say "debootstrap ${SUITE} (minbase + gcc, libc6-dev, ca-certificates) from the machine's Debian mirror"
debootstrap --variant=minbase --include=gcc,libc6-dev,ca-certificates \
  "${SUITE}" "${ROOTFS}" "${MIRROR}" >"${WORK}/debootstrap.log" 2>&1 ||
  { tail -n 30 "${WORK}/debootstrap.log" >&2; die "debootstrap failed"; }

# The runtime's packages, from the same release and mirror, fetched by the new tree's apt.
mkdir -p "${ROOTFS}/tmp/debs"
# Owned by apt's unprivileged download user, so apt need not fall back to root.
chroot "${ROOTFS}" sh -c "chown _apt /tmp/debs && cd /tmp/debs && apt-get download -qq ${RUNTIME_PACKAGES[*]}" ||
  die "apt-get download of the runtime packages failed"
mv "${ROOTFS}/tmp/debs" "${WORK}/debs"
# As the official slim images: no package lists or downloaded packages left behind.
rm -rf "${ROOTFS}"/var/lib/apt/lists/* "${ROOTFS}"/var/cache/apt/archives/*.deb

# Only this machine's trust store reaches the package registries from here.
install -m 0644 /etc/ssl/certs/ca-certificates.crt "${ROOTFS}/etc/ssl/certs/ca-certificates.crt"

say "copying this machine's Rust ${RUST_VERSION} (${SYSROOT}) to /usr/local/rustup"
TOOLCHAIN="${RUST_VERSION}-${TRIPLE}"
mkdir -p "${ROOTFS}/usr/local/rustup/toolchains/${TOOLCHAIN}" "${ROOTFS}/usr/local/cargo/bin"
# The HTML documentation is most of a toolchain's size and no build reads it.
tar -C "${SYSROOT}" --exclude=./share/doc -c . | tar -C "${ROOTFS}/usr/local/rustup/toolchains/${TOOLCHAIN}" -x
printf 'version = "12"\ndefault_toolchain = "%s"\nprofile = "minimal"\n' "${TOOLCHAIN}" \
  >"${ROOTFS}/usr/local/rustup/settings.toml"
# rustup's proxies, as rustup-init leaves them in the official image; without rustup,
# links straight into the toolchain behave the same for a build.
if RUSTUP="$(command -v rustup)"; then
  install -m 0755 "$(readlink -f "${RUSTUP}")" "${ROOTFS}/usr/local/cargo/bin/rustup"
  for tool in cargo rustc rustdoc rust-gdb rust-lldb cargo-clippy clippy-driver rustfmt cargo-fmt; do
    ln -s rustup "${ROOTFS}/usr/local/cargo/bin/${tool}"
  done
else
  for tool in "${ROOTFS}/usr/local/rustup/toolchains/${TOOLCHAIN}/bin/"*; do
    ln -s "/usr/local/rustup/toolchains/${TOOLCHAIN}/bin/${tool##*/}" "${ROOTFS}/usr/local/cargo/bin/"
  done
fi
chmod -R a+w "${ROOTFS}/usr/local/rustup" "${ROOTFS}/usr/local/cargo"

say "importing ${BUILDER}"
tar --numeric-owner -C "${ROOTFS}" -c . | podman import --quiet \
  --change "ENV RUSTUP_HOME=/usr/local/rustup" \
  --change "ENV CARGO_HOME=/usr/local/cargo" \
  --change "ENV PATH=/usr/local/cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
  --change "ENV RUST_VERSION=${RUST_VERSION}" \
  --change "LABEL ${LABEL}=${RECIPE}" \
  --change "LABEL org.employee-db.stand-in=\"local stand-in made by scripts/images/base-images.sh\"" \
  - "${BUILDER}" >/dev/null

# --- runtime ---------------------------------------------------------------------------
say "assembling ${RUNTIME} from ${RUNTIME_PACKAGES[*]}"
mkdir -p "${TREE}/var/lib/dpkg/status.d"
for deb in "${WORK}"/debs/*.deb; do
  dpkg-deb -x "${deb}" "${TREE}"
  # What distroless records, so image scanners see each package and its version.
  dpkg-deb -f "${deb}" >"${TREE}/var/lib/dpkg/status.d/$(dpkg-deb -f "${deb}" Package)"
done
# Merged /usr: the dynamic loader's path (/lib64 on amd64, /lib on arm64) is a link.
for dir in bin sbin lib lib64; do
  if [[ -d "${TREE}/usr/${dir}" && ! -e "${TREE}/${dir}" && ! -L "${TREE}/${dir}" ]]; then
    ln -s "usr/${dir}" "${TREE}/${dir}"
  fi
done
# No maintainer scripts run in an unpacked tree: make the bundle as update-ca-certificates would.
mkdir -p "${TREE}/etc/ssl/certs"
cat "${TREE}"/usr/share/ca-certificates/mozilla/*.crt >"${TREE}/etc/ssl/certs/ca-certificates.crt"
# Licences stay (as in distroless); manuals and packaging metadata go.
find "${TREE}/usr/share/doc" -type f ! -name copyright -delete
rm -rf "${TREE}/usr/share/man" "${TREE}/usr/share/info" "${TREE}/usr/share/lintian"
cat >"${TREE}/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin
nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin
EOF
cat >"${TREE}/etc/group" <<'EOF'
root:x:0:
tty:x:5:
staff:x:50:
nobody:x:65534:
nonroot:x:65532:
EOF
printf 'hosts: files dns\n' >"${TREE}/etc/nsswitch.conf"
install -d -m 0700 "${TREE}/root"
install -d -m 0700 -o 65532 -g 65532 "${TREE}/home/nonroot"
install -d -m 1777 "${TREE}/tmp"
for forbidden in bin/sh usr/bin/sh usr/bin/bash usr/bin/dpkg usr/bin/apt-get; do
  [[ ! -e "${TREE}/${forbidden}" ]] || die "the runtime tree has /${forbidden}"
done

say "importing ${RUNTIME}"
tar --numeric-owner -C "${TREE}" -c . | podman import --quiet \
  --change "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
  --change "ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt" \
  --change "USER 65532" \
  --change "WORKDIR /home/nonroot" \
  --change "LABEL ${LABEL}=${RECIPE}" \
  --change "LABEL org.employee-db.stand-in=\"local stand-in made by scripts/images/base-images.sh\"" \
  - "${RUNTIME}" >/dev/null
for image in "${BUILDER}" "${RUNTIME}"; do
  say "made ${image}: $(podman image inspect --format '{{.Size}}' "${image}") bytes"
done
for id in "${REPLACED[@]}"; do
  [[ -z "${id}" ]] || podman rmi "${id}" >/dev/null 2>&1 || true
done
