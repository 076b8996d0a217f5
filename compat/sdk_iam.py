"""Huawei Cloud's official IAM SDK (huaweicloudsdkiam), unmodified, against Warden.

Calls update_user_information (PUT /v3.0/OS-USER/users/{user_id}/info) with a
user's own token and checks the change through the iam and account faces, then
checks that the same call for another user is refused with 403.
"""

import atexit
import os
import shutil
import tempfile

# The SDK writes $HOME/.huaweicloud/application_id when it is imported, and
# reads credentials and endpoints from HUAWEICLOUD_SDK_* variables: give it a
# throw-away home and none of those variables before importing it.
_sdk_home = tempfile.mkdtemp(prefix="warden-sdk-home-")
atexit.register(shutil.rmtree, _sdk_home, ignore_errors=True)
os.environ["HOME"] = _sdk_home
for _name in [name for name in os.environ if name.startswith("HUAWEICLOUD_SDK_")]:
    del os.environ[_name]

from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException  # noqa: E402
from huaweicloudsdkcore.http.http_config import HttpConfig  # noqa: E402
from huaweicloudsdkiam.v3 import (  # noqa: E402
    IamClient,
    UpdateUserInformationOption,
    UpdateUserInformationRequest,
    UpdateUserInformationRequestBody,
)
from huaweicloudsdkiam.v3.iam_credentials import IamCredentials  # noqa: E402

import warden_env  # noqa: E402
from warden_env import check  # noqa: E402


def iam_client(user_token):
    cfg = HttpConfig.get_default_config()
    cfg.timeout = (5, 10)
    return (IamClient.new_builder()
            .with_http_config(cfg)
            .with_credentials(IamCredentials().with_x_auth_token(user_token))
            .with_endpoints([warden_env.URL])
            .build())


def update_request(hex_id, email, mobile):
    return UpdateUserInformationRequest(
        user_id=hex_id,
        body=UpdateUserInformationRequestBody(
            user=UpdateUserInformationOption(email=email, mobile=mobile)))


def main():
    token = warden_env.client_token()
    tenant_id = warden_env.client_tenant_id(token)
    user = warden_env.new_user(token, tenant_id)
    other = warden_env.new_user(token, tenant_id)
    print(f"users: {user.login} ({user.hex_id}), {other.login} ({other.hex_id})")

    client = iam_client(user.token)
    before = warden_env.account_user(token, user.id)
    response = client.update_user_information(
        update_request(user.hex_id, "sdk@example.com", "0086-123456789"))
    check(response.status_code == 204, f"update_user_information should give 204, got {response}")
    print(f"update_user_information: {response.status_code}")

    shown = warden_env.iam_user(user.token, user.hex_id)
    expected = {"email": "sdk@example.com", "areacode": "0086", "phone": "123456789"}
    for key, value in expected.items():
        check(shown.get(key) == value, f"iam face: {key} should be {value!r}, got {shown!r}")
    after = warden_env.account_user(token, user.id)
    check(after["version"] == before["version"] + 1,
          f"account face: version should go from {before['version']} to {before['version'] + 1}, "
          f"got {after['version']}")
    check(after["contact"].get("email") == "sdk@example.com",
          f"account face: contact.email should be 'sdk@example.com', got {after['contact']!r}")
    print(f"read back: email={shown['email']} areacode={shown['areacode']} phone={shown['phone']} "
          f"version={after['version']}")

    other_before = warden_env.account_user(token, other.id)
    try:
        response = client.update_user_information(
            update_request(other.hex_id, "intruder@example.com", "0086-987654321"))
    except ClientRequestException as error:
        check(error.status_code == 403, f"expected status 403, got {error}")
        print(f"another user's id: ClientRequestException {error.status_code} {error.error_code}")
    else:
        check(False, f"updating another user should raise ClientRequestException, got {response}")
    other_after = warden_env.account_user(token, other.id)
    check(other_after == other_before, f"the other user changed from {other_before!r} to {other_after!r}")

    print("sdk iam: ok")


if __name__ == "__main__":
    main()
