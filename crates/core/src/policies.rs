//! policies operations of the services.

use crate::Warden;

impl Warden {}
