"""Huawei Cloud's official IAM SDK (huaweicloudsdkiam), unmodified, with permanent access keys.

With a user's own token (IamCredentials().with_x_auth_token) it creates an access key
(create_permanent_access_key) and lists the user's keys (list_permanent_access_keys); then,
with GlobalCredentials(ak, sk, domain_id), which signs every request SDK-HMAC-SHA256, it reads
the user (show_user) and lists the keys again. A wrong secret must be refused with 401
APIGW.0301.

Then, as the domain administrator, it administers users the same two ways: a token from
keystone_create_user_token_by_password (checked with keystone_validate_token), then
create_user with every documented field, show_user, update_user, keystone_list_users, and the
new user's own update_user_information; and all of it again signed with the administrator's
access key. Prints one line per result for the Rust test to check.
"""

import atexit
import os
import secrets
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
    AuthScope,
    AuthScopeDomain,
    CreateCredentialOption,
    CreatePermanentAccessKeyRequest,
    CreatePermanentAccessKeyRequestBody,
    CreateUserOption,
    CreateUserRequest,
    CreateUserRequestBody,
    IamClient,
    KeystoneCreateUserTokenByPasswordRequest,
    KeystoneCreateUserTokenByPasswordRequestBody,
    KeystoneListUsersRequest,
    KeystoneValidateTokenRequest,
    ListPermanentAccessKeysRequest,
    PwdAuth,
    PwdIdentity,
    PwdPassword,
    PwdPasswordUser,
    PwdPasswordUserDomain,
    ShowUserRequest,
    UpdateUserInformationOption,
    UpdateUserInformationRequest,
    UpdateUserInformationRequestBody,
    UpdateUserOption,
    UpdateUserRequest,
    UpdateUserRequestBody,
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

    administer_users()

    print("sdk aksk: ok")


def sdk_token(login, password):
    """A domain-scoped token through the SDK's own, unauthenticated call."""
    response = build(IamCredentials()).keystone_create_user_token_by_password(
        KeystoneCreateUserTokenByPasswordRequest(body=KeystoneCreateUserTokenByPasswordRequestBody(
            auth=PwdAuth(
                identity=PwdIdentity(methods=["password"], password=PwdPassword(
                    user=PwdPasswordUser(domain=PwdPasswordUserDomain(name="Default"),
                                         name=login, password=password))),
                scope=AuthScope(domain=AuthScopeDomain(name="Default"))))))
    check(response.status_code == 201 and response.x_subject_token
          and response.token.user.name == login,
          f"keystone_create_user_token_by_password should give a token of {login}, got {response}")
    return response.x_subject_token, response.token.user.id, response.token.user.domain.id


def administer_users():
    login, password = warden_env.admin_credentials()
    admin_token, admin_id, domain_id = sdk_token(login, password)
    print("keystone_create_user_token_by_password: 201 user_matches=True")
    by_token = build(IamCredentials().with_x_auth_token(admin_token))
    validated = by_token.keystone_validate_token(
        KeystoneValidateTokenRequest(x_subject_token=admin_token))
    check(validated.status_code == 200 and validated.token.user.id == admin_id,
          f"keystone_validate_token should show the administrator, got {validated}")
    print(f"keystone_validate_token: {validated.status_code} user_matches=True")

    key = by_token.create_permanent_access_key(CreatePermanentAccessKeyRequest(
        body=CreatePermanentAccessKeyRequestBody(
            credential=CreateCredentialOption(user_id=admin_id, description="admin")))).credential
    signed = build(GlobalCredentials(key.access, key.secret, domain_id))
    for how, client in [("token", by_token), ("signed", signed)]:
        round_trip(how, client, domain_id)


def round_trip(how, client, domain_id):
    """create_user, show_user, update_user, keystone_list_users and the user's own /info."""
    name = f"sdk{how}{secrets.token_hex(4)}"
    # IAM keeps an e-mail address and a phone to one user of an account (1110, 1111).
    phone = f"138{secrets.randbelow(10**8):08d}"
    mobile_number = f"30{secrets.randbelow(10**7):07d}"
    password = warden_env.strong_password()
    sent = dict(name=name, domain_id=domain_id, password=password, email=f"{name}@example.com",
                areacode="0086", phone=phone, enabled=True, pwd_status=False,
                access_mode="programmatic", xuser_type="TenantIdp", xuser_id=f"x-{name}",
                description="made by the sdk")
    created = client.create_user(CreateUserRequest(body=CreateUserRequestBody(
        user=CreateUserOption(**sent)))).user
    for field, value in sent.items():
        if field != "password":
            check(getattr(created, field) == value,
                  f"create_user ({how}): {field} should be {value!r}, got {created}")
    check(len(created.id) == 32, f"create_user ({how}): unexpected id {created.id!r}")
    print(f"create_user ({how}): 201 fields_match=True")

    shown = client.show_user(ShowUserRequest(user_id=created.id)).user
    check((shown.id, shown.name, shown.access_mode, shown.xuser_id, shown.phone)
          == (created.id, name, "programmatic", f"x-{name}", phone),
          f"show_user ({how}) should show the created user, got {shown}")
    print(f"show_user ({how}): 200 fields_match=True")

    updated = client.update_user(UpdateUserRequest(user_id=created.id, body=UpdateUserRequestBody(
        user=UpdateUserOption(access_mode="console", pwd_status=True, description="changed",
                              xuser_type="other", xuser_id=f"y-{name}")))).user
    check((updated.access_mode, updated.pwd_status, updated.description, updated.xuser_type,
           updated.xuser_id, updated.email) == ("console", True, "changed", "other", f"y-{name}",
                                                f"{name}@example.com"),
          f"update_user ({how}) should apply the change, got {updated}")
    print(f"update_user ({how}): 200 fields_match=True")

    listed = client.keystone_list_users(KeystoneListUsersRequest(name=name)).users
    check([u.id for u in listed] == [created.id],
          f"keystone_list_users ({how}) should list {created.id}, got {listed}")
    print(f"keystone_list_users ({how}): 200 count=1")

    try:
        client.create_user(CreateUserRequest(body=CreateUserRequestBody(
            user=CreateUserOption(name=name, domain_id=domain_id))))
    except ClientRequestException as error:
        check(error.status_code == 400 and error.error_code == "1109",
              f"a taken name should be 400 1109, got {error}")
        print(f"create_user taken name ({how}): {error.status_code} {error.error_code}")
    else:
        check(False, f"create_user ({how}) with a taken name should raise ClientRequestException")

    try:
        client.create_user(CreateUserRequest(body=CreateUserRequestBody(
            user=CreateUserOption(name=f"{name}b", domain_id=domain_id,
                                  email=f"{name}@example.com"))))
    except ClientRequestException as error:
        check(error.status_code == 400 and error.error_code == "1110",
              f"another user's e-mail address should be 400 1110, got {error}")
        print(f"create_user taken email ({how}): {error.status_code} {error.error_code}")
    else:
        check(False, f"create_user ({how}) with a taken e-mail should raise ClientRequestException")

    own_token, _, _ = sdk_token(name, password)
    response = build(IamCredentials().with_x_auth_token(own_token)).update_user_information(
        UpdateUserInformationRequest(user_id=created.id, body=UpdateUserInformationRequestBody(
            user=UpdateUserInformationOption(email=f"own-{name}@example.com",
                                             mobile=f"0049-{mobile_number}"))))
    shown = client.show_user(ShowUserRequest(user_id=created.id)).user
    check(response.status_code == 204 and (shown.email, shown.areacode, shown.phone)
          == (f"own-{name}@example.com", "0049", mobile_number) and shown.access_mode == "console",
          f"update_user_information ({how}) should change only the contact, got {shown}")
    print(f"update_user_information ({how}): 204 fields_match=True")


if __name__ == "__main__":
    main()
