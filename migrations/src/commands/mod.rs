//! One module per subcommand.

pub mod down;
pub mod import;
pub mod status;
pub mod up;
pub mod verify;

use crate::connect::Target;
use berth_state_mongo::schema::Role;

/// Names of every collection the migrations manage.
pub(crate) fn managed(target: &Target) -> Vec<&str> {
    Role::ALL.iter().map(|r| r.name(&target.names)).collect()
}
