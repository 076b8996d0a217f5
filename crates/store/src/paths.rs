//! The stored form of a tenant's place in the tree, shared by every backend: the ids from the
//! root down to the tenant, each followed by '/'. A subtree is then one contiguous range of
//! paths, which each backend scans through its path index.

use warden_domain::{Tenant, TenantId};

use crate::StoreError;

/// The stored path of `tenant`.
pub fn tenant_path(tenant: &Tenant) -> String {
    let mut path = String::new();
    for id in tenant.ancestors.iter().chain(std::iter::once(&tenant.id)) {
        path.push_str(&id.to_string());
        path.push('/');
    }
    path
}

/// The exclusive upper bound of the paths in the subtree at `path`: the same text with its
/// final '/' replaced by '0', the character right after '/', so every descendant sorts in
/// `[path, upper)` bytewise.
pub fn subtree_upper(path: &str) -> String {
    let mut upper = path.strip_suffix('/').unwrap_or(path).to_owned();
    upper.push('0');
    upper
}

/// `[low, high)`: every stored path inside the subtree at `path`, and nothing else.
pub fn subtree_range(path: &str) -> (String, String) {
    (path.to_owned(), subtree_upper(path))
}

/// The tenant ids a stored path lists, root first.
pub fn path_ids(path: &str) -> Result<Vec<TenantId>, StoreError> {
    path.split('/')
        .filter(|s| !s.is_empty())
        .map(|s| {
            TenantId::parse(s)
                .ok_or_else(|| StoreError::Internal("corrupt path in the database".to_owned()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_subtree_range_holds_descendants_and_nothing_else() {
        let root = TenantId::new_random();
        let child = TenantId::new_random();
        let path = format!("{root}/");
        let (low, high) = subtree_range(&path);
        let inside = format!("{root}/{child}/");
        assert!(low.as_str() <= path.as_str() && path.as_str() < high.as_str());
        assert!(low.as_str() <= inside.as_str() && inside.as_str() < high.as_str());
        // A sibling whose id shares every character but the last sorts outside.
        let root_text = root.to_string();
        let last = root_text.chars().last().unwrap();
        let next = if last == 'f' { 'e' } else { 'f' };
        let sibling = format!("{}{next}/", &root_text[..root_text.len() - 1]);
        assert!(!(low.as_str() <= sibling.as_str() && sibling.as_str() < high.as_str()));
        assert_eq!(path_ids(&inside).unwrap(), vec![root, child]);
        assert!(path_ids("nonsense/").is_err());
    }
}
