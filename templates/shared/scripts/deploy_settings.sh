{#- deploy.sh's settings: the image's platform, the project folder, region/stack/repository and the image tag (made readonly by the including script). -#}
readonly PLATFORM="linux/{% if cookiecutter.architecture == "arm64" %}arm64{% else %}amd64{% endif %}"
PROJECT_DIR="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)"
readonly PROJECT_DIR
{% include 'scripts/aws_settings.sh' -%}
IMAGE_TAG="${IMAGE_TAG:-$(date -u +%Y%m%dT%H%M%SZ)}"
