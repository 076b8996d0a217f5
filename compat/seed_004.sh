#!/usr/bin/env bash
# Seed 004: "Modifying User Information (Including Email Address and Mobile
# Number)" (iam face, /v3.0/OS-USER). Runs the document's example request with
# only the host and the token changed, and expects 204 with an empty body.
#
# Environment: WARDEN_URL (e.g. http://127.0.0.1:41234), TOKEN (the user's
# token), USER_ID (the user's 32-hex id).
set -euo pipefail

: "${WARDEN_URL:?WARDEN_URL is not set}"
: "${TOKEN:?TOKEN is not set}"
: "${USER_ID:?USER_ID is not set}"

token=$TOKEN
filename=user_info

workdir=$(mktemp -d)
trap 'rm -rf "$workdir"' EXIT
cd "$workdir"

fail() {
    echo "FAIL: $1" >&2
    echo "--- curl messages and response:" >&2
    cat curl.log response.txt >&2 2>/dev/null || true
    echo >&2
    exit 1
}

# Create a temporary file named ${filename}.json with the document's content.
cat > ${filename}.json <<'EOF'
{
	"user": {
		"areacode": "0086",
		"phone": "18292010816",
		"email": "abcdefg@123.com"
	}
}
EOF

# Run the document's command under the directory storing ${filename}.json.
curl -i -k -H 'Accept:application/json' -H 'Content-Type:application/json;charset=utf8' -H "X-Auth-Token:$token" -X PUT -d @${filename}.json ${WARDEN_URL}/v3.0/OS-USER/users/${USER_ID}/info > response.txt 2> curl.log \
    || fail "curl exited with status $?"

# Delete the ${filename}.json file.
rm ${filename}.json

status_line=$(head -n 1 response.txt | tr -d '\r')
[[ $status_line == 'HTTP/1.1 204'* ]] || fail "expected status line 'HTTP/1.1 204', got '$status_line'"
grep -q $'^\r$' response.txt || fail "the response has no end of headers"
# Bytes after the blank line that ends the headers: none for an empty body.
body_bytes=$(awk 'body { print } /^\r$/ { body = 1 }' response.txt | wc -c)
[[ $body_bytes -eq 0 ]] || fail "expected an empty body"

echo "seed 004 curl: $status_line"
