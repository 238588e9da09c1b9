{#- log (progress) and die (an error, then exit 1), both to stderr; every deploy/destroy script starts with them. -#}
log() {
  printf '==> %s\n' "$*" >&2
}

die() {
  printf 'error: %s\n' "$*" >&2
  exit 1
}
