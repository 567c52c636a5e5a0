//! `SetArray`: the declaration that an array in a module's output is a set, so that order never
//! looks like change. Modules declare them in their spec; versioning canonicalizes and diffs by
//! them.

use serde::{Deserialize, Serialize};

/// A set-like array in a module's output: the JSON Pointer of the array (`*` matches any single
/// segment) and the field of each element that identifies it (`None` = the element itself).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetArray {
    pub pointer: String,
    pub key: Option<String>,
}

impl SetArray {
    /// A set array whose elements are identified by `key`.
    pub fn keyed(pointer: &str, key: &str) -> Self {
        SetArray {
            pointer: pointer.to_string(),
            key: Some(key.to_string()),
        }
    }

    /// A set array of scalars (or of whole elements compared as text).
    pub fn scalars(pointer: &str) -> Self {
        SetArray {
            pointer: pointer.to_string(),
            key: None,
        }
    }
}
