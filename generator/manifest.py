"""The manifest of files deploygen wrote into a project, with the hash of each as written.

It is how a later render knows which bytes are its own: a file whose hash
still matches was not edited and may be replaced; any other file is the
user's and is never overwritten silently (cruft's .cruft.json plays this part).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

MANIFEST_PATH = ".deploygen/manifest.json"


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    return sha256_bytes(path.read_bytes())


@dataclass
class Manifest:
    target: str
    deploygen_version: str
    files: dict[str, str] = field(default_factory=dict)  # relative path -> sha256 as written
    user_owned: list[str] = field(default_factory=list)  # created once, never rewritten
    spec: dict | None = None  # the spec the files were rendered from: rebuilds them for a three-way merge

    def dumps(self) -> str:
        body = {
            "comment": "Written by deploygen: what it rendered and each file's hash. Do not edit.",
            "target": self.target,
            "deploygen_version": self.deploygen_version,
            "user_owned": sorted(self.user_owned),
            "files": dict(sorted(self.files.items())),
            "spec": self.spec,
        }
        return json.dumps(body, indent=2) + "\n"

    def write(self, project_dir: Path) -> None:
        path = project_dir / MANIFEST_PATH
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.dumps(), encoding="utf-8")


def read(project_dir: Path) -> Manifest | None:
    """The project's manifest, or None when it has none (or an unreadable one)."""
    try:
        body = json.loads((project_dir / MANIFEST_PATH).read_text(encoding="utf-8"))
        return Manifest(
            target=body["target"],
            deploygen_version=body["deploygen_version"],
            files=dict(body["files"]),
            user_owned=list(body.get("user_owned", [])),
            spec=body.get("spec") if isinstance(body.get("spec"), dict) else None,
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None
