//! The partitions of an entity: a heat strip (one cell a partition, coloured by what
//! was found in it) and the table beneath it.

use super::*;

const EQUAL: &str = "#4caf7d";
const UNKNOWN: &str = "#c5ccd3";
const AMBER: &str = "#f0ad4e";
const RED_LOW: (u8, u8, u8) = (252, 187, 161);
const RED_HIGH: (u8, u8, u8) = (165, 15, 21);

/// How a partition looks on the heat strip.
#[derive(Clone, Copy)]
enum PartState {
    /// Digests equal, counts equal, no differing rows.
    Equal,
    /// Counts equal and no differing rows, but the digests were not compared.
    Unknown,
    /// No differing rows found, yet the digests or the counts differ.
    Amber,
    /// Missing, extra or changed rows.
    Diff,
}

impl PartState {
    fn of(p: &PartitionRow) -> PartState {
        if row_findings(p) > 0 {
            PartState::Diff
        } else if p.digest_equal == Some(false) || p.legacy_rows != p.target_rows {
            PartState::Amber
        } else if p.digest_equal == Some(true) {
            PartState::Equal
        } else {
            PartState::Unknown
        }
    }

    fn class(self) -> &'static str {
        match self {
            PartState::Equal => "part-equal",
            PartState::Unknown => "part-unknown",
            PartState::Amber => "part-amber",
            PartState::Diff => "part-diff",
        }
    }
}

fn row_findings(p: &PartitionRow) -> u64 {
    p.missing + p.extra + p.changed
}

/// A partition's colour: red, darker by the log of its findings against the most any
/// partition has.
fn colour(p: &PartitionRow, max_findings: u64) -> String {
    match PartState::of(p) {
        PartState::Equal => EQUAL.to_string(),
        PartState::Unknown => UNKNOWN.to_string(),
        PartState::Amber => AMBER.to_string(),
        PartState::Diff => {
            let t = (row_findings(p) as f64).ln_1p() / (max_findings.max(1) as f64).ln_1p();
            let mix =
                |a: u8, b: u8| (f64::from(a) + (f64::from(b) - f64::from(a)) * t).round() as u8;
            format!(
                "#{:02x}{:02x}{:02x}",
                mix(RED_LOW.0, RED_HIGH.0),
                mix(RED_LOW.1, RED_HIGH.1),
                mix(RED_LOW.2, RED_HIGH.2)
            )
        }
    }
}

fn partition_name(p: &PartitionRow) -> &str {
    p.partition.as_deref().unwrap_or("NULL")
}

pub(super) fn partitions(p: &Partitions) -> String {
    if p.rows.len() <= 1 {
        return String::new();
    }
    let mut s = String::from("<h3>Partitions</h3>\n");
    s += &format!(
        "<p>{} of {} partition digests equal.</p>\n",
        thousands(p.equal as u64),
        thousands(p.total as u64)
    );
    s += &partition_strip(&p.rows);
    s += &format!(
        "<p class=\"legend\"><span class=\"swatch\" style=\"background:{EQUAL}\"></span>equal \
         <span class=\"swatch\" style=\"background:{UNKNOWN}\"></span>not hashed \
         <span class=\"swatch\" style=\"background:{AMBER}\"></span>digest or count differs \
         <span class=\"swatch\" style=\"background:linear-gradient(90deg,{},{})\"></span>missing, extra or changed rows (darker: more)</p>\n",
        rgb(RED_LOW),
        rgb(RED_HIGH)
    );
    let rows: Vec<String> = p.rows.iter().map(partition_row).collect();
    s += &format!(
        "<details class=\"partitions\"><summary>Every partition ({})</summary>\n",
        p.rows.len()
    );
    s += &table(
        "",
        "partitions-table",
        &ths(&[
            ("Partition", ""),
            ("Legacy rows", "num"),
            ("Target rows", "num"),
            ("Digest equal", ""),
            ("Missing", "num"),
            ("Extra", "num"),
            ("Changed", "num"),
        ]),
        &rows,
    );
    s += "</details>\n";
    s
}

fn rgb(c: (u8, u8, u8)) -> String {
    format!("#{:02x}{:02x}{:02x}", c.0, c.1, c.2)
}

fn partition_row(p: &PartitionRow) -> String {
    let digest = match p.digest_equal {
        Some(true) => td("", "yes"),
        Some(false) => td("", "no"),
        None => td("na", "&ndash;"),
    };
    let cells = [
        td("", &value(p.partition.as_deref())),
        num(p.legacy_rows),
        num(p.target_rows),
        digest,
        num(p.missing),
        num(p.extra),
        num(p.changed),
    ];
    format!(
        "<tr class=\"{}\">{}</tr>\n",
        PartState::of(p).class(),
        cells.concat()
    )
}

/// The partitions as a strip of coloured cells, in order, each with its counts as a
/// tooltip, and the first and last partition under it.
fn partition_strip(rows: &[PartitionRow]) -> String {
    const WIDTH: u32 = 1000;
    const BAR: u32 = 32;
    const HEIGHT: u32 = 54;
    let step = f64::from(WIDTH) / rows.len() as f64;
    // A gap between cells while they are wide enough to show one.
    let width = if step >= 6.0 { step - 1.0 } else { step };
    let max = rows.iter().map(row_findings).max().unwrap_or(0);
    let mut s = format!(
        "<svg class=\"chart-partitions\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" width=\"{WIDTH}\" height=\"{HEIGHT}\" \
         preserveAspectRatio=\"xMinYMin meet\" shape-rendering=\"crispEdges\" role=\"img\" \
         aria-label=\"{} partitions\">\n",
        rows.len()
    );
    for (i, p) in rows.iter().enumerate() {
        s += &format!(
            "<rect class=\"{}\" x=\"{:.2}\" y=\"0\" width=\"{width:.2}\" height=\"{BAR}\" fill=\"{}\" data-partition=\"{}\"><title>{}</title></rect>\n",
            PartState::of(p).class(),
            step * i as f64,
            colour(p, max),
            esc(partition_name(p)),
            esc(&format!(
                "{}: legacy {}, target {} rows; missing {}, extra {}, changed {}",
                partition_name(p),
                p.legacy_rows,
                p.target_rows,
                p.missing,
                p.extra,
                p.changed
            ))
        );
    }
    let (first, last) = (&rows[0], &rows[rows.len() - 1]);
    s += &format!(
        "<text class=\"axis\" x=\"0\" y=\"{}\">{}</text>\n\
         <text class=\"axis\" x=\"{WIDTH}\" y=\"{}\" text-anchor=\"end\">{}</text>\n</svg>\n",
        BAR + 16,
        esc(&shorten(partition_name(first), 40)),
        BAR + 16,
        esc(&shorten(partition_name(last), 40))
    );
    s
}
