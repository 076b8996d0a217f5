"""python-openstackclient, unmodified, against Warden's keystone face (/v3).

Writes a clouds.yaml with a password-authenticated profile for the administrator of the
Default domain, scoped to its project "admin", and runs the `openstack` commands an operator
uses for identity, each with `-f json` where it has output, checking what they return: every
created id shows up in list and show, a change made with `user set` reads back, a grant shows
in `role assignment list --names` and lets the user obtain a token on the project, a deleted
user is gone.

Environment: that of warden_env.py (the server's URL and credentials), and OPENSTACK_BIN, the
bin directory of the virtualenv holding python-openstackclient (whose interpreter runs this).

Every failure stops the script with exit status 1 and names the command, its exit status and
its stderr.
"""

import json
import os
import secrets
import subprocess
import tempfile

from warden_env import DOMAIN, URL, admin_credentials, check

PROJECT = "admin"
OPENSTACK = os.path.join(os.environ.get("OPENSTACK_BIN", ""), "openstack")
check(os.path.exists(OPENSTACK), f"OPENSTACK_BIN holds no openstack: {OPENSTACK!r}")


def fail(msg):
    check(False, msg)


def clouds_yaml(directory, name, username, password, project):
    """A clouds.yaml with one password profile, written as JSON (a subset of YAML)."""
    path = os.path.join(directory, f"clouds-{name}.yaml")
    profile = {
        "auth": {
            "auth_url": f"{URL}/v3",
            "username": username,
            "password": password,
            "user_domain_name": DOMAIN,
            "project_name": project,
            "project_domain_name": DOMAIN,
        },
        "auth_type": "password",
        "identity_api_version": "3",
        "region_name": "RegionOne",
        "interface": "public",
    }
    with open(path, "w", encoding="utf-8") as f:
        json.dump({"clouds": {name: profile}}, f, indent=2)
    return path


class Cli:
    """Runs `openstack` with one clouds.yaml profile and nothing else from the environment."""

    def __init__(self, config_file, cloud):
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
        self.env.update({"OS_CLIENT_CONFIG_FILE": config_file, "OS_CLOUD": cloud})
        # The client keeps no cache or history between runs in a home of its own.
        self.env["HOME"] = os.path.dirname(config_file)

    def run(self, *args, want_json=True):
        """Runs one command; stops the script unless it exits 0. Returns its parsed output."""
        argv = [OPENSTACK, *args] + (["-f", "json"] if want_json else [])
        shown = "openstack " + " ".join(args) + (" -f json" if want_json else "")
        out = subprocess.run(argv, env=self.env, capture_output=True, text=True, timeout=120)
        if out.returncode != 0:
            fail(f"`{shown}` exited {out.returncode}\nstderr:\n{out.stderr}\nstdout:\n{out.stdout}")
        print(f"ok: {shown}")
        if not want_json:
            return out.stdout
        try:
            return json.loads(out.stdout)
        except ValueError:
            fail(f"`{shown}` printed no JSON:\n{out.stdout}\nstderr:\n{out.stderr}")

    def refuses(self, *args):
        """Runs a command that must fail; returns its stderr."""
        shown = "openstack " + " ".join(args)
        out = subprocess.run([OPENSTACK, *args], env=self.env, capture_output=True, text=True,
                             timeout=120)
        if out.returncode == 0:
            fail(f"`{shown}` should have failed, printed:\n{out.stdout}")
        print(f"ok (refused): {shown}")
        return out.stderr


def ids(rows):
    return {row.get("ID") for row in rows}


def main():
    home = tempfile.mkdtemp(prefix="osc-")
    admin_login, admin_password = admin_credentials()
    admin = Cli(clouds_yaml(home, "warden-admin", admin_login, admin_password, PROJECT),
                "warden-admin")
    suffix = secrets.token_hex(4)

    # token issue: a project-scoped token of the administrator.
    token = admin.run("token", "issue")
    check(token.get("id") and token.get("project_id") and token.get("user_id"),
          f"token issue lacks id, project_id or user_id: {token!r}")
    check(token.get("expires"), f"token issue has no expiry: {token!r}")

    # domain create / list
    domain_name = f"osc-domain-{suffix}"
    domain = admin.run("domain", "create", "--description", "made by openstackclient",
                       domain_name)
    check(domain.get("name") == domain_name and domain.get("id"),
          f"domain create returned {domain!r}")
    check(domain.get("enabled") is True, f"a new domain should be enabled: {domain!r}")
    domains = admin.run("domain", "list")
    check(domain["id"] in ids(domains), f"domain {domain['id']} missing in domain list: {domains!r}")
    default_ids = [d["ID"] for d in domains if d.get("Name") == DOMAIN]
    check(len(default_ids) == 1, f"domain list should hold one {DOMAIN!r}: {domains!r}")
    default_id = default_ids[0]

    # project create / list / show
    project_name = f"osc-project-{suffix}"
    project = admin.run("project", "create", "--domain", DOMAIN, "--description",
                        "made by openstackclient", project_name)
    check(project.get("name") == project_name and project.get("id"),
          f"project create returned {project!r}")
    check(project.get("domain_id") == default_id,
          f"project should be in domain {default_id}: {project!r}")
    projects = admin.run("project", "list")
    check(project["id"] in ids(projects),
          f"project {project['id']} missing in project list: {projects!r}")
    shown = admin.run("project", "show", project["id"])
    check(shown.get("id") == project["id"] and shown.get("name") == project_name,
          f"project show {project['id']} returned {shown!r}")
    check(shown.get("description") == "made by openstackclient",
          f"project show lost the description: {shown!r}")
    in_domain = admin.run("project", "create", "--domain", domain["id"],
                          f"osc-project-in-domain-{suffix}")
    check(in_domain.get("domain_id") == domain["id"],
          f"project created in domain {domain['id']} returned {in_domain!r}")

    # user create / show / list / set
    user_name = f"osc-user-{suffix}"
    password = "Osc7!" + secrets.token_urlsafe(12)
    user = admin.run("user", "create", "--domain", DOMAIN, "--password", password,
                     "--email", f"{user_name}@example.com", "--description", "first",
                     user_name)
    check(user.get("name") == user_name and user.get("id"), f"user create returned {user!r}")
    check(user.get("domain_id") == default_id, f"user should be in domain {default_id}: {user!r}")
    check(user.get("enabled") is True, f"a new user should be enabled: {user!r}")
    check("password" not in user, f"user create must not echo the password: {user!r}")
    shown = admin.run("user", "show", user["id"])
    check(shown.get("id") == user["id"] and shown.get("name") == user_name,
          f"user show {user['id']} returned {shown!r}")
    check(shown.get("email") == f"{user_name}@example.com",
          f"user show lost the email: {shown!r}")
    by_name = admin.run("user", "show", "--domain", DOMAIN, user_name)
    check(by_name.get("id") == user["id"], f"user show by name returned {by_name!r}")
    users = admin.run("user", "list")
    check(user["id"] in ids(users), f"user {user['id']} missing in user list: {users!r}")
    users = admin.run("user", "list", "--domain", DOMAIN)
    check(user["id"] in ids(users), f"user {user['id']} missing in user list --domain: {users!r}")

    admin.run("user", "set", "--email", f"changed-{user_name}@example.com", "--description",
              "second", user["id"], want_json=False)
    shown = admin.run("user", "show", user["id"])
    check(shown.get("email") == f"changed-{user_name}@example.com"
          and shown.get("description") == "second",
          f"user set --email --description did not read back: {shown!r}")
    admin.run("user", "set", "--disable", user["id"], want_json=False)
    check(admin.run("user", "show", user["id"]).get("enabled") is False,
          "user set --disable did not read back")
    admin.run("user", "set", "--enable", user["id"], want_json=False)
    check(admin.run("user", "show", user["id"]).get("enabled") is True,
          "user set --enable did not read back")

    # group create / add user / list
    group_name = f"osc-group-{suffix}"
    group = admin.run("group", "create", "--domain", DOMAIN, "--description",
                      "made by openstackclient", group_name)
    check(group.get("name") == group_name and group.get("id"), f"group create returned {group!r}")
    admin.run("group", "add", "user", group["id"], user["id"], want_json=False)
    groups = admin.run("group", "list")
    check(group["id"] in ids(groups), f"group {group['id']} missing in group list: {groups!r}")
    groups = admin.run("group", "list", "--user", user["id"])
    check(ids(groups) == {group["id"]},
          f"group list --user {user['id']} should list exactly the group: {groups!r}")

    # role create / add / assignment list
    role_name = f"osc-role-{suffix}"
    role = admin.run("role", "create", role_name)
    check(role.get("name") == role_name and role.get("id"), f"role create returned {role!r}")
    admin.run("role", "add", "--user", user["id"], "--project", project["id"], role_name,
              want_json=False)
    assignments = admin.run("role", "assignment", "list", "--user", user["id"], "--project",
                            project["id"], "--names")
    want = {"Role": role_name, "User": f"{user_name}@{DOMAIN}",
            "Project": f"{project_name}@{DOMAIN}"}
    check(any(all(row.get(k) == v for k, v in want.items()) for row in assignments),
          f"role assignment list --names should show {want!r}: {assignments!r}")
    assignments = admin.run("role", "assignment", "list", "--user", user["id"])
    check(any(row.get("Role") == role["id"] and row.get("Project") == project["id"]
              for row in assignments),
          f"role assignment list --user should show role {role['id']} on project "
          f"{project['id']}: {assignments!r}")
    admin.run("role", "add", "--group", group["id"], "--domain", DOMAIN, role_name,
              want_json=False)
    assignments = admin.run("role", "assignment", "list", "--group", group["id"], "--names")
    check(any(row.get("Role") == role_name and row.get("Domain") == DOMAIN
              for row in assignments),
          f"role assignment list --group --names should show {role_name} on {DOMAIN}: "
          f"{assignments!r}")

    # The grant is real: the user obtains a token scoped to the project with the role.
    as_user = Cli(clouds_yaml(home, "warden-user", user_name, password, project_name),
                  "warden-user")
    token = as_user.run("token", "issue")
    check(token.get("user_id") == user["id"] and token.get("project_id") == project["id"],
          f"the user's token should be for user {user['id']} on project {project['id']}: "
          f"{token!r}")

    # user delete: gone from show and list.
    admin.run("user", "delete", user["id"], want_json=False)
    stderr = admin.refuses("user", "show", user["id"])
    check(any(words in stderr.lower() for words in ("no user", "not found", "could not find")),
          f"user show of a deleted user should say it is not found, said:\n{stderr}")
    users = admin.run("user", "list")
    check(user["id"] not in ids(users), f"deleted user {user['id']} still listed: {users!r}")

    print("openstack cli: ok")


if __name__ == "__main__":
    main()
