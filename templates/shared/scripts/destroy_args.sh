{#- destroy.sh's arguments: --yes sets assume_yes, --help prints the usage (what goes: DELETES, set by the including script) and stops. -#}
usage() {
  printf 'Usage: %s [--yes]\n' "$0"
  printf 'Deletes %s in %s.\n' "${DELETES}" "${REGION}"
}

assume_yes=false
for arg in "$@"; do
  case "${arg}" in
    -y | --yes) assume_yes=true ;;
    -h | --help)
      usage
      exit 0
      ;;
    *) die "unknown argument: ${arg} (try --help)" ;;
  esac
done
