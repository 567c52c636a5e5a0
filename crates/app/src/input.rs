//! Streaming domain input: arguments, a plain list, or a CSV with a `domain` column, from a file
//! or standard input. Lines are read one at a time, so a file of a million lines is never held in
//! memory; invalid lines are reported (one line each) and the rest go on. A CSV may also carry
//! a `name` column (the company's own name) and a `cik` column (an SEC filer pin, or `none`):
//! they reach the modules as [`DomainHints`] through a [`HintBook`]. Every front end reads
//! domains this way: the CLI's arguments, files and standard input, the UI's pasted lists and
//! uploaded CSVs, the daemon's target files.

use crate::error::{AppError, AppResult};
use pforge_core::{Domain, DomainError, DomainHints, EntityPin, HintBook};
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
    spawn_reader_with_hints(source, None).await
}

/// Like [`spawn_reader`], and records each CSV line's `name` and `cik` cells in `hints` before
/// the line's domain is sent, so the executor can hand them to the modules.
pub async fn spawn_reader_with_hints(
    source: Source,
    hints: Option<HintBook>,
) -> AppResult<mpsc::Receiver<Item>> {
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
            let label = format!("input:{}", path.display());
            tokio::spawn(read_lines(BufReader::new(file), tx, hints, label));
        }
        Source::Stdin => {
            tokio::spawn(read_lines(
                BufReader::new(tokio::io::stdin()),
                tx,
                hints,
                "input:stdin".into(),
            ));
        }
        Source::Text(text) => {
            tokio::spawn(async move {
                read_lines(
                    BufReader::new(text.as_bytes()),
                    tx,
                    hints,
                    "input:text".into(),
                )
                .await
            });
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
async fn read_lines<R: AsyncBufRead + Unpin>(
    reader: R,
    tx: mpsc::Sender<Item>,
    hints: Option<HintBook>,
    label: String,
) {
    let mut seen = HashSet::new();
    let mut column: Option<usize> = None;
    let mut name_col: Option<usize> = None;
    let mut cik_col: Option<usize> = None;
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
            let find = |names: &[&str]| {
                cells
                    .iter()
                    .position(|c| names.iter().any(|n| c.trim().eq_ignore_ascii_case(n)))
            };
            if let Some(i) = find(&["domain"]) {
                column = Some(i);
                name_col = find(&["name", "company", "company_name"]);
                cik_col = find(&["cik", "sec_cik"]);
                continue;
            }
        }
        let cells = column.map(|_| split_csv(line));
        let hint = match cells.as_ref().map(|c| line_hints(c, name_col, cik_col)) {
            Some(Err(message)) => {
                let ok = tx
                    .send(Item::Invalid(InputError {
                        line: lineno,
                        message,
                    }))
                    .await
                    .is_ok();
                if !ok {
                    break;
                }
                continue;
            }
            Some(Ok(h)) => h,
            None => DomainHints::default(),
        };
        let value = match column {
            Some(i) => match cells.unwrap_or_default().into_iter().nth(i) {
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
        let parsed = Domain::parse(&value);
        if let (Some(book), Ok(d)) = (&hints, &parsed) {
            book.insert(
                d.clone(),
                DomainHints {
                    source: Some(format!("{label}:{lineno}")),
                    ..hint
                },
            );
        }
        if !emit(&tx, &mut seen, lineno, parsed).await {
            break;
        }
    }
}

/// The `name` and `cik` cells of one CSV line. A `cik` cell holds the SEC's CIK digits, `none`
/// (the company files nothing: reject every SEC match) or nothing.
fn line_hints(
    cells: &[String],
    name_col: Option<usize>,
    cik_col: Option<usize>,
) -> Result<DomainHints, String> {
    let cell = |i: Option<usize>| {
        i.and_then(|i| cells.get(i))
            .map(|c| c.trim().to_string())
            .filter(|c| !c.is_empty())
    };
    let sec_cik = match cell(cik_col) {
        None => None,
        Some(c) if c.eq_ignore_ascii_case("none") => Some(EntityPin::None),
        Some(c) if !c.is_empty() && c.len() <= 10 && c.chars().all(|x| x.is_ascii_digit()) => {
            Some(EntityPin::Is(format!("{:0>10}", c)))
        }
        Some(c) => {
            return Err(format!(
                "cik {c:?} is not a CIK: give the SEC's CIK digits (e.g. 320193), \"none\" to reject every SEC match, or leave the cell empty"
            ))
        }
    };
    Ok(DomainHints {
        name: cell(name_col),
        sec_cik,
        source: None,
    })
}

/// Reads the source fully, keeping what it says about each domain (a `domain,name` CSV's names,
/// pins), keyed by domain: a queued job stores them with its spec so that the worker that runs
/// a domain knows what the user said about it.
pub async fn read_all_with_hints(
    source: Source,
) -> AppResult<(
    Vec<Domain>,
    Vec<InputError>,
    std::collections::BTreeMap<String, pforge_core::DomainHints>,
)> {
    let book = pforge_core::HintBook::default();
    let mut rx = spawn_reader_with_hints(source, Some(book.clone())).await?;
    let (mut ok, mut bad, mut hints) = (Vec::new(), Vec::new(), std::collections::BTreeMap::new());
    while let Some(item) = rx.recv().await {
        match item {
            Item::Domain(d) => {
                if let Some(h) = book.get(&d).filter(|h| !h.is_empty()) {
                    hints.insert(d.as_str().to_string(), h);
                }
                ok.push(d)
            }
            Item::Invalid(e) => bad.push(e),
        }
    }
    Ok((ok, bad, hints))
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
        tokio::spawn(async move {
            read_lines(BufReader::new(&owned[..]), tx, None, "test".into()).await
        });
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

    #[tokio::test]
    async fn name_and_cik_columns_become_hints() {
        let book = HintBook::default();
        let (tx, mut rx) = mpsc::channel(16);
        let text = b"domain,name,cik\napple.com,Apple Inc.,320193\nacme.co,Acme,none\nx.com,X,12ab\nplain.io,,\n".to_vec();
        let b = book.clone();
        tokio::spawn(async move {
            read_lines(BufReader::new(&text[..]), tx, Some(b), "input:t.csv".into()).await
        });
        let mut bad = vec![];
        while let Some(item) = rx.recv().await {
            if let Item::Invalid(e) = item {
                bad.push((e.line, e.message));
            }
        }
        let apple = book.get(&Domain::parse("apple.com").unwrap()).unwrap();
        assert_eq!(apple.name.as_deref(), Some("Apple Inc."));
        assert_eq!(apple.sec_cik, Some(EntityPin::Is("0000320193".into())));
        assert_eq!(apple.source.as_deref(), Some("input:t.csv:2"));
        let acme = book.get(&Domain::parse("acme.co").unwrap()).unwrap();
        assert_eq!(acme.sec_cik, Some(EntityPin::None));
        assert!(book.get(&Domain::parse("plain.io").unwrap()).is_none());
        assert_eq!(bad.len(), 1);
        assert_eq!(bad[0].0, 4);
        assert!(bad[0].1.contains("\"12ab\""), "{}", bad[0].1);
    }
}
