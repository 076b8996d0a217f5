//! The result table.

use std::fmt::Write as _;

use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Pass,
    Miss,
    /// Reported without a target.
    Info,
    Skipped,
}

impl Verdict {
    pub fn of(pass: bool) -> Verdict {
        if pass {
            Verdict::Pass
        } else {
            Verdict::Miss
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Miss => "MISS",
            Verdict::Info => "info",
            Verdict::Skipped => "skipped",
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Row {
    pub id: String,
    pub workload: String,
    pub rate: Option<f64>,
    pub p50_us: Option<u64>,
    pub p99_us: Option<u64>,
    pub cpu_us: Option<f64>,
    /// The baseline's rate, or the figure compared against.
    pub baseline: String,
    pub ratio: String,
    pub target: String,
    pub verdict: Verdict,
    /// Answers outside 2xx, by status, and other remarks.
    pub note: String,
}

impl Row {
    pub fn new(id: &str, workload: &str) -> Row {
        Row {
            id: id.to_owned(),
            workload: workload.to_owned(),
            rate: None,
            p50_us: None,
            p99_us: None,
            cpu_us: None,
            baseline: String::new(),
            ratio: String::new(),
            target: String::new(),
            verdict: Verdict::Info,
            note: String::new(),
        }
    }
}

pub fn fmt_rate(rate: f64) -> String {
    if rate >= 100.0 {
        format!("{rate:.0}")
    } else {
        format!("{rate:.1}")
    }
}

pub fn fmt_us(us: u64) -> String {
    if us >= 10_000 {
        format!("{:.0} ms", us as f64 / 1000.0)
    } else if us >= 1000 {
        format!("{:.2} ms", us as f64 / 1000.0)
    } else {
        format!("{us} µs")
    }
}

pub fn fmt_mb(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1_000_000.0)
}

const HEADERS: [&str; 11] = [
    "id",
    "workload",
    "req/s",
    "p50",
    "p99",
    "server CPU µs/req",
    "baseline",
    "ratio",
    "target",
    "result",
    "non-2xx / notes",
];

fn cells(row: &Row) -> [String; 11] {
    [
        row.id.clone(),
        row.workload.clone(),
        row.rate.map(fmt_rate).unwrap_or_else(|| "—".into()),
        row.p50_us.map(fmt_us).unwrap_or_else(|| "—".into()),
        row.p99_us.map(fmt_us).unwrap_or_else(|| "—".into()),
        row.cpu_us
            .map(|c| format!("{c:.1}"))
            .unwrap_or_else(|| "—".into()),
        if row.baseline.is_empty() {
            "—".into()
        } else {
            row.baseline.clone()
        },
        if row.ratio.is_empty() {
            "—".into()
        } else {
            row.ratio.clone()
        },
        if row.target.is_empty() {
            "—".into()
        } else {
            row.target.clone()
        },
        row.verdict.as_str().to_owned(),
        row.note.clone(),
    ]
}

/// A plain-text table aligned for a terminal.
pub fn text_table(rows: &[Row]) -> String {
    let all: Vec<[String; 11]> = rows.iter().map(cells).collect();
    let mut widths = HEADERS.map(|h| h.chars().count());
    for r in &all {
        for (w, c) in widths.iter_mut().zip(r.iter()) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: &[String]| {
        let mut s = String::new();
        for (i, (c, w)) in cells.iter().zip(widths.iter()).enumerate() {
            let pad = w - c.chars().count();
            // Numbers right-aligned, words left-aligned.
            if (2..=7).contains(&i) {
                s.push_str(&" ".repeat(pad));
                s.push_str(c);
            } else {
                s.push_str(c);
                s.push_str(&" ".repeat(pad));
            }
            s.push_str("  ");
        }
        s.trim_end().to_owned()
    };
    let mut out = String::new();
    let header: Vec<String> = HEADERS.iter().map(|h| (*h).to_owned()).collect();
    let _ = writeln!(out, "{}", line(&header));
    let _ = writeln!(
        out,
        "{}",
        "-".repeat(widths.iter().sum::<usize>() + 2 * widths.len())
    );
    for r in &all {
        let _ = writeln!(out, "{}", line(r));
    }
    out
}

/// The same table in Markdown.
pub fn markdown_table(rows: &[Row]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "| {} |", HEADERS.join(" | "));
    let _ = writeln!(out, "|{}", " --- |".repeat(HEADERS.len()));
    for r in rows {
        let c = cells(r).map(|c| c.replace('|', "\\|"));
        let _ = writeln!(out, "| {} |", c.join(" | "));
    }
    out
}
