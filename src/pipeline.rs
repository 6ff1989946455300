//! Wires the layers together: source → decode → tcp → proto → sinks.
