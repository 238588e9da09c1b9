{#- destroy.sh's question: type the stack name to confirm, unless --yes; refuses without a terminal. -#}
if [[ "${assume_yes}" != true ]]; then
  [[ -t 0 ]] || die "not a terminal: re-run with --yes to confirm"
  read -r -p "Type the stack name (${STACK_NAME}) to confirm: " answer
  [[ "${answer}" == "${STACK_NAME}" ]] || die "not confirmed; nothing was deleted"
fi
