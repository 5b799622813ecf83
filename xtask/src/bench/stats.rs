//! Latency statistics.

/// The nearest-rank percentile `p` (0-100) of ascending `sorted` values.
pub fn percentile(sorted: &[u32], p: f64) -> Option<u32> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (p.clamp(0.0, 100.0) / 100.0 * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// Microseconds as milliseconds with two decimals.
pub fn ms(micros: u32) -> String {
    format!("{:.2}", f64::from(micros) / 1000.0)
}

/// `31234` → `31,234`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Kibibytes as megabytes with one decimal.
pub fn mb(kib: u64) -> String {
    format!("{:.1} MB", kib as f64 / 1024.0)
}

/// Rows of cells under `header`, in columns as wide as their widest cell: the first column
/// left-aligned (names), the others right-aligned (numbers).
pub fn table<const N: usize>(header: &[&str; N], rows: &[[String; N]]) -> String {
    let width = |i: usize| {
        rows.iter()
            .map(|c| c[i].chars().count())
            .chain([header[i].chars().count()])
            .max()
            .unwrap_or_default()
    };
    let widths: Vec<usize> = (0..N).map(width).collect();
    let line = |row: &[&str]| {
        row.iter()
            .enumerate()
            .map(|(i, cell)| {
                if i == 0 {
                    format!("{cell:<w$}", w = widths[i])
                } else {
                    format!("{cell:>w$}", w = widths[i])
                }
            })
            .collect::<Vec<_>>()
            .join("  ")
    };
    let mut out = line(header);
    for row in rows {
        out.push('\n');
        out.push_str(&line(&row.iter().map(String::as_str).collect::<Vec<_>>()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_by_nearest_rank() {
        let values: Vec<u32> = (1..=100).collect();
        assert_eq!(percentile(&values, 50.0), Some(50));
        assert_eq!(percentile(&values, 99.0), Some(99));
        assert_eq!(percentile(&values, 99.9), Some(100));
        assert_eq!(percentile(&values, 100.0), Some(100));
        assert_eq!(percentile(&values, 0.0), Some(1));
        assert_eq!(percentile(&[7], 99.0), Some(7));
        assert_eq!(percentile(&[1, 2], 50.0), Some(1));
        assert_eq!(percentile(&[1, 2], 51.0), Some(2));
        assert_eq!(percentile(&[], 50.0), None);
        // 1000 values: p99 is the 990th
        let values: Vec<u32> = (1..=1000).collect();
        assert_eq!(percentile(&values, 99.0), Some(990));
    }

    #[test]
    fn formatting() {
        assert_eq!(ms(1234), "1.23");
        assert_eq!(ms(5), "0.01");
        assert_eq!(ms(0), "0.00");
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(31234567), "31,234,567");
        assert_eq!(mb(25600), "25.0 MB");
    }
}
