"""Settings and helpers shared by the Warden compatibility scripts.

Configuration comes from the environment:

    WARDEN_URL              base URL of the server, e.g. http://127.0.0.1:41234
    WARDEN_CLIENT_ID        API client of the account face (/api/2)
    WARDEN_CLIENT_SECRET    its secret
    WARDEN_ADMIN_LOGIN      an administrator of the "Default" domain
    WARDEN_ADMIN_PASSWORD   its password

Every check stops the script with exit status 1 and a message that says what
was expected and what was received.
"""

import os
import secrets
import sys
import uuid
from dataclasses import dataclass

import requests

TIMEOUT = (5, 30)
DOMAIN = "Default"


def _require_env(name):
    value = os.environ.get(name, "")
    if not value:
        sys.exit(f"FAIL: environment variable {name} is not set")
    return value


URL = _require_env("WARDEN_URL").rstrip("/")
CLIENT_ID = _require_env("WARDEN_CLIENT_ID")
CLIENT_SECRET = _require_env("WARDEN_CLIENT_SECRET")
API2 = f"{URL}/api/2"


def admin_credentials():
    """Login and password of the domain administrator."""
    return _require_env("WARDEN_ADMIN_LOGIN"), _require_env("WARDEN_ADMIN_PASSWORD")


def check(cond, msg):
    """Stop with exit status 1 unless cond holds; msg should say what was received."""
    if not cond:
        print(f"FAIL: {msg}", file=sys.stderr)
        sys.exit(1)


def describe(response):
    """One-line summary of a response for failure messages."""
    body = response.text
    if len(body) > 2000:
        body = body[:2000] + f"... ({len(response.content)} bytes)"
    return f"{response.request.method} {response.url} -> {response.status_code} {body!r}"


def expect_status(response, status):
    """Check the status code of a response and return the response."""
    check(response.status_code == status, f"expected HTTP {status}, got {describe(response)}")
    return response


def expect_json(response, status):
    """Check the status code of a response and return its JSON body."""
    expect_status(response, status)
    try:
        return response.json()
    except ValueError:
        check(False, f"expected a JSON body, got {describe(response)}")


def strong_password():
    """A random password with upper and lower case letters, digits and punctuation."""
    return "Wd7!" + secrets.token_urlsafe(15)


def bearer(token):
    return {"Authorization": "Bearer " + token}


# --- account face (/api/2) ---------------------------------------------------

def client_token():
    """Access token of the API client, by the client_credentials grant."""
    response = requests.post(
        f"{API2}/idp/token",
        auth=(CLIENT_ID, CLIENT_SECRET),
        data={"grant_type": "client_credentials"},
        timeout=TIMEOUT,
    )
    body = expect_json(response, 200)
    check(isinstance(body.get("access_token"), str) and body["access_token"],
          f"token response has no access_token: {body!r}")
    check(body.get("token_type") == "bearer",
          f"token_type should be 'bearer', got {body.get('token_type')!r}")
    for field in ("expires_in", "expires_on"):
        check(isinstance(body.get(field), int) and not isinstance(body[field], bool),
              f"token response field {field} should be an integer, got {body.get(field)!r}")
    return body["access_token"]


def client_tenant_id(token):
    """tenant_id of the API client, as the account API's guide reads it."""
    response = requests.get(f"{API2}/clients/{CLIENT_ID}", headers=bearer(token), timeout=TIMEOUT)
    tenant_id = expect_json(response, 200).get("tenant_id")
    check(isinstance(tenant_id, str) and tenant_id, f"client has no tenant_id: {describe(response)}")
    return tenant_id


def account_user(token, user_id):
    """GET /api/2/users/{user_id} -> the user object."""
    response = requests.get(f"{API2}/users/{user_id}", headers=bearer(token), timeout=TIMEOUT)
    return expect_json(response, 200)


def create_user(token, tenant_id, login, email):
    """Create a user through the account face; returns the new (not yet activated) user."""
    response = requests.get(f"{API2}/users/check_login", params={"username": login},
                            headers=bearer(token), timeout=TIMEOUT)
    expect_status(response, 204)

    response = requests.post(
        f"{API2}/users",
        headers=bearer(token),
        json={"tenant_id": tenant_id, "login": login, "contact": {"email": email}},
        timeout=TIMEOUT,
    )
    user = expect_json(response, 200)
    check(user.get("version") == 1, f"a new user should have version 1, got {user!r}")
    check(user.get("activated") is False, f"a new user should not be activated yet, got {user!r}")
    check(isinstance(user.get("id"), str), f"a new user should have a string id, got {user!r}")
    return user


def set_password(token, user_id, password):
    """Set a user's password, which also activates the user."""
    response = requests.post(f"{API2}/users/{user_id}/password", headers=bearer(token),
                             json={"password": password}, timeout=TIMEOUT)
    expect_status(response, 204)


# --- keystone face (/v3) -----------------------------------------------------

def keystone_token(login, password):
    """Domain-scoped token of a user by the password method (POST /v3/auth/tokens)."""
    response = requests.post(
        f"{URL}/v3/auth/tokens",
        json={"auth": {
            "identity": {
                "methods": ["password"],
                "password": {"user": {"name": login, "domain": {"name": DOMAIN}, "password": password}},
            },
            "scope": {"domain": {"name": DOMAIN}},
        }},
        timeout=TIMEOUT,
    )
    expect_status(response, 201)
    token = response.headers.get("X-Subject-Token")
    check(token, f"no X-Subject-Token header in {describe(response)}")
    return token


def admin_keystone_token():
    return keystone_token(*admin_credentials())


# --- iam face (/v3.0) --------------------------------------------------------

def iam_user(token, hex_id):
    """GET /v3.0/OS-USER/users/{hex_id} with X-Auth-Token -> the inner user object."""
    response = requests.get(f"{URL}/v3.0/OS-USER/users/{hex_id}",
                            headers={"X-Auth-Token": token}, timeout=TIMEOUT)
    body = expect_json(response, 200)
    check(isinstance(body.get("user"), dict), f"expected {{'user': {{...}}}}, got {body!r}")
    return body["user"]


def expect_iam_error(response, status):
    """Check an error of the iam face: the status and an {"error_code", "error_msg"} body."""
    body = expect_json(response, status)
    check(isinstance(body, dict) and "error_code" in body and "error_msg" in body,
          f"expected an error body with error_code and error_msg, got {describe(response)}")
    return body


# --- users for the scripts ---------------------------------------------------

@dataclass
class FreshUser:
    id: str          # account face form (hyphenated UUID)
    hex_id: str      # keystone and iam form (32 hex characters)
    login: str
    password: str
    token: str       # keystone token of the user


def new_user(token, tenant_id, prefix="iamuser"):
    """Create an activated user with a random login and return it with its keystone token."""
    login = prefix + secrets.token_hex(5)
    user = create_user(token, tenant_id, login, f"{login}@example.com")
    password = strong_password()
    set_password(token, user["id"], password)
    return FreshUser(
        id=user["id"],
        hex_id=uuid.UUID(user["id"]).hex,
        login=login,
        password=password,
        token=keystone_token(login, password),
    )
