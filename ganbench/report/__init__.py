"""Reports: runs collected from suite folders, aggregated across seeds, plotted, written as
Markdown/HTML/CSV, and checked against a baseline (the CI regression gate)."""
