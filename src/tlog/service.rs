//! The server's keeper of the transparency log: the tree of every leaf in the
//! store, kept in memory and extended as the store grows, and checkpoint signing
//! under the durability rule of DESIGN.md.
//!
//! Costs: opening reads every leaf hash once (O(n), ~64 bytes of memory per
//! leaf for all complete subtree hashes); after that a sync reads only the new
//! leaves, and a root, inclusion proof or consistency proof for any size takes
//! O(log n) hash operations on the cached subtrees (no store reads).
//!
//! Several servers may share one database: each keeps its own tree from the same
//! leaves, so they agree, and each refuses to sign anything that is not an
//! extension of both the database's last checkpoint and the last one it signed
//! itself (kept in a local file, so that a restore of the database from an old
//! backup is noticed even though the checkpoints table went back with it).

use ed25519_dalek::SigningKey;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use super::merkle::{Hash, MerkleError, Tree};
use super::note::{Checkpoint, NoteError, Verifier};
use crate::store::{DynStore, StoreError, StoredCheckpoint};

/// Leaves read from the store per query when catching up.
const SYNC_CHUNK: i64 = 50_000;

/// Why the log refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A tree argument was out of range.
    #[error(transparent)]
    Merkle(#[from] MerkleError),
    /// A note could not be made or read.
    #[error(transparent)]
    Note(#[from] NoteError),
    /// The database has fewer leaves than a checkpoint already signed.
    #[error("the database is behind the last signed checkpoint ({source_of_checkpoint}: size {signed}, database: {size}); was it restored from an old backup?")]
    Behind {
        /// Where the checkpoint was kept.
        source_of_checkpoint: &'static str,
        /// Its size.
        signed: u64,
        /// Leaves in the database.
        size: u64,
    },
    /// The database's tree does not extend a signed checkpoint.
    #[error("the database's tree at size {size} does not match the signed checkpoint ({source_of_checkpoint}): the log was rewritten")]
    Forked {
        /// Where the checkpoint was kept.
        source_of_checkpoint: &'static str,
        /// The size compared.
        size: u64,
    },
    /// A stored value does not parse.
    #[error("corrupt log data: {0}")]
    Corrupt(String),
    /// The local checkpoint file could not be written or read.
    #[error("checkpoint file {path}: {message}")]
    File {
        /// The file.
        path: String,
        /// What failed.
        message: String,
    },
}

/// The tree over the store, the log key and the last checkpoint signed.
#[derive(Debug)]
pub struct LogService {
    store: DynStore,
    key: SigningKey,
    verifier: Verifier,
    state_file: Option<PathBuf>,
    tree: RwLock<Tree>,
    /// Serialises syncs and signing within this process.
    lock: tokio::sync::Mutex<()>,
}

/// The default origin (and key name) of a log: stable for a given key.
pub fn default_origin(key: &SigningKey) -> String {
    format!(
        "suyuan.log/{}",
        crate::formats::sign::key_id(&key.verifying_key())
    )
}

fn parse_hash(hex_text: &str) -> Result<Hash, LogError> {
    hex::decode(hex_text)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| LogError::Corrupt(format!("hash \"{hex_text}\" is not 32 bytes of hex")))
}

impl LogService {
    /// Loads the tree from the store and checks it extends every checkpoint known:
    /// the database's latest and this server's own (in `state_file`).
    pub async fn open(
        store: DynStore,
        key: SigningKey,
        origin: Option<String>,
        state_file: Option<PathBuf>,
    ) -> Result<Arc<Self>, LogError> {
        let origin = origin.unwrap_or_else(|| default_origin(&key));
        let verifier = Verifier::new(&origin, key.verifying_key())?;
        let log = Arc::new(LogService {
            store,
            key,
            verifier,
            state_file,
            tree: RwLock::new(Tree::new()),
            lock: tokio::sync::Mutex::new(()),
        });
        let _guard = log.lock.lock().await;
        log.sync_locked().await?;
        if let Some(cp) = log.store.latest_checkpoint().await? {
            log.check_extends(&cp, "database")?;
        }
        if let Some(cp) = log.read_state_file()? {
            log.check_extends(&cp, "this server's checkpoint file")?;
        }
        drop(_guard);
        Ok(log)
    }

    /// The verifier key of checkpoints this server signs.
    pub fn verifier(&self) -> &Verifier {
        &self.verifier
    }

    /// Leaves in the in-memory tree.
    pub fn size(&self) -> u64 {
        self.tree.read().map(|t| t.size()).unwrap_or(0)
    }

    fn with_tree<T>(&self, f: impl FnOnce(&Tree) -> T) -> Result<T, LogError> {
        let t = self
            .tree
            .read()
            .map_err(|_| LogError::Corrupt("the tree lock is poisoned".into()))?;
        Ok(f(&t))
    }

    fn check_extends(&self, cp: &StoredCheckpoint, from: &'static str) -> Result<(), LogError> {
        let size = u64::try_from(cp.size).map_err(|_| LogError::Corrupt("negative size".into()))?;
        let want = parse_hash(&cp.root)?;
        let (have_size, root) = self.with_tree(|t| (t.size(), t.root(size.min(t.size()))))?;
        if size > have_size {
            return Err(LogError::Behind {
                source_of_checkpoint: from,
                signed: size,
                size: have_size,
            });
        }
        if root? != want {
            return Err(LogError::Forked {
                source_of_checkpoint: from,
                size,
            });
        }
        Ok(())
    }

    /// Reads leaves the store has beyond the tree. Caller holds `lock`.
    async fn sync_locked(&self) -> Result<u64, LogError> {
        let target = self.store.log_size().await?;
        let mut have = self.size() as i64;
        while have < target {
            let to = (have + SYNC_CHUNK).min(target);
            let hashes = self.store.leaf_hashes(have, to).await?;
            if hashes.len() as i64 != to - have {
                return Err(LogError::Corrupt(format!(
                    "leaves {have}..{to}: the store returned {} leaf hashes; a leaf is missing",
                    hashes.len()
                )));
            }
            let parsed: Vec<Hash> = hashes
                .iter()
                .map(|h| parse_hash(h))
                .collect::<Result<_, _>>()?;
            let mut t = self
                .tree
                .write()
                .map_err(|_| LogError::Corrupt("the tree lock is poisoned".into()))?;
            for h in parsed {
                t.push(h);
            }
            have = to;
        }
        Ok(have as u64)
    }

    /// Catches up with the store; returns the tree size.
    pub async fn sync(&self) -> Result<u64, LogError> {
        let _guard = self.lock.lock().await;
        self.sync_locked().await
    }

    /// The latest checkpoint, signing a new one first if the tree has grown.
    ///
    /// A new checkpoint is signed only if the tree extends the database's last
    /// checkpoint and this server's own; it is written to the local file and the
    /// database before it is returned.
    pub async fn checkpoint(&self) -> Result<StoredCheckpoint, LogError> {
        let _guard = self.lock.lock().await;
        // Read the checkpoints before the leaves: another server sharing the database
        // (and maybe the data dir) only signs sizes already committed, so the sync
        // below always reaches them.
        let latest = self.store.latest_checkpoint().await?;
        let own = self.read_state_file()?;
        let size = self.sync_locked().await?;
        if let Some(cp) = &latest {
            self.check_extends(cp, "database")?;
        }
        if let Some(cp) = &own {
            self.check_extends(cp, "this server's checkpoint file")?;
        }
        let ours = self.verifier.to_string();
        if let Some(cp) = latest {
            if cp.size as u64 == size && cp.verifier == ours {
                return Ok(cp);
            }
        }
        let root = self.with_tree(|t| t.root(size))??;
        let note = Checkpoint {
            origin: self.verifier.name.clone(),
            size,
            root,
        }
        .sign(&self.key)?;
        let cp = StoredCheckpoint {
            size: size as i64,
            root: hex::encode(root),
            note,
            verifier: ours,
        };
        self.write_state_file(&cp)?;
        self.store.put_checkpoint(&cp).await?;
        Ok(cp)
    }

    /// Root of the tree at `size` (which must not exceed the store's size).
    pub async fn root(&self, size: u64) -> Result<Hash, LogError> {
        self.ensure(size).await?;
        Ok(self.with_tree(|t| t.root(size))??)
    }

    /// The leaf hash at `index`.
    pub async fn leaf(&self, index: u64) -> Result<Hash, LogError> {
        self.ensure(index + 1).await?;
        self.with_tree(|t| t.leaf(index))?
            .ok_or(LogError::Merkle(MerkleError::OutOfRange {
                what: "leaf index",
                value: index,
                size: self.size(),
            }))
    }

    /// Inclusion proof of leaf `index` in the tree of `size` leaves.
    pub async fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Hash>, LogError> {
        self.ensure(size).await?;
        Ok(self.with_tree(|t| t.inclusion_proof(index, size))??)
    }

    /// Consistency proof between two tree sizes.
    pub async fn consistency_proof(&self, from: u64, to: u64) -> Result<Vec<Hash>, LogError> {
        self.ensure(to).await?;
        Ok(self.with_tree(|t| t.consistency_proof(from, to))??)
    }

    /// One C2SP tile's hashes, concatenated (see [`crate::tlog::tiles`]).
    pub async fn tile(&self, level: u8, index: u64, width: u64) -> Result<Vec<u8>, LogError> {
        use crate::tlog::tiles::{TILE_HEIGHT, TILE_WIDTH};
        // Leaves the tile needs; past u64 means it cannot exist.
        let leaves = index
            .checked_mul(TILE_WIDTH)
            .and_then(|s| s.checked_add(width))
            .and_then(|end| {
                let shift = u32::from(level) * TILE_HEIGHT;
                (shift < 64)
                    .then(|| end.checked_mul(1u64 << shift))
                    .flatten()
            })
            .unwrap_or(u64::MAX);
        // The store is asked only when the tree in memory is too small, and a
        // sync is run only for a tile the store can fill.
        if leaves > self.size() && leaves <= self.store.log_size().await? as u64 {
            self.sync().await?;
        }
        Ok(self.with_tree(|t| t.tile(level, index, width))??.concat())
    }

    async fn ensure(&self, size: u64) -> Result<(), LogError> {
        if size > self.size() {
            self.sync().await?;
        }
        Ok(())
    }

    /// Signs a checkpoint every `every` when the log has grown; runs until dropped.
    pub async fn tick(self: Arc<Self>, every: Duration) {
        let mut last = 0i64;
        loop {
            tokio::time::sleep(every).await;
            match self.store.log_size().await {
                Ok(n) if n > last => match self.checkpoint().await {
                    Ok(cp) => last = cp.size,
                    Err(e) => tracing::error!(error = %e, "checkpoint signing failed"),
                },
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "cannot read the log size"),
            }
        }
    }

    fn read_state_file(&self) -> Result<Option<StoredCheckpoint>, LogError> {
        let Some(path) = &self.state_file else {
            return Ok(None);
        };
        let err = |m: String| LogError::File {
            path: path.display().to_string(),
            message: m,
        };
        match std::fs::read_to_string(path) {
            Ok(text) => serde_json::from_str(&text)
                .map(Some)
                .map_err(|e| err(e.to_string())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(err(e.to_string())),
        }
    }

    /// Writes the checkpoint to the local file durably (temp file, fsync, rename, fsync dir).
    fn write_state_file(&self, cp: &StoredCheckpoint) -> Result<(), LogError> {
        use std::io::Write;
        let Some(path) = &self.state_file else {
            return Ok(());
        };
        let err = |e: std::io::Error| LogError::File {
            path: path.display().to_string(),
            message: e.to_string(),
        };
        let text =
            serde_json::to_string_pretty(cp).map_err(|e| LogError::Corrupt(e.to_string()))?;
        let tmp = path.with_extension("tmp");
        let mut f = std::fs::File::create(&tmp).map_err(err)?;
        f.write_all(text.as_bytes()).map_err(err)?;
        f.sync_all().map_err(err)?;
        std::fs::rename(&tmp, path).map_err(err)?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            if let Ok(d) = std::fs::File::open(dir) {
                let _ = d.sync_all();
            }
        }
        Ok(())
    }
}
