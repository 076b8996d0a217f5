"""Huawei Cloud's official IAM SDK (huaweicloudsdkiam), unmodified, with permanent access keys.

With a user's own token (IamCredentials().with_x_auth_token) it creates an access key
(create_permanent_access_key) and lists the user's keys (list_permanent_access_keys); then,
with GlobalCredentials(ak, sk, domain_id), which signs every request SDK-HMAC-SHA256, it reads
the user (show_user) and lists the keys again. A wrong secret must be refused with 401
APIGW.0301. Prints one line per result for the Rust test to check.
"""

import atexit
import os
import shutil
import tempfile

# The SDK writes $HOME/.huaweicloud/application_id when it is imported (and signs the
# User-Agent that carries it), and reads credentials from HUAWEICLOUD_SDK_* variables: give it
# a throw-away home and none of those variables before importing it.
_sdk_home = tempfile.mkdtemp(prefix="warden-sdk-home-")
atexit.register(shutil.rmtree, _sdk_home, ignore_errors=True)
os.environ["HOME"] = _sdk_home
for _name in [name for name in os.environ if name.startswith("HUAWEICLOUD_SDK_")]:
    del os.environ[_name]

from huaweicloudsdkcore.auth.credentials import GlobalCredentials  # noqa: E402
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException  # noqa: E402
from huaweicloudsdkcore.http.http_config import HttpConfig  # noqa: E402
from huaweicloudsdkiam.v3 import (  # noqa: E402
    CreateCredentialOption,
    CreatePermanentAccessKeyRequest,
    CreatePermanentAccessKeyRequestBody,
    IamClient,
    ListPermanentAccessKeysRequest,
    ShowUserRequest,
)
from huaweicloudsdkiam.v3.iam_credentials import IamCredentials  # noqa: E402

import warden_env  # noqa: E402
from warden_env import check  # noqa: E402


def build(credentials):
    cfg = HttpConfig.get_default_config()
    cfg.timeout = (5, 10)
    # No with_region: the SDK then makes no implicit calls.
    return (IamClient.new_builder()
            .with_http_config(cfg)
            .with_credentials(credentials)
            .with_endpoints([warden_env.URL])
            .build())


def main():
    token = warden_env.client_token()
    tenant_id = warden_env.client_tenant_id(token)
    user = warden_env.new_user(token, tenant_id, prefix="akskuser")
    print(f"user: {user.login} ({user.hex_id})")

    by_token = build(IamCredentials().with_x_auth_token(user.token))
    created = by_token.create_permanent_access_key(CreatePermanentAccessKeyRequest(
        body=CreatePermanentAccessKeyRequestBody(
            credential=CreateCredentialOption(user_id=user.hex_id, description="sdk"))))
    check(created.status_code == 201, f"create_permanent_access_key should give 201, got {created}")
    key = created.credential
    check(key.user_id == user.hex_id and key.status == "active" and key.description == "sdk",
          f"unexpected credential {key}")
    check(len(key.access) == 20 and len(key.secret) == 40, f"unexpected key shape {key}")
    print(f"create_permanent_access_key: {created.status_code} status={key.status} "
          f"access_len={len(key.access)} secret_len={len(key.secret)}")

    listed = by_token.list_permanent_access_keys(ListPermanentAccessKeysRequest(user_id=user.hex_id))
    accesses = [c.access for c in listed.credentials]
    check(accesses == [key.access], f"list_permanent_access_keys should list {key.access}, got {listed}")
    print(f"list_permanent_access_keys (token): {listed.status_code} count={len(accesses)} "
          f"has_secret={any(getattr(c, 'secret', None) for c in listed.credentials)}")

    # X-Domain-Id, as GlobalCredentials sends it, is only a hint: the access key names the user.
    domain_id = warden_env.iam_user(user.token, user.hex_id)["domain_id"]
    signed = build(GlobalCredentials(key.access, key.secret, domain_id))
    shown = signed.show_user(ShowUserRequest(user_id=user.hex_id))
    check(shown.status_code == 200 and shown.user.name == user.login,
          f"show_user signed should give the user, got {shown}")
    print(f"show_user (signed): {shown.status_code} name_matches={shown.user.name == user.login}")

    listed = signed.list_permanent_access_keys(ListPermanentAccessKeysRequest(user_id=user.hex_id))
    check([c.access for c in listed.credentials] == [key.access],
          f"signed list_permanent_access_keys should list {key.access}, got {listed}")
    print(f"list_permanent_access_keys (signed): {listed.status_code} count={len(listed.credentials)}")

    wrong = build(GlobalCredentials(key.access, "x" * 40, domain_id))
    try:
        response = wrong.show_user(ShowUserRequest(user_id=user.hex_id))
    except ClientRequestException as error:
        check(error.status_code == 401 and error.error_code == "APIGW.0301",
              f"expected 401 APIGW.0301, got {error}")
        print(f"wrong secret: ClientRequestException {error.status_code} {error.error_code}")
    else:
        check(False, f"a wrong secret should raise ClientRequestException, got {response}")

    print("sdk aksk: ok")


if __name__ == "__main__":
    main()
