"""Reports: plots (and, later, aggregation, tables, HTML and the regression check)."""
