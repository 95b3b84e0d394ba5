#!/usr/bin/env python3
"""Prints, as one JSON object, what an image weighs and where: its size, each layer
with the instruction that made it, and the share of the runtime base image.

Usage: measure.py IMAGE BASE
IMAGE is the built image, BASE its runtime base (the Dockerfile's last FROM). podman
must be on PATH and CONTAINERS_CONF set (scripts/images/lib.sh does both).
"""

import json
import re
import subprocess
import sys


def podman(*args: str):
    out = subprocess.run(["podman", *args], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def instruction(created_by: str) -> str:
    """`/bin/sh -c #(nop) COPY dir:<sha256> in /app/static` reads `COPY dir in /app/static`."""
    text = " ".join(created_by.split()).removeprefix("/bin/sh -c #(nop) ")
    return re.sub(r"\b(file|dir):[0-9a-f]{64}", r"\1", text)


def main() -> int:
    image, base = sys.argv[1:3]
    [inspected] = podman("image", "inspect", image)
    [base_inspected] = podman("image", "inspect", base)
    # Newest first, as `podman history` lists them; instructions that add no files
    # (ENV, USER, ...) have size 0 and are left out.
    layers = [
        {"bytes": layer["size"], "created_by": instruction(layer["CreatedBy"])}
        for layer in podman("history", "--format", "json", image)
        if layer["size"] > 0
    ]
    json.dump(
        {
            "image": image,
            "id": inspected["Id"][:12],
            "bytes": inspected["Size"],
            "base": base,
            "base_bytes": base_inspected["Size"],
            "layers": layers,
        },
        sys.stdout,
    )
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
