//! A page of leaves read as one text: the audit's bulk read.
//!
//! Reading a page row by row costs an allocation per column and, with SQLite,
//! a hop between threads per row; the databases can instead pack the page
//! into one value, each row as `seq,idlen,kindlen,jsonlen,` followed by the
//! three texts (lengths in bytes). [`StatementPage::unpack`] checks every
//! length, the row count and that the leaf indexes increase, so a page that
//! does not unpack exactly, or in order, is an error, never a shorter page.

use super::{StoreError, StoredStatement};

/// One leaf of a [`StatementPage`], borrowed from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Leaf<'a> {
    /// Leaf index in the log.
    pub seq: i64,
    /// Statement id.
    pub id: &'a str,
    /// Kind.
    pub kind: &'a str,
    /// Stored JSON.
    pub json: &'a str,
}

/// Where one row's texts are in the page.
#[derive(Debug, Clone, Copy)]
struct Spans {
    seq: i64,
    id: (usize, usize),
    kind: (usize, usize),
    json: (usize, usize),
}

/// Leaves in log order, in one buffer.
#[derive(Debug, Default)]
pub struct StatementPage {
    text: String,
    rows: Vec<Spans>,
}

impl StatementPage {
    /// Unpacks `rows` packed rows in increasing leaf order; anything else is an error.
    pub fn unpack(text: String, rows: usize) -> Result<Self, StoreError> {
        let corrupt = |at: usize| {
            StoreError::Corrupt(format!(
                "packed page of {rows} statements does not unpack at byte {at}"
            ))
        };
        let mut spans = Vec::with_capacity(rows);
        let mut pos = 0;
        while pos < text.len() {
            let mut header = [0i64; 4];
            for h in &mut header {
                let end = text[pos..]
                    .find(',')
                    .map(|n| pos + n)
                    .ok_or_else(|| corrupt(pos))?;
                *h = text[pos..end].parse().map_err(|_| corrupt(pos))?;
                pos = end + 1;
            }
            let [seq, id, kind, json] = header;
            if spans.last().is_some_and(|last: &Spans| last.seq >= seq) {
                return Err(StoreError::Corrupt(format!(
                    "packed page is not in leaf order at leaf {seq}"
                )));
            }
            let mut take = |len: i64| -> Result<(usize, usize), StoreError> {
                let len = usize::try_from(len).map_err(|_| corrupt(pos))?;
                let end = pos.checked_add(len).ok_or_else(|| corrupt(pos))?;
                // Also rejects a length that ends inside a character.
                text.get(pos..end).ok_or_else(|| corrupt(pos))?;
                let span = (pos, end);
                pos = end;
                Ok(span)
            };
            spans.push(Spans {
                seq,
                id: take(id)?,
                kind: take(kind)?,
                json: take(json)?,
            });
        }
        if spans.len() != rows {
            return Err(StoreError::Corrupt(format!(
                "packed page holds {} statements where {rows} were counted",
                spans.len()
            )));
        }
        Ok(StatementPage { text, rows: spans })
    }

    /// The same page built from rows read one by one.
    pub fn from_rows(rows: &[StoredStatement]) -> Self {
        let mut text = String::with_capacity(rows.iter().map(|r| r.json.len() + 80).sum());
        let mut spans = Vec::with_capacity(rows.len());
        for r in rows {
            let mut push = |s: &str| {
                let start = text.len();
                text.push_str(s);
                (start, text.len())
            };
            spans.push(Spans {
                seq: r.seq,
                id: push(&r.id),
                kind: push(&r.kind),
                json: push(&r.json),
            });
        }
        StatementPage { text, rows: spans }
    }

    /// Number of leaves.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether the page holds no leaf.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The leaves in order.
    pub fn leaves(&self) -> impl ExactSizeIterator<Item = Leaf<'_>> + '_ {
        self.rows.iter().map(|s| Leaf {
            seq: s.seq,
            id: &self.text[s.id.0..s.id.1],
            kind: &self.text[s.kind.0..s.kind.1],
            json: &self.text[s.json.0..s.json.1],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(seq: i64, json: &str) -> StoredStatement {
        StoredStatement {
            seq,
            id: format!("id{seq}"),
            kind: "event".into(),
            party: String::new(),
            json: json.into(),
        }
    }

    fn packed(rows: &[StoredStatement]) -> String {
        rows.iter()
            .map(|r| {
                format!(
                    "{},{},{},{},{}{}{}",
                    r.seq,
                    r.id.len(),
                    r.kind.len(),
                    r.json.len(),
                    r.id,
                    r.kind,
                    r.json
                )
            })
            .collect()
    }

    #[test]
    fn unpacks_what_was_packed_including_commas_and_non_ascii() {
        let rows = [
            row(0, r#"{"a":"1,2,3,","sig":"x"}"#),
            row(1, "{\"ü☃\":\"\u{1F600}\"}"),
            row(2, ""),
        ];
        let page = StatementPage::unpack(packed(&rows), 3).unwrap();
        let direct = StatementPage::from_rows(&rows);
        let want: Vec<Leaf> = rows
            .iter()
            .map(|r| Leaf {
                seq: r.seq,
                id: &r.id,
                kind: &r.kind,
                json: &r.json,
            })
            .collect();
        assert_eq!(page.leaves().collect::<Vec<_>>(), want);
        assert_eq!(direct.leaves().collect::<Vec<_>>(), want);
        assert!(StatementPage::unpack(String::new(), 0).unwrap().is_empty());
    }

    #[test]
    fn a_page_that_does_not_unpack_exactly_is_an_error() {
        let rows = [row(0, "{\"ü\":1}"), row(1, "{}")];
        let good = packed(&rows);
        // Fewer rows than counted (a row lost on the way), or more.
        assert!(StatementPage::unpack(good.clone(), 3).is_err());
        assert!(StatementPage::unpack(good.clone(), 1).is_err());
        // Truncated, a length off by one, a bad header, a negative length.
        assert!(StatementPage::unpack(good[..good.len() - 1].to_owned(), 2).is_err());
        let off = good.replacen(",8,", ",7,", 1);
        assert!(StatementPage::unpack(off, 2).is_err());
        assert!(StatementPage::unpack(good.replacen("0,", "x,", 1), 2).is_err());
        assert!(StatementPage::unpack(good.replacen(",3,", ",-3,", 1), 2).is_err());
        // Out of leaf order.
        let swapped = packed(&[row(1, "{}"), row(0, "{}")]);
        assert!(StatementPage::unpack(swapped, 2).is_err());
    }
}
