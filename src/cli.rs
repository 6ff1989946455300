//! Command-line definitions (clap) and their mapping onto [`crate::config::Config`].
