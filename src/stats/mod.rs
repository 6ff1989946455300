//! Overhead accounting: per flow kind, payload bytes versus L7 header bytes versus TCP/IP header
//! bytes, and the "what if over HTTP" estimate for WebSocket flows.
