//! What the connected server can do, from its `hello` reply.

use crate::config::Transactions;
use crate::errors::ctx;
use berth_core::Result;
use mongodb::bson::{doc, Document};
use mongodb::Client;

/// Facts about the server that decide how the backend writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerInfo {
    /// Multi-document transactions are available (replica set or mongos with sessions).
    pub transactions: bool,
}

impl ServerInfo {
    /// Reads the facts from a `hello` reply, as allowed by `mode`.
    pub fn from_hello(hello: &Document, mode: Transactions) -> Self {
        let sessions = hello
            .get("logicalSessionTimeoutMinutes")
            .is_some_and(|v| !matches!(v, mongodb::bson::Bson::Null));
        let replica_set = hello.get_str("setName").is_ok();
        let mongos = hello.get_str("msg") == Ok("isdbgrid");
        ServerInfo {
            transactions: mode == Transactions::Detect && sessions && (replica_set || mongos),
        }
    }

    /// Asks the server.
    pub async fn detect(client: &Client, mode: Transactions) -> Result<Self> {
        let hello = client
            .database("admin")
            .run_command(doc! {"hello": 1})
            .await
            .map_err(ctx("hello"))?;
        Ok(Self::from_hello(&hello, mode))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standalone_has_no_transactions() {
        let standalone = doc! {"isWritablePrimary": true, "logicalSessionTimeoutMinutes": 30};
        assert!(!ServerInfo::from_hello(&standalone, Transactions::Detect).transactions);
        let rs = doc! {"setName": "rs0", "logicalSessionTimeoutMinutes": 30};
        assert!(ServerInfo::from_hello(&rs, Transactions::Detect).transactions);
        assert!(!ServerInfo::from_hello(&rs, Transactions::Never).transactions);
        let mongos = doc! {"msg": "isdbgrid", "logicalSessionTimeoutMinutes": 30};
        assert!(ServerInfo::from_hello(&mongos, Transactions::Detect).transactions);
        assert!(
            !ServerInfo::from_hello(&doc! {"setName": "rs0"}, Transactions::Detect).transactions
        );
    }
}
