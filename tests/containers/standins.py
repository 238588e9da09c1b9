"""Local stand-ins for the base images the generated Dockerfiles name, which no registry here can serve.

`python:3.12-slim` and `public.ecr.aws/lambda/python:3.12` cannot be pulled on these machines, so the tests
build images with those very names, and the generated Dockerfiles build unchanged. Both start from one
Debian bookworm root made with `debootstrap --variant=minbase` and imported with `podman import`; the
recipes are in standin/. What differs from the real bases, and why the tests still prove the Dockerfiles:

- Python 3.11 (bookworm's python3), not 3.12, and wheels for 3.11. The Dockerfiles name no minor version
  but in FROM, and every requirement they install has wheels for both; the image runs the same code.
- `python`/`pip` are a venv's entry points over Debian's python3 (the real slim image has a Python built
  from source in /usr/local); a new venv gets pip 26.3, as the real Python's ensurepip gives a recent pip,
  and also setuptools, as 3.11's ensurepip does and 3.12's no longer does (counted in bench/images.py).
- `PIP_NO_INDEX=1` and `PIP_FIND_LINKS=/wheels` in the environment: pip installs only from the wheelhouse
  the tests download on the host and mount into each build (wheelhouse.py), so no build reaches a network;
  the torch step's `--index-url` is then not consulted, and torch comes from the wheelhouse too.
- apt's only source is a local file repository (/var/local/debs) of the Debian packages deploygen's
  Dockerfiles install (frameworks.yaml, `system_libraries`), downloaded from Debian when the root is made.
- Lambda: Debian, not Amazon Linux 2023, so `dnf` is a shim that installs the Debian package mapped from
  the Amazon Linux name (libgomp -> libgomp1, the same GNU OpenMP runtime) from that local repository; the
  entry point runs awslambdaric with the handler, as the real one does, but has no Runtime Interface
  Emulator: the tests serve the Lambda Runtime API themselves (runtime_api.py).

Cached in podman's storage: every stand-in carries the hash of its recipe in a label, and a changed recipe
(this file, standin/, the package map) builds them again.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import yaml

from . import podman, wheelhouse

RECIPE = Path(__file__).resolve().parent / "standin"
SUITE, MIRROR = "bookworm", "http://deb.debian.org/debian"
PIP, AWSLAMBDARIC = "pip==26.3", "awslambdaric==4.2.2"
PYTHON = json.loads((podman.REPO / "templates" / "lambda" / "cookiecutter.json").read_text())["python_version"]
SLIM = f"docker.io/library/python:{PYTHON}-slim"
LAMBDA = f"public.ecr.aws/lambda/python:{PYTHON}"
ROOT = "localhost/deploygen-standin-root"
LABEL = "dev.deploygen.standin"


def ensure() -> bool:
    """Build the stand-ins unless this recipe's are in podman's storage; True when they were built now."""
    key = recipe_key()
    if all(podman.label(image, LABEL) == key for image in (SLIM, LAMBDA)):
        return False
    wheels = wheelhouse.download(f"{PIP}\n{AWSLAMBDARIC}\n")
    root = f"{ROOT}:{key[:16]}"
    if podman.label(root, LABEL) != key:
        # Images built on an older recipe's stand-ins (they inherit its label) are stale: free their space.
        podman.podman("image", "prune", "--all", "--force", "--filter", f"label={LABEL}", check=False)
        import_root(root, key, wheels)
    context = podman.CACHE / "standin-context"
    shutil.rmtree(context, ignore_errors=True)
    shutil.copytree(RECIPE, context)
    (context / "dnf-packages").write_text(
        "# Amazon Linux package -> Debian package, for the stand-in dnf\n"
        + "".join(f"{names['amazon_linux']} {names['debian']}\n" for names in system_libraries()))
    for image, recipe in ((SLIM, "python-slim.Containerfile"), (LAMBDA, "lambda-python.Containerfile")):
        podman.build(context, image, "--file", str(context / recipe), "--build-arg", f"ROOT={root}",
                     "--build-arg", f"AWSLAMBDARIC={AWSLAMBDARIC}", "--label", f"{LABEL}={key}",
                     "--volume", f"{wheels}:/wheels:ro")
    return True


def recipe_key() -> str:
    digest = hashlib.sha256(Path(__file__).read_bytes())
    for path in sorted(RECIPE.iterdir()):
        digest.update(path.name.encode() + path.read_bytes())
    digest.update(json.dumps([SUITE, MIRROR, PIP, AWSLAMBDARIC, system_libraries()]).encode())
    return digest.hexdigest()


def system_libraries() -> list[dict[str, str]]:
    """What the generated Dockerfiles may install with apt-get or dnf: {debian, amazon_linux} names."""
    data = yaml.safe_load((podman.REPO / "generator" / "data" / "frameworks.yaml").read_text())
    return [data["system_libraries"][framework] for framework in sorted(data["system_libraries"])]


def import_root(tag: str, key: str, wheels: Path) -> None:
    """debootstrap a minimal bookworm with python3, give it its local apt repository, import it as `tag`."""
    rootfs = podman.CACHE / "rootfs"
    shutil.rmtree(rootfs, ignore_errors=True)
    run("debootstrap", "--variant=minbase", "--include=python3,python3-venv", SUITE, str(rootfs), MIRROR)
    archives = rootfs / "var" / "cache" / "apt" / "archives"
    for deb in archives.glob("*.deb"):  # debootstrap's own downloads: installed already
        deb.unlink()
    run("chroot", str(rootfs), "apt-get", "update", "-qq")
    debian = sorted({names["debian"] for names in system_libraries()})
    run("chroot", str(rootfs), "apt-get", "install", "-qq", "--download-only", "--yes", "--no-install-recommends",
        *debian)
    repository = rootfs / "var" / "local" / "debs"
    repository.mkdir(parents=True)
    for deb in archives.glob("*.deb"):
        deb.rename(repository / deb.name)
    packaged = {deb.name.split("_")[0] for deb in repository.glob("*.deb")}
    assert set(debian) <= packaged, f"apt downloaded {sorted(packaged)}, not all of {debian} (installed already?)"
    write_index(repository)
    (rootfs / "etc" / "apt" / "sources.list").write_text("deb [trusted=yes] file:/var/local/debs ./\n")
    for junk in ("var/lib/apt/lists", "var/cache/apt", "usr/share/doc", "usr/share/man", "usr/share/locale"):
        for path in (rootfs / junk).glob("*"):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
    # New venvs get this pip (Debian's ensurepip installs the wheels in /usr/share/python-wheels).
    bundled = rootfs / "usr" / "share" / "python-wheels"
    for old in bundled.glob("pip-*.whl"):
        old.unlink()
    shutil.copy(wheels / f"{PIP.replace('==', '-')}-py3-none-any.whl", bundled)
    archive = podman.CACHE / "rootfs.tar"
    run("tar", "--numeric-owner", "--xattrs", "-C", str(rootfs), "-cf", str(archive), ".")
    podman.podman("import", "--change", 'CMD ["bash"]', "--change", f"LABEL {LABEL}={key}", str(archive), tag)
    archive.unlink()
    shutil.rmtree(rootfs)


def write_index(repository: Path) -> None:
    """The Packages index of a flat apt repository: each .deb's control fields, file name, size and hash."""
    entries = []
    for deb in sorted(repository.glob("*.deb")):
        control = subprocess.run(["dpkg-deb", "--field", str(deb)], capture_output=True, text=True, check=True)
        data = deb.read_bytes()
        entries.append(f"{control.stdout.rstrip()}\nFilename: ./{deb.name}\nSize: {len(data)}\n"
                       f"SHA256: {hashlib.sha256(data).hexdigest()}\n")
    (repository / "Packages").write_text("\n".join(entries))


def run(*command: str) -> None:
    done = subprocess.run(command, capture_output=True, text=True, timeout=900, check=False)
    assert done.returncode == 0, f"{' '.join(command)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
