"""What the Dockerfile, .dockerignore and the sample background must keep promising.

The image is built and run for real by tests/api/container.rs (podman, on local
stand-ins for the base images); hadolint and checkov lint the Dockerfile
(scripts/checks/20-deploy.sh), and these tests pin down its structure where no build
is needed: a cached dependency layer, a pinned distroless non-root runtime, port 81, a
shell-free health check, no architecture written into it, and a build context without
secrets.
"""

import fnmatch
import re
import struct

from deploy_helpers import ROOT

LINES = []
for raw in (ROOT / "Dockerfile").read_text().replace("\\\n", " ").splitlines():
    if raw.strip() and not raw.lstrip().startswith("#"):
        LINES.append(raw.strip())
INSTRUCTIONS = [(line.split()[0].upper(), line.split(None, 1)[1]) for line in LINES]


def stages():
    """Instructions grouped by build stage."""
    groups = []
    for instruction, args in INSTRUCTIONS:
        if instruction == "FROM":
            groups.append([])
        groups[-1].append((instruction, args))
    return groups


def args_of(stage, instruction):
    return [args for name, args in stage if name == instruction]


def test_multi_stage_with_pinned_bases():
    bases = [args.split()[0] for args in args_of(sum(stages(), []), "FROM")]
    assert len(bases) == 2
    builder, runtime = bases
    assert re.fullmatch(r"rust:\d+\.\d+\.\d+-slim-(\w+)", builder), builder
    assert runtime.startswith("gcr.io/distroless/base-nossl-") and runtime.endswith(":nonroot"), runtime
    # The binary links against glibc and libgcc_s (copied from the builder): build on
    # the Debian release the runtime is.
    debian = {"bookworm": "debian12", "trixie": "debian13"}[builder.rsplit("-", 1)[1]]
    assert f"/base-nossl-{debian}:" in runtime


def test_dependencies_are_built_in_their_own_layer_before_the_code_is_copied():
    builder = stages()[0]
    copies = args_of(builder, "COPY")
    assert copies[0].split()[:2] == ["Cargo.toml", "Cargo.lock"]
    first_build = next(i for i, (name, args) in enumerate(builder) if name == "RUN" and "cargo build" in args)
    copy_src = next(i for i, (name, args) in enumerate(builder) if name == "COPY" and args.startswith("src"))
    assert first_build < copy_src
    for args in args_of(builder, "RUN"):
        if "cargo build" in args:
            assert "--release" in args and "--locked" in args


def test_runtime_runs_the_binary_as_non_root_on_port_81():
    runtime = stages()[-1]
    [user] = args_of(runtime, "USER")
    assert user.split(":")[0] not in ("0", "root")
    assert args_of(runtime, "EXPOSE") == ["81"]
    [entrypoint] = args_of(runtime, "ENTRYPOINT")
    assert entrypoint == '["/app/employee-db"]'
    assert any("PORT=81" in args for args in args_of(runtime, "ENV"))


def test_healthcheck_needs_no_shell():
    [healthcheck] = args_of(stages()[-1], "HEALTHCHECK")
    assert 'CMD ["/app/employee-db", "healthcheck"]' in healthcheck


def test_runtime_gets_the_one_library_it_lacks():
    """base-nossl has glibc but not libgcc_s, which every Rust binary on glibc links."""
    builder_runs = " ".join(args_of(stages()[0], "RUN"))
    assert "libgcc_s.so.1" in builder_runs and "dpkg-query --status libgcc-s1" in builder_runs
    assert "/runtime/ /" in args_of(stages()[-1], "COPY")[0]


def test_no_architecture_is_written_into_the_build():
    """CI builds linux/arm64 from the same file: library paths come from the compiler."""
    for instruction, args in INSTRUCTIONS:
        for arch in ("x86_64", "amd64", "aarch64", "arm64"):
            assert arch not in args, f"{instruction} {args}"
    assert '"$(gcc -dumpmachine)"' in " ".join(args_of(stages()[0], "RUN"))


def test_runtime_has_static_files_and_writable_dirs():
    runtime = stages()[-1]
    copies = args_of(runtime, "COPY")
    assert "static /app/static" in copies
    # Owned by 65532 for volumes, 1777 for a tmpfs over them (runc keeps the mode only).
    builder_runs = " ".join(args_of(stages()[0], "RUN"))
    assert "install -d -m 1777 -o 65532 -g 65532 /runtime/app/data /runtime/var/cache/employee-db" in builder_runs
    env = " ".join(args_of(runtime, "ENV"))
    assert "STATIC_DIR=/app/static" in env
    assert "BACKGROUND_CACHE_DIR=/var/cache/employee-db" in env


def dockerignore_patterns():
    return [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]


def in_context(path: str) -> bool:
    """Docker's rule: the last matching pattern wins; `!` re-includes."""
    included = True
    for pattern in dockerignore_patterns():
        negated = pattern.startswith("!")
        body = pattern.lstrip("!").rstrip("/")
        if fnmatch.fnmatch(path, body) or path.startswith(body + "/"):
            included = negated
    return included


def test_build_context_leaves_out_build_output_and_secrets():
    for path in ["target/release/employee-db", ".git/config", ".env", "data/employees.db",
                 "terraform/terraform.tfstate", "terraform/prod.tfvars", "k8s-manifests/secrets.example.yaml"]:
        assert not in_context(path), path


def test_build_context_holds_everything_the_dockerfile_copies():
    for stage in stages():
        for args in args_of(stage, "COPY"):
            if args.startswith("--from"):
                continue
            for source in args.split()[:-1]:
                assert in_context(source), source
    assert in_context("src/main.rs") and in_context("static/sample-background.jpg")


def jpeg_size(data: bytes) -> tuple[int, int]:
    """Width and height from a JPEG's start-of-frame segment."""
    assert data[:2] == b"\xff\xd8", "not a JPEG"
    i = 2
    while i < len(data):
        marker, length = data[i + 1], struct.unpack(">H", data[i + 2 : i + 4])[0]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height, width = struct.unpack(">HH", data[i + 5 : i + 9])
            return width, height
        i += 2 + length
    raise AssertionError("no frame header")


def test_sample_background_is_a_small_real_image():
    data = (ROOT / "static" / "sample-background.jpg").read_bytes()
    assert len(data) < 150 * 1024
    width, height = jpeg_size(data)
    assert width >= 1280 and height >= 720
