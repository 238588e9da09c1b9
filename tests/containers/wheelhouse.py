"""The wheels the image builds install, downloaded on the host with pip: the builds themselves reach no network."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

from .podman import CACHE

WHEELS = CACHE / "wheels"  # mounted read-only at /wheels into every build; the stand-ins' pip looks only there


def download(requirements: str) -> Path:
    """The wheelhouse, holding every wheel `requirements` (a requirements.txt's text) needs.

    Wheels for this host's Python and platform: the stand-in bases run Debian bookworm's python3 (3.11), as
    this machine does. Only wheels: an sdist would need build tools and an index inside the build. Each set
    of requirements is downloaded once per machine (a stamp per hash of the text).
    """
    stamp = WHEELS / ".downloaded" / hashlib.sha256(requirements.encode()).hexdigest()
    if not stamp.exists():
        stamp.parent.mkdir(parents=True, exist_ok=True)
        listed = stamp.with_suffix(".txt")
        listed.write_text(requirements)
        done = subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--progress-bar", "off",
                               "--only-binary=:all:", "--dest", str(WHEELS), "--requirement", str(listed)],
                              capture_output=True, text=True, timeout=1200, check=False)
        assert done.returncode == 0, f"pip download failed:\n{done.stdout}\n{done.stderr}"
        stamp.touch()
    return WHEELS
