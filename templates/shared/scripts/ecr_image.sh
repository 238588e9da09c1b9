{#- The image in ECR: repository created if missing, docker login, one-platform build, push, digest into IMAGE_URI (needs PLATFORM, PROJECT_DIR, IMAGE_TAG; BUILD_NOTE optional). -#}
if ! aws ecr describe-repositories --region "${REGION}" \
  --repository-names "${ECR_REPOSITORY}" >/dev/null 2>&1; then
  log "Creating ECR repository ${ECR_REPOSITORY} (images scanned on push)"
  aws ecr create-repository --region "${REGION}" \
    --repository-name "${ECR_REPOSITORY}" \
    --image-scanning-configuration scanOnPush=true >/dev/null
fi
REPOSITORY_URI="$(aws ecr describe-repositories --region "${REGION}" \
  --repository-names "${ECR_REPOSITORY}" \
  --query 'repositories[0].repositoryUri' --output text)"
readonly REPOSITORY_URI
readonly REGISTRY="${REPOSITORY_URI%%/*}"

log "Logging docker in to ${REGISTRY}"
aws ecr get-login-password --region "${REGION}" \
  | docker login --username AWS --password-stdin "${REGISTRY}"

# One platform ({{ cookiecutter.architecture }}) and no provenance attestations, which would
# turn the pushed image into a multi-entry manifest list.
log "Building ${REPOSITORY_URI}:${IMAGE_TAG} for ${PLATFORM}${BUILD_NOTE:-}"
docker buildx build \
  --platform "${PLATFORM}" \
  --provenance=false \
  --load \
  --tag "${REPOSITORY_URI}:${IMAGE_TAG}" \
  "${PROJECT_DIR}"

log "Pushing ${REPOSITORY_URI}:${IMAGE_TAG}"
docker push "${REPOSITORY_URI}:${IMAGE_TAG}"

# Deploy by digest, not by tag: the stack then changes exactly when the image
# does, and a tag moved later cannot change what runs.
IMAGE_DIGEST="$(aws ecr describe-images --region "${REGION}" \
  --repository-name "${ECR_REPOSITORY}" \
  --image-ids imageTag="${IMAGE_TAG}" \
  --query 'imageDetails[0].imageDigest' --output text)"
readonly IMAGE_DIGEST
[[ "${IMAGE_DIGEST}" == sha256:* ]] || die "could not resolve the digest of ${REPOSITORY_URI}:${IMAGE_TAG}"
readonly IMAGE_URI="${REPOSITORY_URI}@${IMAGE_DIGEST}"
