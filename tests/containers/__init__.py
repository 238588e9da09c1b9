"""Real container images for the tests: podman, stand-in base images, a local wheelhouse, a Lambda Runtime API."""
