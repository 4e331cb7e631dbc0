#!/usr/bin/env bash
# The GitHub Action's validation step (see action.yml): runs `mcp-gitops validate` once and turns its
# result into annotations (stdout), a SARIF file, a job summary, step outputs and the step's exit code.
# It lives outside action.yml so tests can run it with a simulated GitHub environment.
#
# Inputs arrive as INPUT_* environment variables, never spliced into the script text, so an input
# (a branch name, a path) can never be run as shell code.
#
# Exit codes are validate's: 0 clean, 1 findings at fail-on, 2 usage or tool error. Outputs and the
# summary are written first, so a failing step still reports.
set -uo pipefail

path="${INPUT_PATH:-.}"
base="${INPUT_BASE_REF:-}"
fail_on="${INPUT_FAIL_ON:-error}"
sarif_file="${INPUT_SARIF_FILE:-mcp-gitops.sarif}"
outputs="${GITHUB_OUTPUT:-/dev/null}"
summary="${GITHUB_STEP_SUMMARY:-/dev/null}"

# Percent-escape a workflow command's message, as GitHub requires.
escape_data() {
  local text="${1//%/%25}"
  text="${text//$'\r'/%0D}"
  printf '%s' "${text//$'\n'/%0A}"
}

fail_usage() {
  echo "::error title=mcp-gitops::$(escape_data "$1")"
  printf '## mcp-gitops validate\n\n❌ %s\n' "$1" >>"$summary"
  exit 2
}

# Relative inputs (path, sarif-file) are relative to the checkout, as in any workflow step.
cd "${GITHUB_WORKSPACE:-.}" || fail_usage "cannot enter GITHUB_WORKSPACE ${GITHUB_WORKSPACE:-}"

case "$fail_on" in
  error | warning) ;;
  *) fail_usage "input fail-on must be 'error' or 'warning', not '$fail_on'" ;;
esac
[[ -n "$sarif_file" && "$sarif_file" != *$'\n'* ]] || fail_usage "input sarif-file must be one file name"

# base-ref defaults to the pull request's base SHA in action.yml; reading the event here as well covers
# callers that pass an empty value through a wrapper workflow, and local runs of this script.
if [[ -z "$base" && -n "${GITHUB_EVENT_PATH:-}" && -f "${GITHUB_EVENT_PATH}" ]]; then
  base="$(python -c '
import json, sys
event = json.load(open(sys.argv[1], encoding="utf-8"))
print(((event.get("pull_request") or {}).get("base") or {}).get("sha") or "")
' "$GITHUB_EVENT_PATH")" || base=""
fi

# A shallow clone (actions/checkout's default depth is 1) lacks the base commit; say how to fix that
# instead of letting validate fail on an unknown revision.
if [[ -n "$base" ]] && ! git -C "$path" cat-file -e "${base}^{commit}" 2>/dev/null; then
  fail_usage "base revision $base is not in the clone at '$path': check out with 'fetch-depth: 0' so the pull request's base commit is present, or set the base-ref input"
fi

work="$(mktemp -d "${RUNNER_TEMP:-${TMPDIR:-/tmp}}/mcp-gitops.XXXXXX")" || fail_usage "cannot create a temporary folder"
trap 'rm -rf "$work"' EXIT
umask 077

args=(validate "$path" -o github --fail-on "$fail_on"
  --report "sarif:$sarif_file" --report "json:$work/report.json" --report "markdown:$work/summary.md")
[[ -n "$base" ]] && args+=(--base "$base")

# The token goes through a private file, not the command line, where other processes could read it.
if [[ -n "${INPUT_TOKEN:-}" ]]; then
  echo "::add-mask::${INPUT_TOKEN}"
  printf '%s' "$INPUT_TOKEN" >"$work/token"
  args+=(--token "@$work/token")
fi
# jwks: a file in the repository, or the key set itself (for example from a secret or a variable).
if [[ -n "${INPUT_JWKS:-}" ]]; then
  if [[ "${INPUT_JWKS}" == "{"* ]]; then
    printf '%s' "$INPUT_JWKS" >"$work/jwks.json"
    args+=(--jwks "$work/jwks.json")
  else
    args+=(--jwks "$INPUT_JWKS")
  fi
fi

sarif_dir="$(dirname -- "$sarif_file")"
mkdir -p -- "$sarif_dir" || fail_usage "cannot create the folder for sarif-file $sarif_file"
# A SARIF file left by an earlier run on a reused runner must not pass for this run's.
rm -f -- "$sarif_file"

# stderr is kept to quote validate's own reason (a bad token, an unreadable repository) on exit 2.
mcp-gitops "${args[@]}" 2>"$work/stderr"
status=$?
cat "$work/stderr" >&2

if [[ -s "$work/report.json" ]]; then
  if counts="$(python -c '
import json, sys
summary = json.load(open(sys.argv[1], encoding="utf-8"))["summary"]
print("errors=%d" % summary["errors"])
print("warnings=%d" % summary["warnings"])
' "$work/report.json")"; then
    printf '%s\n' "$counts" >>"$outputs"
  fi
fi
[[ -s "$sarif_file" ]] && printf 'sarif-file=%s\n' "$sarif_file" >>"$outputs"

if [[ -s "$work/summary.md" ]]; then
  cat "$work/summary.md" >>"$summary"
fi

# What merging would change, from Git alone: one pull-request comment, updated on each push, and the
# job summary. It never decides the step's outcome; a token that cannot comment (a fork) is a warning
# and the summary still has the diff. The token reaches the CLI through the environment only.
if [[ -n "$base" && "${INPUT_COMMENT:-true}" == "true" && $status -le 1 ]]; then
  mcp-gitops diff "$path" --base "$base" -o markdown >"$work/diff.md" 2>"$work/diff-stderr"
  diff_status=$?
  if [[ $diff_status -le 2 && -s "$work/diff.md" ]]; then
    GITHUB_TOKEN="${INPUT_GITHUB_TOKEN:-}" mcp-gitops github comment --file "$work/diff.md" ||
      echo "::warning title=mcp-gitops::the diff comment could not be posted; see the log above"
  else
    reason="$(tail -n 3 "$work/diff-stderr")"
    echo "::warning title=mcp-gitops::$(escape_data "mcp-gitops diff failed (exit $diff_status)${reason:+: $reason}")"
  fi
fi

case "$status" in
  0) ;;
  1) echo "mcp-gitops: findings at or above fail-on=$fail_on; failing the step." ;;
  *)
    reason="$(tail -n 5 "$work/stderr")"
    message="mcp-gitops validate failed with exit code $status (usage or tool error)${reason:+: $reason}"
    echo "::error title=mcp-gitops::$(escape_data "$message")"
    if [[ ! -s "$work/summary.md" ]]; then
      # shellcheck disable=SC2016 # the backticks are a Markdown code fence, not a command
      printf '## mcp-gitops validate\n\n❌ %s\n\n```\n%s\n```\n' \
        "mcp-gitops validate failed with exit code $status before writing a report." "$reason" >>"$summary"
    fi
    ;;
esac
exit "$status"
