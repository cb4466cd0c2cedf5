"""The subprocessor report of SOC2.md section 4, for any "as of" time.

What changes over time is read from the audit log, so a report for a past date shows that
date's state:

- a vendor's record (name, data, tier, contract, status) is the `after` snapshot of its last
  vendor event at or before the as-of time (every vendor service records the whole record);
- a grant's status and end date are those of its request's last status / end-date event;
- reviews, their exceptions, CUECs, subservice organizations and evidence never change once
  decided, so the review that counts is the latest one approved at or before the as-of time;
  approvals and pull requests are dated rows, taken when created at or before it.

Rows are produced by iterators that read the vendors in chunks of `CHUNK_SIZE`, with a fixed
number of queries per chunk whatever the size of the organization, so exports run in constant
memory. `report_summary` walks the rows once to count them and hash them (SHA-256 of their CSV
form, see `DATA_HASH_DOC`); the CSV and XLSX exports write their table in the same walk, the
PDF renderer walks the rows again.

The package is split by part, each module using only the ones before it: `params` (what a
report covers), `as_of` (the queries of the state then), `rows` (the table), `summary` (the
header and the hash) and `appendices`. Callers import from the package, which re-exports the
public names of every part.
"""

from reports.subprocessors.appendices import (
    APPENDIX_A,
    APPENDIX_A_SUMMARY,
    APPENDIX_B,
    APPENDIX_C,
    approval_trail,
    changes_in_period,
    exceptions_register,
    filtered_vendor_ids,
    request_summaries,
    tier_state_matrix,
)
from reports.subprocessors.as_of import (
    LIVE_GRANT_STATES,
    REQUEST_TYPE,
    REVIEW_TYPE,
    VENDOR_TYPE,
    Grant,
    live_grants_as_of,
    requests_as_of,
    vendors_as_of,
)
from reports.subprocessors.params import (
    ReportParams,
    parse_as_of,
    previous_quarter_end,
    quarter_start,
    report_params,
)
from reports.subprocessors.rows import (
    CHUNK_SIZE,
    COLUMNS,
    HEADERS,
    ORGANIZATION_WIDE,
    Row,
    chunks,
    policy_sha256,
    subprocessor_rows,
)
from reports.subprocessors.summary import (
    DATA_HASH_DOC,
    ReportSummary,
    app_version,
    csv_line,
    report_summary,
)

__all__ = [
    "APPENDIX_A",
    "APPENDIX_A_SUMMARY",
    "APPENDIX_B",
    "APPENDIX_C",
    "CHUNK_SIZE",
    "COLUMNS",
    "DATA_HASH_DOC",
    "HEADERS",
    "LIVE_GRANT_STATES",
    "ORGANIZATION_WIDE",
    "REQUEST_TYPE",
    "REVIEW_TYPE",
    "VENDOR_TYPE",
    "Grant",
    "ReportParams",
    "ReportSummary",
    "Row",
    "app_version",
    "approval_trail",
    "changes_in_period",
    "chunks",
    "csv_line",
    "exceptions_register",
    "filtered_vendor_ids",
    "live_grants_as_of",
    "parse_as_of",
    "policy_sha256",
    "previous_quarter_end",
    "quarter_start",
    "report_params",
    "report_summary",
    "request_summaries",
    "requests_as_of",
    "subprocessor_rows",
    "tier_state_matrix",
    "vendors_as_of",
]
