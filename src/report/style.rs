//! Colours for the text views (ANSI SGR sequences), applied the same way everywhere: the client
//! and the server each have a colour, every protocol has one, errors are red and warnings yellow.
//! A disabled [`Style`] writes plain text, so callers never branch on colour themselves.

use crate::model::Severity;
use crate::tcp::Dir;

/// What a piece of text is, for colouring.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Paint {
    Client,
    Server,
    Http,
    WebSocket,
    Sse,
    Tcp,
    Error,
    Warning,
    Ok,
    Dim,
    Bold,
}

impl Paint {
    fn sgr(self) -> &'static str {
        match self {
            Paint::Client => "36",
            Paint::Server => "35",
            Paint::Http => "32",
            Paint::WebSocket => "94",
            Paint::Sse => "92",
            Paint::Tcp => "90",
            Paint::Error => "1;31",
            Paint::Warning => "33",
            Paint::Ok => "32",
            Paint::Dim => "2",
            Paint::Bold => "1",
        }
    }

    /// The colour of the side that sent in direction `dir`.
    pub fn sender(dir: Dir) -> Paint {
        match dir {
            Dir::C2S => Paint::Client,
            Dir::S2C => Paint::Server,
        }
    }

    pub fn severity(s: Severity) -> Paint {
        match s {
            Severity::Error => Paint::Error,
            Severity::Warning => Paint::Warning,
            Severity::Info => Paint::Dim,
        }
    }

    /// The colour of a protocol column value (`HTTP`, `WebSocket`, `SSE`, anything else).
    pub fn protocol(name: &str) -> Paint {
        match name {
            "HTTP" => Paint::Http,
            "WebSocket" => Paint::WebSocket,
            "SSE" => Paint::Sse,
            _ => Paint::Tcp,
        }
    }
}

/// Colouring on or off.
#[derive(Clone, Copy, Debug, Default)]
pub struct Style {
    pub on: bool,
}

impl Style {
    pub fn new(on: bool) -> Self {
        Style { on }
    }

    /// Appends `text` in colour `p`.
    pub fn push(&self, out: &mut String, p: Paint, text: &str) {
        if self.on && !text.is_empty() {
            out.push_str("\x1b[");
            out.push_str(p.sgr());
            out.push('m');
            out.push_str(text);
            out.push_str("\x1b[0m");
        } else {
            out.push_str(text);
        }
    }

    /// Starts colour `p` (for text written piecewise); pair with [`Style::end`].
    pub fn start(&self, out: &mut String, p: Paint) {
        if self.on {
            out.push_str("\x1b[");
            out.push_str(p.sgr());
            out.push('m');
        }
    }

    pub fn end(&self, out: &mut String) {
        if self.on {
            out.push_str("\x1b[0m");
        }
    }

    /// `text` padded to `width` characters (left-aligned unless `right`), padding outside the
    /// colour so that columns line up whatever the colouring.
    pub fn push_padded(&self, out: &mut String, p: Paint, text: &str, width: usize, right: bool) {
        let pad = width.saturating_sub(text.chars().count());
        if right {
            out.extend(std::iter::repeat_n(' ', pad));
        }
        self.push(out, p, text);
        if !right {
            out.extend(std::iter::repeat_n(' ', pad));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_when_off_and_wrapped_when_on() {
        let mut s = String::new();
        Style::new(false).push(&mut s, Paint::Error, "bad");
        assert_eq!(s, "bad");
        s.clear();
        Style::new(true).push(&mut s, Paint::Error, "bad");
        assert_eq!(s, "\x1b[1;31mbad\x1b[0m");
    }

    #[test]
    fn padding_stays_outside_the_colour() {
        let mut s = String::new();
        Style::new(true).push_padded(&mut s, Paint::Client, "ab", 4, true);
        assert_eq!(s, "  \x1b[36mab\x1b[0m");
        s.clear();
        Style::new(false).push_padded(&mut s, Paint::Client, "ab", 4, false);
        assert_eq!(s, "ab  ");
    }
}
