#!/usr/bin/env bash
# Launcher for the S3 gateway pytest suite (ctest label integ):
#   run_pytest.sh NORN_S3_BIN NORN_BIN [pytest args...]
# Runs Debian's /usr/bin/python3 -m pytest (boto3, requests) and maps
# pytest's exit code 5 ("no tests collected") to failure.
set -u
here="$(cd "$(dirname "$0")" && pwd)"
export NORN_S3_BIN="$1" NORN_BIN="$2"
shift 2
# Never let ambient AWS settings or proxies point the clients elsewhere.
unset AWS_PROFILE AWS_DEFAULT_PROFILE AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY
export NO_PROXY=127.0.0.1 AWS_EC2_METADATA_DISABLED=true
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
export PYTHONDONTWRITEBYTECODE=1
cd "$here"
/usr/bin/python3 -m pytest -q -p no:cacheprovider "$@" "$here"
rc=$?
if [ $rc -eq 5 ]; then
  echo "run_pytest.sh: no tests were collected: failing" >&2
  exit 1
fi
exit $rc
