{#- Deletes the CloudFormation stack and waits until it is gone. -#}
log "Deleting stack ${STACK_NAME}"
aws cloudformation delete-stack --region "${REGION}" --stack-name "${STACK_NAME}"
aws cloudformation wait stack-delete-complete --region "${REGION}" --stack-name "${STACK_NAME}"
log "Stack ${STACK_NAME} deleted"
