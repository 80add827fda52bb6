"""Documents made from a meeting: code slips, paper forms, the report, workbook and CSV exports."""
