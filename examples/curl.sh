#!/usr/bin/env bash
# Publish a task's progress to tasktail with curl.
#
#   TASKTAIL_SERVER=http://127.0.0.1:8080 ./curl.sh import-42
set -euo pipefail
server=${TASKTAIL_SERVER:-http://127.0.0.1:8080}
task=${1:-curl-demo}
auth=()
[ -n "${TASKTAIL_KEY:-}" ] && auth=(-H "Authorization: Bearer $TASKTAIL_KEY") # when the server requires a key

publish() { # publish LEVEL PROGRESS FINISHED MESSAGE
  curl --fail-with-body --silent --show-error -X POST "$server/v1/tasks/$task/logs" "${auth[@]}" \
    -H 'Content-Type: application/json' \
    -d "{\"level\":\"$1\",\"progress\":$2,\"finished\":$3,\"message\":\"$4\"}"
  echo
}

publish info 0 false "report started"
# Several messages in one request: a JSON array, accepted all or nothing.
curl --fail-with-body --silent --show-error -X POST "$server/v1/tasks/$task/logs" "${auth[@]}" \
  -H 'Content-Type: application/json' \
  -d '[{"level":"info","message":"query 1 done","progress":40},{"level":"warning","message":"query 2 slow","progress":80}]'
echo
publish success 100 true "report ready"
curl --fail-with-body --silent --show-error "${auth[@]}" "$server/v1/tasks/$task"
echo
