//! Streaming domain input: arguments, a plain list, or a CSV with a `domain` column, from a file
//! or standard input. Lines are read one at a time, so a file of a million lines is never held in
//! memory; invalid lines are reported (one line each) and the rest go on. Every front end reads
//! domains this way: the CLI's arguments, files and standard input, the UI's pasted lists and
//! uploaded CSVs, the daemon's target files.

use crate::error::{AppError, AppResult};
use pforge_core::{Domain, DomainError};
use std::collections::HashSet;
use std::path::PathBuf;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, BufReader};
use tokio::sync::mpsc;

/// Where the domains come from.
#[derive(Debug, Clone)]
pub enum Source {
    /// One domain per value (command-line arguments, a JSON list).
    Args(Vec<String>),
    /// A file: a plain list, or a CSV with a `domain` column.
    File(PathBuf),
    /// Standard input, read like a file.
    Stdin,
    /// Text already in memory (a pasted list, an uploaded CSV), read like a file.
    Text(String),
}

/// An input line that is not a domain.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct InputError {
    /// 1-based line (or argument) number.
    pub line: u64,
    pub message: String,
}

/// What the reader task reports: a domain to enrich or a bad line.
pub enum Item {
    Domain(Domain),
    Invalid(InputError),
}

/// Starts reading `source` on a task; items arrive on the returned channel in input order.
/// Duplicates (after normalization) are dropped so a domain is enriched once per run.
pub async fn spawn_reader(source: Source) -> AppResult<mpsc::Receiver<Item>> {
    let (tx, rx) = mpsc::channel(256);
    match source {
        Source::Args(args) => {
            tokio::spawn(async move {
                let mut seen = HashSet::new();
                for (i, a) in args.iter().enumerate() {
                    if !emit(&tx, &mut seen, i as u64 + 1, Domain::parse(a)).await {
                        break;
                    }
                }
            });
        }
        Source::File(path) => {
            let file = tokio::fs::File::open(&path).await.map_err(|e| {
                AppError::invalid(format!(
                    "cannot open input file {} (check the path): {e}",
                    path.display()
                ))
            })?;
            tokio::spawn(read_lines(BufReader::new(file), tx));
        }
        Source::Stdin => {
            tokio::spawn(read_lines(BufReader::new(tokio::io::stdin()), tx));
        }
        Source::Text(text) => {
            tokio::spawn(async move { read_lines(BufReader::new(text.as_bytes()), tx).await });
        }
    }
    Ok(rx)
}

async fn emit(
    tx: &mpsc::Sender<Item>,
    seen: &mut HashSet<String>,
    line: u64,
    parsed: Result<Domain, DomainError>,
) -> bool {
    let item = match parsed {
        Ok(d) => {
            if !seen.insert(d.as_str().to_string()) {
                return true;
            }
            Item::Domain(d)
        }
        Err(e) => Item::Invalid(InputError {
            line,
            message: e.to_string(),
        }),
    };
    tx.send(item).await.is_ok()
}

/// Reads a plain list or CSV line by line. The first non-empty line decides: if it is a CSV
/// header with a `domain` column, that column is used; otherwise every line is a domain.
async fn read_lines<R: AsyncBufRead + Unpin>(reader: R, tx: mpsc::Sender<Item>) {
    let mut seen = HashSet::new();
    let mut column: Option<usize> = None;
    let mut first = true;
    let mut lineno = 0u64;
    let mut split = reader.split(b'\n');
    loop {
        let raw = match split.next_segment().await {
            Ok(Some(raw)) => raw,
            Ok(None) => break,
            Err(e) => {
                let _ = tx
                    .send(Item::Invalid(InputError {
                        line: lineno + 1,
                        message: format!("cannot read input: {e}"),
                    }))
                    .await;
                break;
            }
        };
        lineno += 1;
        let line = String::from_utf8_lossy(&raw);
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        if first {
            first = false;
            let cells = split_csv(line);
            if let Some(i) = cells
                .iter()
                .position(|c| c.trim().eq_ignore_ascii_case("domain"))
            {
                column = Some(i);
                continue;
            }
        }
        let value = match column {
            Some(i) => match split_csv(line).into_iter().nth(i) {
                Some(v) => v,
                None => {
                    let ok = tx
                        .send(Item::Invalid(InputError {
                            line: lineno,
                            message: format!(
                                "CSV line has no column {} (the `domain` column); check the delimiter and quoting",
                                i + 1
                            ),
                        }))
                        .await
                        .is_ok();
                    if !ok {
                        break;
                    }
                    continue;
                }
            },
            None => line.to_string(),
        };
        if !emit(&tx, &mut seen, lineno, Domain::parse(&value)).await {
            break;
        }
    }
}

/// Reads every item of `source` into valid domains and bad lines (for front ends that need the
/// whole list before acting, e.g. to queue a job in one transaction).
pub async fn read_all(source: Source) -> AppResult<(Vec<Domain>, Vec<InputError>)> {
    let mut rx = spawn_reader(source).await?;
    let (mut ok, mut bad) = (Vec::new(), Vec::new());
    while let Some(item) = rx.recv().await {
        match item {
            Item::Domain(d) => ok.push(d),
            Item::Invalid(e) => bad.push(e),
        }
    }
    Ok((ok, bad))
}

/// Splits one CSV line on commas, honouring double quotes (`""` inside quotes is a quote).
fn split_csv(line: &str) -> Vec<String> {
    let mut cells = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => cells.push(std::mem::take(&mut cur)),
            (c, _) => cur.push(c),
        }
    }
    cells.push(cur);
    cells
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_split_handles_quotes() {
        assert_eq!(split_csv("a,b"), vec!["a", "b"]);
        assert_eq!(split_csv("\"x, y\",z"), vec!["x, y", "z"]);
        assert_eq!(split_csv("\"say \"\"hi\"\"\",1"), vec!["say \"hi\"", "1"]);
        assert_eq!(split_csv(""), vec![""]);
    }

    async fn collect(text: &str) -> (Vec<String>, Vec<u64>) {
        let (tx, mut rx) = mpsc::channel(16);
        let owned = text.as_bytes().to_vec();
        tokio::spawn(async move { read_lines(BufReader::new(&owned[..]), tx).await });
        let (mut ok, mut bad) = (vec![], vec![]);
        while let Some(item) = rx.recv().await {
            match item {
                Item::Domain(d) => ok.push(d.to_string()),
                Item::Invalid(e) => bad.push(e.line),
            }
        }
        (ok, bad)
    }

    #[tokio::test]
    async fn plain_list_with_comments_blank_lines_and_duplicates() {
        let (ok, bad) = collect(
            "# list\nstripe.com\n\nhttps://www.Stripe.com/x\nnot a domain\nexample.co.uk\n",
        )
        .await;
        assert_eq!(ok, vec!["stripe.com", "example.co.uk"]);
        assert_eq!(bad, vec![5]);
    }

    #[tokio::test]
    async fn csv_with_domain_column() {
        let (ok, bad) =
            collect("name,domain\r\n\"Stripe, Inc\",stripe.com\r\nAcme,\r\nShort\n").await;
        assert_eq!(ok, vec!["stripe.com"]);
        assert_eq!(bad, vec![3, 4]);
    }
}
