{#- Deletes the ECR repository with every image in it, if there is one. -#}
if aws ecr describe-repositories --region "${REGION}" \
  --repository-names "${ECR_REPOSITORY}" >/dev/null 2>&1; then
  log "Deleting ECR repository ${ECR_REPOSITORY} and its images"
  aws ecr delete-repository --region "${REGION}" \
    --repository-name "${ECR_REPOSITORY}" --force >/dev/null
  log "Repository ${ECR_REPOSITORY} deleted"
else
  log "ECR repository ${ECR_REPOSITORY} not found; nothing to delete there"
fi
