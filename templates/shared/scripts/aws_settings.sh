{#- Region, stack and ECR repository, each overridable from the environment (made readonly by the including script). -#}
REGION="${AWS_REGION:-${AWS_DEFAULT_REGION:-{{ cookiecutter.region }}}}"
STACK_NAME="${STACK_NAME:-{{ cookiecutter.stack_name }}}"
ECR_REPOSITORY="${ECR_REPOSITORY:-{{ cookiecutter.ecr_repository }}}"
