"""Seed 004: "Modifying User Information (Including Email Address and Mobile Number)".

Creates a user through the account face, runs the document's curl command
(seed_004.sh) with that user's token, and checks the change through the account
and iam faces. Then sends bad requests to the same endpoint and checks that
each is refused with the documented status and changes nothing.
"""

import os
import secrets
import subprocess

import requests

import warden_env
from warden_env import check, expect_iam_error, expect_status

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "seed_004.sh")
SEED_USER = {"areacode": "0086", "phone": "18292010816", "email": "abcdefg@123.com"}
ONE_MIB = 1024 * 1024


def info_url(hex_id):
    return f"{warden_env.URL}/v3.0/OS-USER/users/{hex_id}/info"


def put_info(hex_id, token, user):
    headers = {"Content-Type": "application/json;charset=utf8"}
    if token is not None:
        headers["X-Auth-Token"] = token
    return requests.put(info_url(hex_id), headers=headers, json={"user": user},
                        timeout=warden_env.TIMEOUT)


def run_seed_script(user):
    env = dict(os.environ, WARDEN_URL=warden_env.URL, TOKEN=user.token, USER_ID=user.hex_id)
    result = subprocess.run(["bash", SCRIPT], env=env, timeout=60, check=False)
    check(result.returncode == 0, f"seed_004.sh exited with status {result.returncode}")


def main():
    token = warden_env.client_token()
    tenant_id = warden_env.client_tenant_id(token)
    user = warden_env.new_user(token, tenant_id)
    other = warden_env.new_user(token, tenant_id)
    print(f"users: {user.login} ({user.hex_id}), {other.login} ({other.hex_id})")

    before = warden_env.account_user(token, user.id)
    run_seed_script(user)

    # The change, read back through the account face ...
    after = warden_env.account_user(token, user.id)
    check(after["contact"].get("email") == SEED_USER["email"],
          f"account face: contact.email should be {SEED_USER['email']!r}, got {after['contact']!r}")
    check(after["version"] == before["version"] + 1,
          f"account face: version should go from {before['version']} to {before['version'] + 1}, "
          f"got {after['version']}")
    print(f"account face: email={after['contact']['email']} version={after['version']}")

    # ... and through the iam face.
    shown = warden_env.iam_user(user.token, user.hex_id)
    check(shown.get("id") == user.hex_id, f"iam face: id should be {user.hex_id!r}, got {shown!r}")
    for key, value in SEED_USER.items():
        check(shown.get(key) == value, f"iam face: {key} should be {value!r}, got {shown!r}")
    print(f"iam face: email={shown['email']} areacode={shown['areacode']} phone={shown['phone']}")

    # Refused requests: each gets its status and leaves the user as it was.
    admin_token = warden_env.admin_keystone_token()
    unknown_id = secrets.token_hex(16)
    oversized = {"email": "big@example.com", "description": "x" * (ONE_MIB + 1)}
    refusals = [
        ("another user's token", 403, lambda: put_info(user.hex_id, other.token, SEED_USER)),
        ("no token", 401, lambda: put_info(user.hex_id, None, SEED_USER)),
        ("invalid email", 400, lambda: put_info(user.hex_id, user.token, {"email": "not-an-email"})),
        ("phone without areacode", 400,
         lambda: put_info(user.hex_id, user.token, {"phone": "13800000000"})),
        ("unknown user (admin token)", 404, lambda: put_info(unknown_id, admin_token, SEED_USER)),
        ("GET on /info", 405,
         lambda: requests.get(info_url(user.hex_id), headers={"X-Auth-Token": user.token},
                              timeout=warden_env.TIMEOUT)),
        ("body over 1 MiB", 413, lambda: put_info(user.hex_id, user.token, oversized)),
    ]
    for name, status, send in refusals:
        response = send()
        if status in (405, 413):
            expect_status(response, status)
        else:
            expect_iam_error(response, status)
        now = warden_env.account_user(token, user.id)
        check(now == after, f"{name}: the user changed from {after!r} to {now!r}")
        print(f"refused: {name} -> {status}, user unchanged (version {now['version']})")

    print("seed 004: ok")


if __name__ == "__main__":
    main()
