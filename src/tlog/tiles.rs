//! C2SP tlog-tiles (<https://c2sp.org/tlog-tiles>): the tree served as
//! immutable tiles of 256 hashes and bundles of 256 entries, so a client can
//! rebuild any root or proof from cacheable files.
//!
//! A tile at level `L`, index `N` holds the hashes of the complete subtrees of
//! height `8·L` numbered `256·N … 256·N + W − 1`: level 0 is the leaf hashes,
//! level 1 the roots of each 256 leaves, and so on. Its path is
//! `tile/<L>/<N>[.p/<W>]`, `.p/<W>` only for a partial tile (`W` < 256). The
//! entry bundle `tile/entries/<N>[.p/<W>]` holds the same leaves' entries, each
//! with its length as a big-endian u16. `N` is written in groups of three
//! digits, all but the last prefixed with `x` (1234067 → `x001/x234/067`).

/// Height of a tile in tree levels.
pub const TILE_HEIGHT: u32 = 8;
/// Hashes in a full tile (and entries in a full bundle).
pub const TILE_WIDTH: u64 = 1 << TILE_HEIGHT;
/// Highest tile level: 64 tree levels of 8 would pass a u64 leaf count.
pub const MAX_LEVEL: u8 = 63;

/// What a tile path names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TileRef {
    /// Hashes at tile level `level`.
    Hashes {
        /// Tile level (tree height `8·level`).
        level: u8,
        /// Tile index within the level.
        index: u64,
        /// Hashes in the tile, 1 to 256.
        width: u64,
    },
    /// Entries of the leaves `256·index …`.
    Entries {
        /// Bundle index.
        index: u64,
        /// Entries in the bundle, 1 to 256.
        width: u64,
    },
}

/// Why a tile path was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("tile path \"{path}\": {why}")]
pub struct TilePathError {
    /// The path as given.
    pub path: String,
    /// What is wrong with it.
    pub why: String,
}

impl TileRef {
    /// Parses the part of a path after `tile/`.
    pub fn parse(path: &str) -> Result<TileRef, TilePathError> {
        let err = |why: &str| TilePathError {
            path: path.to_owned(),
            why: why.to_owned(),
        };
        let (head, rest) = path
            .split_once('/')
            .ok_or_else(|| err("expected <L>/<N> or entries/<N>"))?;
        let (index_part, width) = match rest.split_once(".p/") {
            Some((n, w)) => {
                let w = decimal(w).ok_or_else(|| err("the partial width is not a number"))?;
                if !(1..TILE_WIDTH).contains(&w) {
                    return Err(err("a partial width is 1 to 255"));
                }
                (n, w)
            }
            None => (rest, TILE_WIDTH),
        };
        let index = parse_index(index_part).ok_or_else(|| {
            err("the index must be 3-digit groups, all but the last starting with x (x001/x234/067)")
        })?;
        if head == "entries" {
            return Ok(TileRef::Entries { index, width });
        }
        let level = decimal(head)
            .filter(|l| *l <= u64::from(MAX_LEVEL))
            .ok_or_else(|| err("the level must be \"entries\" or a number 0 to 63"))?;
        Ok(TileRef::Hashes {
            level: level as u8,
            index,
            width,
        })
    }

    /// The path after `tile/`.
    pub fn path(&self) -> String {
        let (head, index, width) = match self {
            TileRef::Hashes {
                level,
                index,
                width,
            } => (level.to_string(), *index, *width),
            TileRef::Entries { index, width } => ("entries".to_owned(), *index, *width),
        };
        let mut p = format!("{head}/{}", encode_index(index));
        if width < TILE_WIDTH {
            p.push_str(&format!(".p/{width}"));
        }
        p
    }

    /// Whether the tile is full, hence never changes.
    pub fn is_full(&self) -> bool {
        match self {
            TileRef::Hashes { width, .. } | TileRef::Entries { width, .. } => *width == TILE_WIDTH,
        }
    }
}

/// A decimal number without leading zeros (the spec's form for `L` and `W`).
fn decimal(text: &str) -> Option<u64> {
    if text.is_empty() || text.len() > 20 || (text.len() > 1 && text.starts_with('0')) {
        return None;
    }
    if !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// `x001/x234/067` → 1234067.
fn parse_index(text: &str) -> Option<u64> {
    let groups: Vec<&str> = text.split('/').collect();
    let mut n: u64 = 0;
    for (i, g) in groups.iter().enumerate() {
        let last = i + 1 == groups.len();
        let digits = if last { *g } else { g.strip_prefix('x')? };
        if digits.len() != 3 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        n = n
            .checked_mul(1000)?
            .checked_add(digits.parse::<u64>().ok()?)?;
    }
    Some(n)
}

/// 1234067 → `x001/x234/067`.
pub fn encode_index(n: u64) -> String {
    let mut groups = vec![format!("{:03}", n % 1000)];
    let mut rest = n / 1000;
    while rest > 0 {
        groups.push(format!("x{:03}", rest % 1000));
        rest /= 1000;
    }
    groups.reverse();
    groups.join("/")
}

/// Concatenates entries as an entry bundle: each one's length as a big-endian
/// u16, then its bytes. `None` if an entry is longer than 65,535 bytes.
pub fn entry_bundle<'a>(entries: impl IntoIterator<Item = &'a [u8]>) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    for e in entries {
        let len = u16::try_from(e.len()).ok()?;
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(e);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tlog::merkle::{leaf_hash, node_hash, Tree};

    #[test]
    fn indexes_are_written_in_groups_of_three() {
        for (n, text) in [
            (0, "000"),
            (7, "007"),
            (999, "999"),
            (1000, "x001/000"),
            (1234067, "x001/x234/067"),
        ] {
            assert_eq!(encode_index(n), text);
            assert_eq!(parse_index(text), Some(n));
        }
        assert_eq!(parse_index("1234"), None);
        assert_eq!(parse_index("001/234"), None, "x prefix missing");
        assert_eq!(parse_index("x001/x234"), None, "last group has no x");
    }

    #[test]
    fn paths_round_trip_and_bad_ones_are_refused() {
        for t in [
            TileRef::Hashes {
                level: 0,
                index: 1234067,
                width: 256,
            },
            TileRef::Hashes {
                level: 2,
                index: 0,
                width: 17,
            },
            TileRef::Entries {
                index: 1000,
                width: 1,
            },
        ] {
            assert_eq!(TileRef::parse(&t.path()), Ok(t), "{}", t.path());
        }
        assert_eq!(
            TileRef::parse("1/x001/000.p/5").map(|t| t.path()),
            Ok("1/x001/000.p/5".into())
        );
        for bad in [
            "",
            "0",
            "01/000",
            "64/000",
            "0/000.p/0",
            "0/000.p/256",
            "0/000.p/07",
            "0/0000",
            "0/x000",
            "a/000",
            "entries/12",
        ] {
            assert!(TileRef::parse(bad).is_err(), "{bad}");
        }
    }

    /// RFC 6962 root of complete subtree hashes of equal size, bottom-up
    /// (a lone last node moves up unchanged, which matches the split rule).
    fn pairwise(hashes: &[[u8; 32]]) -> [u8; 32] {
        let mut level = hashes.to_vec();
        while level.len() > 1 {
            level = level
                .chunks(2)
                .map(|c| match c {
                    [l, r] => node_hash(l, r),
                    [one] => *one,
                    _ => unreachable!("chunks of at most two"),
                })
                .collect();
        }
        level[0]
    }

    #[test]
    fn tile_hashes_rebuild_the_tree() {
        // 70,000 leaves reach tile level 2 (a level-2 hash covers 65,536).
        let leaves: Vec<_> = (0u32..70_000)
            .map(|i| leaf_hash(&i.to_be_bytes()))
            .collect();
        let tree = Tree::from_leaves(leaves.iter().copied());
        // Level 1, tile 0, hash 3 is the root of leaves 768..1024.
        let t = tree.tile(1, 0, 256).expect("full level-1 tile");
        let sub = Tree::from_leaves(leaves[768..1024].iter().copied());
        assert_eq!(t[3], sub.root(256).unwrap());
        // Level 2 has one complete hash, the first 65,536 leaves; asking for
        // more than exists, or a width over 256, is refused.
        let l2 = tree.tile(2, 0, 1).unwrap();
        assert_eq!(l2, vec![tree.root(65_536).unwrap()]);
        assert!(tree.tile(2, 0, 2).is_err());
        assert!(tree.tile(1, 0, 257).is_err());
        assert!(tree.tile(0, 0, 0).is_err());
        // The root at 70,000 from tiles alone: 65,536 | 4,096 | 256 | 112 leaves.
        let l1 = tree.tile(1, 1, 17).unwrap(); // level-1 hashes 256..=272
        let l0 = tree.tile(0, 273, 112).unwrap(); // leaves 69,888..70,000
        assert_eq!(l0, leaves[69_888..].to_vec());
        let right = node_hash(&pairwise(&l1[..16]), &node_hash(&l1[16], &pairwise(&l0)));
        assert_eq!(node_hash(&l2[0], &right), tree.root(70_000).unwrap());
    }

    #[test]
    fn bundles_prefix_each_entry_with_its_length() {
        let b = entry_bundle([&b"ab"[..], &b""[..], &[7u8; 300][..]]).unwrap();
        assert_eq!(&b[..4], &[0, 2, b'a', b'b']);
        assert_eq!(&b[4..6], &[0, 0]);
        assert_eq!(&b[6..8], &300u16.to_be_bytes());
        assert_eq!(b.len(), 8 + 300);
        assert!(entry_bundle([&vec![0u8; 70_000][..]]).is_none());
    }
}
