"""`make compose-up`: `docker compose up -d`, once every image it needs is here or could be pulled.

Without access to a registry, `docker compose up` stops at Docker's own error (`lookup
registry-1.docker.io: no such host`), which names neither the variable that chose the image nor a
way out. This names both: for each image that is neither on this machine nor pullable, the
variable (`REDIS_IMAGE`, `POSTGRES_IMAGE`, `PYTHON_IMAGE`, `PROMETHEUS_IMAGE`) and the image
`make compose-test` builds from Debian's packages instead, and whether that one is here already.

    python3 docker/compose_up.py [COMPOSE OPTIONS] [-- UP OPTIONS]
    python3 docker/compose_up.py --profile demo --profile ops
    python3 docker/compose_up.py --env-file prod.env -- --build worker

Compose options (`--profile`, `--env-file`, `-p`) go to `docker compose`; what follows `--` goes
to `up` (default `-d`). `--check` checks the images and starts nothing. Standard library only.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The variables that choose an image, the service whose image it is (PYTHON_IMAGE: the base of
# the project's image, built when PUSHWORKER_IMAGE is not here), and make compose-test's stand-in.
IMAGES = {
    "REDIS_IMAGE": ("redis", "pushworker-local/redis:bookworm"),
    "POSTGRES_IMAGE": ("postgres", "pushworker-local/postgres:bookworm"),
    "PYTHON_IMAGE": ("web", "pushworker-local/python:bookworm"),
    "PROMETHEUS_IMAGE": ("prometheus", "pushworker-local/prometheus:bookworm"),
}


def _docker(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT, check=False
    )


def _present(image: str) -> bool:
    return _docker("image", "inspect", image, timeout=60).returncode == 0


def needed(compose: list[str]) -> dict[str, str]:
    """{variable: image} of the images ``docker compose up`` will need, as configured."""
    config = _docker("compose", *compose, "config", "--format", "json", timeout=120)
    if config.returncode != 0:  # a missing secret: compose names it, nothing to add here
        sys.exit(config.stderr.strip() or "docker compose config failed")
    services = json.loads(config.stdout)["services"]
    found = {}
    for variable, (service, _) in IMAGES.items():
        if service not in services:  # not in the chosen profiles
            continue
        if variable == "PYTHON_IMAGE":
            project_image = services[service].get("image", "")
            if project_image and _present(project_image):
                continue  # built already: its base is not needed
            found[variable] = services[service]["build"]["args"]["PYTHON_IMAGE"]
        else:
            found[variable] = services[service]["image"]
    return found


def problems(images: dict[str, str]) -> list[str]:
    """What to tell about each image that is neither here nor pullable."""
    told = []
    for variable, image in images.items():
        if _present(image):
            continue
        pulled = _docker("pull", "--quiet", image)
        if pulled.returncode == 0:
            continue
        error = (pulled.stderr.strip().splitlines() or ["no answer"])[-1]
        service, local = IMAGES[variable]
        service = "the base of PUSHWORKER_IMAGE" if variable == "PYTHON_IMAGE" else service
        here = (
            "built here already" if _present(local) else "run `make compose-test` once to build it"
        )
        told.append(
            f"cannot pull {image}, which {variable} names ({service}): {error}\n"
            f"  Without access to a registry, set {variable} (in .env) to an image this machine "
            f"has, such as {local} from Debian's packages ({here})."
        )
    return told


def main(argv: list[str]) -> int:
    check_only = "--check" in argv
    argv = [a for a in argv if a != "--check"]
    split = argv.index("--") if "--" in argv else len(argv)
    compose, up = argv[:split], argv[split + 1 :]
    told = problems(needed(compose))
    for text in told:
        print(f"compose-up: {text}", file=sys.stderr)
    if told:
        return 1
    if check_only:
        return 0
    return subprocess.run(
        ["docker", "compose", *compose, "up", *(up or ["-d"])], cwd=ROOT
    ).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
