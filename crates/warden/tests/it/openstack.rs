//! python-openstackclient, unmodified and pinned (`compat/openstack/requirements.txt`), drives
//! the keystone face through a password-authenticated `clouds.yaml` profile
//! (`compat/openstack_cli.py`): `token issue`; `user create/set/show/list/delete`; `project
//! create/list/show`; `domain create/list`; `group create/add user/list`; `role create/add`
//! and `role assignment list`. The test command installs the clients into `.venv-openstack`
//! and names its bin directory in `OPENSTACK_BIN`.

use std::path::PathBuf;

use crate::compat::run_script;

/// The bin directory of the virtualenv holding python-openstackclient and Tempest.
pub fn openstack_bin() -> PathBuf {
    let dir = std::env::var_os("OPENSTACK_BIN").map(PathBuf::from).expect(
        "OPENSTACK_BIN is not set: run the test command from the README (scripts/test), \
         which installs the pinned OpenStack clients into .venv-openstack and sets it",
    );
    for tool in ["python", "openstack", "tempest"] {
        assert!(
            dir.join(tool).exists(),
            "OPENSTACK_BIN is {}, which holds no {tool}",
            dir.display()
        );
    }
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openstackclient_manages_users_projects_domains_groups_and_roles() {
    let bin = openstack_bin();
    let out = run_script(
        bin.join("python"),
        "openstack_cli.py",
        &[("OPENSTACK_BIN", bin.clone())],
    )
    .await;
    assert!(
        out.lines().any(|l| l == "openstack cli: ok"),
        "openstack_cli.py did not finish:\n{out}"
    );
}
