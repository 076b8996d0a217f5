"""Seed 000: "Changing a user account contact info" (account face, /api/2).

Replays the document's Python session against Warden with its own variable
names and calls, then checks the response against the object the document
prints. The user's login is the document's "JohnDoe", so the script needs a
server where that login is still free.
"""

import json
import re

import requests

import warden_env
from warden_env import check, describe, expect_json

# The object the document prints after the update; id, tenant_id, version and
# created_at are compared with this run's values instead.
SEED_RESPONSE = {
    'activated': True,
    'business_types': [],
    'contact': {'address1': 'John Doe Str.',
                'address2': '',
                'city': '',
                'country': '',
                'email': 'johndoe@mysite.com',
                'firstname': 'Foo',
                'lastname': 'Bar',
                'phone': '',
                'state': '',
                'zipcode': ''},
    'created_at': '2019-07-25T07:11:02.807354+00:00',
    'enabled': True,
    'id': '1c234e69-5469-424a-a6d1-ff5658b387a6',
    'idp_id': '11111111-1111-1111-1111-111111111111',
    'language': 'en',
    'login': 'JohnDoe',
    'mfa_status': 'disabled',
    'notifications': ['quota', 'reports', 'backup_daily_report'],
    'personal_tenant_id': None,
    'tenant_id': 'ede9f834-70b3-476c-83d9-736f9f8c7dae',
    'terms_accepted': False,
    'version': 2,
}
CREATED_AT = re.compile(r'^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}\+00:00$')
ERROR_KEYS = ('code', 'message', 'details', 'domain')


def check_same_types(expected, actual, path='response'):
    """Every key of expected is in actual, holding a value of the same Python type."""
    for key, value in expected.items():
        check(key in actual, f"{path} has no key {key!r}: {actual!r}")
        check(type(actual[key]) is type(value),
              f"{path}[{key!r}] should be a {type(value).__name__}, got {actual[key]!r}")
        if isinstance(value, dict):
            check_same_types(value, actual[key], f"{path}[{key!r}]")


def check_field(body, key, expected):
    check(body.get(key) == expected, f"{key} should be {expected!r}, got {body.get(key)!r}")


def main():
    # Step 1: authenticate; base_url, auth and tenant_id as in the document.
    token = warden_env.client_token()
    base_url = f"{warden_env.URL}/api/2"
    auth = {'Authorization': 'Bearer ' + token}
    tenant_id = warden_env.client_tenant_id(token)
    print(f"step 1: authenticated, tenant_id={tenant_id}")

    # Step 2: a user account created via the API, activated with a password.
    created_user_id = warden_env.create_user(token, tenant_id, "JohnDoe", "johndoe@mysite.com")['id']
    warden_env.set_password(token, created_user_id, warden_env.strong_password())
    user_id = created_user_id
    print(f"step 2: user_id={user_id}")

    # Step 3: fetch the revision number.
    response = requests.get(f'{base_url}/users/{user_id}', headers=auth, timeout=warden_env.TIMEOUT)
    fetched = expect_json(response, 200)
    check(fetched.get('activated') is True,
          f"the user should be activated after setting its password, got {fetched!r}")
    version = fetched['version']
    print(f"step 3: version={version}")

    # Steps 4-7, exactly as the document shows them.
    user_data = {
         "contact": {
             "address1": "John Doe Str.",
             "firstname": "Foo",
             "lastname": "Bar"
         },
         "version": version
    }
    user_data = json.dumps(user_data, indent=4)
    response = requests.put(
        f'{base_url}/users/{user_id}',
        headers={'Content-Type': 'application/json', **auth},
        data=user_data,
    )
    check(response.status_code == 200, f"expected HTTP 200, got {describe(response)}")
    print(f"step 7: status_code={response.status_code}")

    # The response body, compared with the object the document prints.
    check(response.headers.get('Content-Type', '').startswith('application/json'),
          f"Content-Type should be application/json, got {response.headers.get('Content-Type')!r}")
    body = expect_json(response, 200)
    check(isinstance(body, dict), f"expected a JSON object, got {body!r}")
    check_same_types(SEED_RESPONSE, body)
    expected = dict(SEED_RESPONSE, id=user_id, tenant_id=tenant_id, version=version + 1)
    del expected['created_at']
    for key, value in expected.items():
        check_field(body, key, value)
    check(CREATED_AT.match(body['created_at']),
          f"created_at should look like {SEED_RESPONSE['created_at']!r}, got {body['created_at']!r}")
    print(f"response: matches the document's object, version={body['version']}")

    # Note: the revision number increments with each update, so a PUT with the
    # old one is refused and changes nothing.
    stale_data = json.dumps({"contact": {"address1": "Stale Str."}, "version": version}, indent=4)
    response = requests.put(
        f'{base_url}/users/{user_id}',
        headers={'Content-Type': 'application/json', **auth},
        data=stale_data,
        timeout=warden_env.TIMEOUT,
    )
    error = expect_json(response, 409).get('error')
    check(isinstance(error, dict) and all(key in error for key in ERROR_KEYS),
          f"expected an error object with keys {ERROR_KEYS}, got {describe(response)}")
    check(error['code'] == 1001, f"a version mismatch should have error code 1001, got {error!r}")
    response = requests.get(f'{base_url}/users/{user_id}', headers=auth, timeout=warden_env.TIMEOUT)
    after = expect_json(response, 200)
    check_field(after, 'version', version + 1)
    check_field(after, 'contact', SEED_RESPONSE['contact'])
    print(f"stale version {version}: 409 with code 1001, user unchanged")

    print("seed 000: ok")


if __name__ == '__main__':
    main()
