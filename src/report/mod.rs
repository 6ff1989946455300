//! Printers over the event stream: tshark-like summary lines, the `-V` tree, `-x` hex, JSON
//! Lines, the end-of-run tables, and `check` verdicts.
