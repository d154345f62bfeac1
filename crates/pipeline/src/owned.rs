//! Commits made on behalf of the run's owner: under the engine's [`Claim`], every commit
//! carries the claim's fence (checked first in the batch), so once another owner has taken
//! the run over, nothing this engine commits is stored.

use crate::inner::EngineInner;
use berth_core::{write_fenced, Batch, Claim, Committed, Result};
use std::sync::Arc;

/// The claim an engine's commits are made under (see [`EngineBuilder::claim`](crate::EngineBuilder::claim)).
#[derive(Clone)]
pub(crate) struct OwnedBy(pub Arc<dyn Claim>);

impl std::fmt::Debug for OwnedBy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("OwnedBy").field(&self.0.fence()).finish()
    }
}

impl EngineInner {
    /// Commits the batch `build` makes, fenced when the engine has a claim (a lapse nobody
    /// used is renewed once and the batch built again). Returns the commit and the index of
    /// the first op of `build`'s batch in it.
    pub(crate) async fn commit_owned(
        &self,
        build: impl Fn() -> Result<Batch>,
    ) -> Result<(Committed, usize)> {
        let Some(OwnedBy(claim)) = &self.claim else {
            return Ok((self.store.commit(build()?).await?, 0));
        };
        let committed = write_fenced(claim.as_ref(), |fence| {
            let batch = build().map(|ops| {
                let mut batch = Batch::new();
                batch.fence(&fence);
                batch.extend(ops);
                batch
            });
            async move { self.store.commit(batch?).await }
        })
        .await?;
        Ok((committed, 1))
    }
}
