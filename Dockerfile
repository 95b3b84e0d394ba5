# syntax=docker/dockerfile:1
#
# employee-db container image: build with `docker build -t employee-db .`
#
# Two stages. The builder compiles the dependencies first, in a layer of their own, from
# Cargo.toml and Cargo.lock alone, so editing the code re-runs only the last, short
# compile. The runtime is distroless "base-nossl" (glibc, CA certificates, time zones,
# no shell, no package manager) running as its non-root user 65532. TLS is rustls with
# aws-lc compiled into the binary, so OpenSSL (the "base" and "cc" variants) would be
# dead weight; the one other library the binary links, libgcc_s, is copied from the
# builder, which is the same Debian release. That keeps the image near 35 MB (a
# ~19 MB binary on a ~15 MB base) instead of ~45 MB on "cc".
#
# The tags are pinned to a toolchain release and a Debian release; add an @sha256 digest
# (and let Dependabot or Renovate move it) where byte-for-byte reproducible pulls matter.

FROM rust:1.95.0-slim-trixie AS builder
WORKDIR /build

# aws-lc-sys (TLS for the AWS SDK) and libsqlite3-sys compile C with the cc crate: the
# gcc that the slim image ships is all they need on x86_64 and aarch64 (no cmake).
COPY Cargo.toml Cargo.lock ./
RUN mkdir src \
 && printf 'fn main() {}\n' > src/main.rs \
 && touch src/lib.rs \
 && cargo build --release --locked \
 && rm -rf src

# The application itself: templates and migrations are compiled into the binary.
COPY src ./src
COPY templates ./templates
COPY migrations ./migrations
# The commit, for the app's build_info metric ("unknown" without it); declared here so
# a new commit does not rebuild the dependencies above.
ARG GIT_SHA
# touch: COPY keeps the files' old modification times, which cargo would take for
# "older than the placeholder build" and skip.
RUN touch src/main.rs src/lib.rs \
 && cargo build --release --locked

# What the runtime adds to the base: libgcc_s (with its package record, so image
# scanners see it) and the two empty folders the app writes to: the embedded SQLite
# file (used when DBHOST is unset) and the downloaded background image. They belong to
# user 65532, which a volume mounted there inherits, and are mode 1777 as /tmp is:
# runc gives a tmpfs mounted over a folder that folder's mode but root as owner, so a
# 0755 folder would be unwritable under compose's tmpfs. (In Kubernetes both are
# emptyDir volumes, since the root filesystem is read-only there.)
RUN triplet="$(gcc -dumpmachine)" \
 && install -D -m 0644 "/usr/lib/${triplet}/libgcc_s.so.1" "/runtime/usr/lib/${triplet}/libgcc_s.so.1" \
 && install -d /runtime/var/lib/dpkg/status.d \
 && install -d -m 1777 -o 65532 -g 65532 /runtime/app/data /runtime/var/cache/employee-db \
 && dpkg-query --status libgcc-s1 > /runtime/var/lib/dpkg/status.d/libgcc-s1

FROM gcr.io/distroless/base-nossl-debian13:nonroot
LABEL org.opencontainers.image.title="employee-db" \
      org.opencontainers.image.description="Employee database web app (Rust rewrite of the CLO835 Flask app)" \
      org.opencontainers.image.licenses="MIT"
WORKDIR /app
# Owners and modes come along: a COPY from a stage keeps them.
COPY --from=builder /runtime/ /
COPY --from=builder /build/target/release/employee-db /app/employee-db
COPY static /app/static
ENV PORT=81 \
    STATIC_DIR=/app/static \
    SQLITE_PATH=/app/data/employees.db \
    BACKGROUND_CACHE_DIR=/var/cache/employee-db
USER 65532:65532
# Port 81 as non-root: Docker sets net.ipv4.ip_unprivileged_port_start=0 in every
# container; the Kubernetes Deployment sets the same sysctl on the pod.
EXPOSE 81
# No shell or curl here: the binary checks its own /healthz.
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
  CMD ["/app/employee-db", "healthcheck"]
ENTRYPOINT ["/app/employee-db"]
