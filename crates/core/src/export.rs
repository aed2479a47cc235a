//! Cases as CSV for spreadsheets: RFC 4180 quoting with CRLF line ends, and every cell a
//! spreadsheet would run as a formula made inert. Pure, so the file's exact bytes are
//! tested natively; the app only fetches the pages and saves the text.

use casedesk_model::Case;

/// The columns, in order, as the header row names them.
pub const CSV_COLUMNS: [&str; 10] = [
    "id",
    "title",
    "status",
    "priority",
    "assignee",
    "tags",
    "created_at",
    "updated_at",
    "version",
    "description",
];

/// The header row, with its line end.
pub fn csv_header() -> String {
    let mut line = CSV_COLUMNS.join(",");
    line.push_str("\r\n");
    line
}

/// One case as a row, with its line end. Tags are joined with "; ".
pub fn csv_record(case: &Case) -> String {
    let cells = [
        case.id.to_string(),
        case.title.clone(),
        case.status.as_str().to_owned(),
        case.priority.as_str().to_owned(),
        case.assignee.clone().unwrap_or_default(),
        case.tags.join("; "),
        case.created_at.to_string(),
        case.updated_at.to_string(),
        case.version.to_string(),
        case.description.clone(),
    ];
    let mut line = cells
        .iter()
        .map(|cell| csv_cell(cell))
        .collect::<Vec<_>>()
        .join(",");
    line.push_str("\r\n");
    line
}

/// One cell: a value a spreadsheet would read as a formula (starting with `=`, `+`, `-`,
/// `@`, or a tab or carriage return that some strip first) gets a leading `'`, so a case
/// titled `=HYPERLINK(…)` is text, not a live link; then a cell holding a comma, a quote or
/// a line break is quoted, with its quotes doubled (RFC 4180).
pub fn csv_cell(value: &str) -> String {
    let guarded = if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{value}")
    } else {
        value.to_owned()
    };
    if guarded.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", guarded.replace('"', "\"\""))
    } else {
        guarded
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use casedesk_model::{CaseStatus, Priority, Timestamp};
    use uuid::Uuid;

    fn case(title: &str, description: &str, tags: &[&str]) -> Case {
        Case {
            created_by: None,
            updated_by: None,
            id: Uuid::from_u128(0x0191_c7a2_5b7e_7c3a_9f10_2f6d_3c1b_9e44),
            title: title.into(),
            description: description.into(),
            status: CaseStatus::InProgress,
            priority: Priority::High,
            assignee: Some("dana".into()),
            tags: tags.iter().map(|t| (*t).to_owned()).collect(),
            created_at: Timestamp::from_unix_millis(1_795_000_000_000).unwrap(),
            updated_at: Timestamp::from_unix_millis(1_795_000_060_000).unwrap(),
            version: 3,
        }
    }

    #[test]
    fn a_plain_case_is_one_line_of_unquoted_cells() {
        assert_eq!(
            csv_header(),
            "id,title,status,priority,assignee,tags,created_at,updated_at,version,description\r\n"
        );
        let row = csv_record(&case("Printer jams", "floor 3", &["hardware", "print"]));
        let created = case("", "", &[]).created_at.to_string();
        let updated = case("", "", &[]).updated_at.to_string();
        assert_eq!(
            row,
            format!(
                "0191c7a2-5b7e-7c3a-9f10-2f6d3c1b9e44,Printer jams,in_progress,high,dana,\
                 hardware; print,{created},{updated},3,floor 3\r\n"
            )
        );
    }

    #[test]
    fn commas_quotes_and_line_breaks_are_quoted_per_rfc_4180() {
        assert_eq!(csv_cell("a, b"), "\"a, b\"");
        assert_eq!(csv_cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_cell("line 1\nline 2"), "\"line 1\nline 2\"");
        assert_eq!(csv_cell("crlf\r\nend"), "\"crlf\r\nend\"");
        assert_eq!(csv_cell(""), "");
        assert_eq!(csv_cell("naïve café ✓"), "naïve café ✓");
        let row = csv_record(&case("Jams, again", "He said \"no\"\nthen left", &[]));
        assert!(row.contains(",\"Jams, again\","), "{row}");
        assert!(
            row.ends_with(",\"He said \"\"no\"\"\nthen left\"\r\n"),
            "{row}"
        );
    }

    #[test]
    fn cells_a_spreadsheet_would_run_are_made_text() {
        for (value, cell) in [
            ("=1+1", "'=1+1"),
            ("+31 6 1234", "'+31 6 1234"),
            ("-2", "'-2"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\tx", "'\tx"),
            (
                "=HYPERLINK(\"http://x\",\"y\")",
                "\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\"",
            ),
            ("a=b", "a=b"),
            ("x-1", "x-1"),
        ] {
            assert_eq!(csv_cell(value), cell, "{value:?}");
        }
        let row = csv_record(&case("=cmd|' /C calc'!A0", "", &["@risk"]));
        assert!(row.contains(",'=cmd|' /C calc'!A0,"), "{row}");
        assert!(row.contains(",'@risk,"), "{row}");
    }
}
