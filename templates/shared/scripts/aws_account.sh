{#- ACCOUNT_ID from the AWS CLI's credentials; stops the script when there are none. -#}
ACCOUNT_ID="$(aws sts get-caller-identity --query Account --output text)" \
  || die "the AWS CLI has no working credentials (try: aws configure, or aws sso login)"
readonly ACCOUNT_ID
