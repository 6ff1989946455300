//! `check`'s verdicts: what one capture's verdict holds (counts, the anomalies found with flow,
//! packet, direction and detail, the error of an unreadable file), the reporter that collects
//! it from the event stream ([`Collector`]), the [`rules`] that decide which anomalies fail a
//! capture, and the printers for every `--format` ([`formats`]).
//!
//! A verdict lists at most [`LIST_CAP`] failing and [`LIST_CAP`] other findings per capture (the
//! rest are counted), so memory does not grow with the number of anomalies; the counts by code
//! and the verdict itself always cover all of them. With `--kind`, a flow's anomalies are held
//! until its kind is known (early for WebSocket and SSE, else at its end) and then kept or
//! dropped; anomalies that belong to no flow are always judged.
//!
//! A finding names what raised it ([`Subject`]): an anomaly code, or a record that matched a
//! display filter given with `--forbid EXPR` ([`forbid`]), listed and printed the same way.

pub mod forbid;
pub mod formats;
pub mod rules;

use crate::model::{Anomaly, Code, Event, EventCtx, EventSink, FlowKind, Record, Severity};
use crate::report::Reporter;
use crate::report::gate::early_kind;
use crate::stats::RunStats;
use crate::tcp::{Dir, FlowId};
use crate::time::Timestamp;
use forbid::ForbidWatch;
use rules::{Effect, Rules};
use std::collections::{BTreeMap, HashMap};

/// Findings listed per capture and per class (failing / not failing).
pub const LIST_CAP: usize = 200;

/// What raised a finding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Subject {
    Anomaly(Code),
    /// A record matched a `--forbid` filter (the finding's `rule` names it).
    Forbid,
}

impl Subject {
    /// The rule id the document formats use (SARIF `ruleId`, JUnit failure `type`).
    pub fn id(self) -> &'static str {
        match self {
            Subject::Anomaly(c) => c.as_str(),
            Subject::Forbid => FORBID_ID,
        }
    }

    /// The severity the formats show: the code's, or `error` for a forbidden record.
    pub fn severity(self) -> Severity {
        match self {
            Subject::Anomaly(c) => c.severity(),
            Subject::Forbid => Severity::Error,
        }
    }
}

/// The rule id of a record that matched `--forbid`.
pub const FORBID_ID: &str = "check.forbid";

/// One anomaly of a capture, with what the rules made of it.
#[derive(Clone, Debug)]
pub struct Finding {
    pub subject: Subject,
    pub effect: Effect,
    /// The `--deny` / `--allow` pattern that decided the effect, if one did.
    pub rule: Option<String>,
    pub flow: Option<FlowId>,
    /// Packet number (as in tshark's frame.number).
    pub frame: Option<u64>,
    pub dir: Option<Dir>,
    pub ts: Timestamp,
    /// The anomaly's detail, as found in the capture (not escaped).
    pub detail: String,
}

impl Finding {
    /// `flow 1, packet 11, s2c` (the parts that are known).
    pub fn place(&self) -> String {
        let mut parts = Vec::new();
        if let Some(f) = self.flow {
            parts.push(format!("flow {f}"));
        }
        if let Some(p) = self.frame {
            parts.push(format!("packet {p}"));
        }
        if let Some(d) = self.dir {
            parts.push(d.as_str().to_string());
        }
        parts.join(", ")
    }
}

/// What a passing capture contained, from its flows' summaries.
#[derive(Clone, Copy, Debug, Default)]
pub struct Found {
    pub http_messages: u64,
    pub ws_frames: u64,
    pub ws_messages: u64,
    pub sse_events: u64,
}

/// Findings and counts of one capture (or of one flow whose kind is not known yet).
#[derive(Clone, Debug, Default)]
pub struct Tally {
    /// Every anomaly counted by code, listed or not.
    pub codes: BTreeMap<Code, u64>,
    pub findings: Vec<Finding>,
    /// Findings not listed, failing and not.
    pub unlisted_failing: u64,
    pub unlisted_other: u64,
}

impl Tally {
    fn listed(&self, failing: bool) -> usize {
        self.findings
            .iter()
            .filter(|f| (f.effect == Effect::Fail) == failing)
            .count()
    }

    fn add(&mut self, f: Finding, code: Code) {
        *self.codes.entry(code).or_default() += 1;
        self.keep(f);
    }

    fn keep(&mut self, f: Finding) {
        let failing = f.effect == Effect::Fail;
        if self.listed(failing) < LIST_CAP {
            self.findings.push(f);
        } else if failing {
            self.unlisted_failing += 1;
        } else {
            self.unlisted_other += 1;
        }
    }

    fn absorb(&mut self, other: Tally) {
        for (code, n) in other.codes {
            *self.codes.entry(code).or_default() += n;
        }
        for f in other.findings {
            self.keep(f);
        }
        self.unlisted_failing += other.unlisted_failing;
        self.unlisted_other += other.unlisted_other;
    }
}

/// The verdict on one capture.
#[derive(Clone, Debug, Default)]
pub struct CaptureVerdict {
    /// The file as given (or found in a directory); `-` for stdin.
    pub file: String,
    pub packets: u64,
    /// Flows judged (of `--kind` only, when given).
    pub flows: u64,
    pub kinds: BTreeMap<FlowKind, u64>,
    pub found: Found,
    pub tally: Tally,
    /// TCP flows on ports that were not analyzed.
    pub skipped_by_port: u64,
    /// Flows the capture must have (`--min-flows`, `--fail-if-empty`); 0 when not asked.
    pub min_flows: u64,
    /// The only kind of flow judged (`--kind`).
    pub kind: Option<FlowKind>,
    /// Why the capture could not be read (the file is named by `file`).
    pub error: Option<String>,
    /// The effect of each code found, by the rules.
    pub effects: BTreeMap<Code, (Effect, Option<String>)>,
    /// Each `--forbid` filter, as given, with the records that matched it.
    pub forbidden: Vec<(String, u64)>,
}

impl CaptureVerdict {
    /// A capture that could not be read.
    pub fn unreadable(file: &str, error: String) -> Self {
        CaptureVerdict {
            file: file.to_string(),
            error: Some(error),
            ..Default::default()
        }
    }

    pub fn too_few_flows(&self) -> bool {
        self.error.is_none() && self.flows < self.min_flows
    }

    /// Codes found, with their count, grouped by what they did to the verdict.
    pub fn codes_by_effect(&self, effect: Effect) -> Vec<(Code, u64)> {
        self.tally
            .codes
            .iter()
            .filter(|(c, _)| self.effects.get(c).map(|e| e.0) == Some(effect))
            .map(|(c, n)| (*c, *n))
            .collect()
    }

    /// Records that matched a `--forbid` filter.
    pub fn forbidden_records(&self) -> u64 {
        self.forbidden.iter().map(|(_, n)| n).sum()
    }

    pub fn pass(&self) -> bool {
        self.error.is_none()
            && !self.too_few_flows()
            && self.codes_by_effect(Effect::Fail).is_empty()
            && self.forbidden_records() == 0
    }

    /// Why the capture failed, one phrase per reason (empty when it passed).
    pub fn reasons(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(e) = &self.error {
            out.push(format!("unreadable: {e}"));
            return out;
        }
        let failing = self.codes_by_effect(Effect::Fail);
        if !failing.is_empty() {
            out.push(format!("errors: {}", code_counts(&failing)));
        }
        for (expr, n) in self.forbidden.iter().filter(|(_, n)| *n > 0) {
            out.push(format!(
                "--forbid '{expr}' matched {n} record{}",
                if *n == 1 { "" } else { "s" }
            ));
        }
        if self.too_few_flows() {
            out.push(format!(
                "{} flow{}, --min-flows asks for {}",
                self.flows,
                if self.flows == 1 { "" } else { "s" },
                self.min_flows
            ));
        }
        out
    }
}

/// `ws.invalid_utf8 ×1, tcp.gap ×3`.
pub fn code_counts(codes: &[(Code, u64)]) -> String {
    codes
        .iter()
        .map(|(c, n)| format!("{} ×{n}", c.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `check`'s reporter: prints nothing, collects one capture's verdict.
pub struct Collector {
    rules: Rules,
    kind: Option<FlowKind>,
    /// `--forbid`: the records of judged flows tested against the filters.
    forbid: Option<ForbidWatch>,
    /// Flows whose kind is decided (`--kind` only): whether they are judged.
    decided: HashMap<FlowId, bool>,
    /// Findings of flows whose kind is not known yet.
    held: HashMap<FlowId, Tally>,
    verdict: CaptureVerdict,
}

impl Collector {
    pub fn new(rules: Rules, kind: Option<FlowKind>) -> Self {
        Collector {
            rules,
            kind,
            forbid: None,
            decided: HashMap::new(),
            held: HashMap::new(),
            verdict: CaptureVerdict::default(),
        }
    }

    /// Also fails the capture on records that `watch`'s filters match.
    pub fn forbidding(mut self, watch: ForbidWatch) -> Self {
        self.forbid = Some(watch);
        self
    }

    /// Lists the findings of `--forbid` made since the last call.
    fn take_forbidden(&mut self) {
        if let Some(w) = &mut self.forbid {
            for f in w.take_findings() {
                self.verdict.tally.keep(f);
            }
        }
    }

    fn finding(&mut self, a: &Anomaly, flow: Option<FlowId>, frame: Option<u64>) -> Finding {
        let (effect, rule) = self
            .verdict
            .effects
            .entry(a.code)
            .or_insert_with(|| self.rules.effect(a.code))
            .clone();
        Finding {
            subject: Subject::Anomaly(a.code),
            effect,
            rule,
            flow,
            frame,
            dir: a.dir,
            ts: a.ts,
            detail: a.detail.clone(),
        }
    }

    /// Whether `flow`'s events are judged: `Some(true/false)` once its kind is known.
    fn judged(&mut self, flow: FlowId, event: &Event<'_>) -> Option<bool> {
        let want = self.kind?;
        if let Some(&d) = self.decided.get(&flow) {
            return Some(d);
        }
        let kind = early_kind(event)?;
        let judged = kind == want;
        self.decided.insert(flow, judged);
        if let Some(held) = self.held.remove(&flow)
            && judged
        {
            self.verdict.tally.absorb(held);
        }
        Some(judged)
    }

    /// The verdict on the capture, given the run's statistics.
    pub fn into_verdict(mut self, file: &str, stats: &RunStats, min_flows: u64) -> CaptureVerdict {
        self.verdict.file = file.to_string();
        self.verdict.packets = stats.packets;
        self.verdict.skipped_by_port = stats.flows_skipped_by_port;
        self.verdict.min_flows = min_flows;
        self.verdict.kind = self.kind;
        if let Some(w) = &self.forbid {
            self.verdict.forbidden = w.tally();
        }
        self.verdict
    }
}

impl EventSink for Collector {
    /// A verdict is made of anomalies and the flows' closing summaries; `--kind` (which decides
    /// a flow's kind from its first records) and `--forbid` read the other records too.
    fn wants_message_records(&self) -> bool {
        self.kind.is_some() || self.forbid.is_some()
    }

    fn event(&mut self, ctx: &EventCtx<'_>, event: Event<'_>) {
        let flow = ctx.flow.id;
        if let Some(w) = &mut self.forbid {
            w.event(ctx, event);
            self.take_forbidden();
        }
        if let Event::FlowClosed { summary, .. } = event {
            let kind = summary.closed_kind();
            let judged = self.kind.is_none_or(|want| want == kind);
            self.decided.remove(&flow);
            let held = self.held.remove(&flow);
            if judged {
                let v = &mut self.verdict;
                v.flows += 1;
                *v.kinds.entry(kind).or_default() += 1;
                v.found.http_messages += summary.http_messages;
                v.found.ws_frames += summary.ws_frames;
                v.found.ws_messages += summary.ws_messages;
                v.found.sse_events += summary.sse_events;
                if let Some(h) = held {
                    v.tally.absorb(h);
                }
            }
            return;
        }
        let judged = self.judged(flow, &event);
        let Event::Record(Record::Anomaly(a)) = event else {
            return;
        };
        let f = self.finding(a, Some(flow), ctx.pkt.map(|p| p.frame));
        match judged {
            None if self.kind.is_none() => self.verdict.tally.add(f, a.code),
            None => self.held.entry(flow).or_default().add(f, a.code),
            Some(true) => self.verdict.tally.add(f, a.code),
            Some(false) => {}
        }
    }

    fn global_anomaly(&mut self, anomaly: &Anomaly, frame: u64) {
        if let Some(w) = &mut self.forbid {
            w.global_anomaly(anomaly, frame);
            self.take_forbidden();
        }
        let f = self.finding(anomaly, None, Some(frame));
        self.verdict.tally.add(f, anomaly.code);
    }
}

impl Reporter for Collector {
    fn finish(&mut self, _stats: &RunStats) -> std::io::Result<()> {
        Ok(())
    }
    fn take_io_error(&mut self) -> Option<std::io::Error> {
        None
    }
    fn wants_packets(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::FlowSummary;
    use crate::proto::websocket::test_sink;
    use crate::tcp::{CloseHow, FlowMeta, PacketRef};

    fn meta(id: FlowId) -> FlowMeta {
        FlowMeta {
            id,
            ..test_sink::meta()
        }
    }

    fn anomaly(code: Code) -> Anomaly {
        Anomaly {
            code,
            dir: Some(Dir::S2C),
            ts: Timestamp::ZERO,
            detail: "detail".into(),
        }
    }

    fn feed(c: &mut Collector, flow: FlowId, code: Code, frame: u64) {
        let m = meta(flow);
        let ctx = EventCtx::new(&m, Some(PacketRef::new(frame, Timestamp::ZERO)));
        let a = anomaly(code);
        c.event(&ctx, Event::Record(Record::Anomaly(&a)));
    }

    fn close(c: &mut Collector, flow: FlowId, kind: FlowKind) {
        let m = meta(flow);
        let ctx = EventCtx::new(&m, None);
        let summary = FlowSummary {
            kind: Some(kind),
            ..Default::default()
        };
        c.event(
            &ctx,
            Event::FlowClosed {
                how: CloseHow::Fin,
                summary: &summary,
            },
        );
    }

    #[test]
    fn anomalies_are_listed_with_their_place_and_judged_by_the_rules() {
        let mut c = Collector::new(Rules::default(), None);
        feed(&mut c, 1, Code::WsMaskedServerFrame, 11);
        feed(&mut c, 1, Code::TcpGap, 12);
        close(&mut c, 1, FlowKind::WebSocket);
        let v = c.into_verdict("x.pcap", &RunStats::default(), 0);
        assert!(!v.pass());
        assert_eq!(v.flows, 1);
        assert_eq!(v.tally.findings.len(), 2);
        let f = &v.tally.findings[0];
        assert_eq!(f.place(), "flow 1, packet 11, s2c");
        assert_eq!(f.effect, Effect::Fail);
        assert_eq!(v.tally.findings[1].effect, Effect::Warn);
        assert_eq!(v.reasons(), vec!["errors: ws.masked_server_frame ×1"]);
    }

    #[test]
    fn kind_judges_only_flows_of_that_kind() {
        let mut c = Collector::new(Rules::default(), Some(FlowKind::WebSocket));
        feed(&mut c, 1, Code::HttpParseError, 3);
        feed(&mut c, 2, Code::WsInvalidUtf8, 4);
        close(&mut c, 1, FlowKind::Http);
        close(&mut c, 2, FlowKind::WebSocket);
        let v = c.into_verdict("x.pcap", &RunStats::default(), 0);
        assert_eq!(v.flows, 1);
        assert_eq!(
            v.tally.codes.keys().copied().collect::<Vec<_>>(),
            vec![Code::WsInvalidUtf8]
        );
    }

    #[test]
    fn listing_is_capped_but_counting_is_not() {
        let mut c = Collector::new(Rules::default(), None);
        for i in 0..(LIST_CAP as u64 + 50) {
            feed(&mut c, 1, Code::TcpGap, i);
        }
        feed(&mut c, 1, Code::WsInvalidUtf8, 999);
        let v = c.into_verdict("x.pcap", &RunStats::default(), 0);
        assert_eq!(v.tally.codes[&Code::TcpGap], LIST_CAP as u64 + 50);
        assert_eq!(v.tally.unlisted_other, 50);
        // The failing finding is listed even after the flood of warnings.
        assert!(
            v.tally
                .findings
                .iter()
                .any(|f| f.subject == Subject::Anomaly(Code::WsInvalidUtf8))
        );
    }

    #[test]
    fn too_few_flows_fails() {
        let c = Collector::new(Rules::default(), None);
        let v = c.into_verdict("x.pcap", &RunStats::default(), 1);
        assert!(!v.pass());
        assert_eq!(v.reasons(), vec!["0 flows, --min-flows asks for 1"]);
        let c = Collector::new(Rules::default(), None);
        assert!(c.into_verdict("x.pcap", &RunStats::default(), 0).pass());
    }
}
