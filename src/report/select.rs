//! `-Y`/`--filter`: which records a view shows and which flows its tables keep
//! (docs/filter.md, "How the views apply a filter"). One [`Selection`] per view, fed the same
//! events as the view, answers for each record ([`Selection::record`]), and keeps what the
//! tables need: the statistics of the flows in which something matched, and the anomalies that
//! matched. A filter is evaluated on the record as the protocol emitted it (its own fields and
//! its flow's, `model::InFlow`): nothing is copied or allocated per record.
//!
//! A filter that tests `flow.kind` cannot be decided on a record whose flow's kind is not known
//! yet (a plain HTTP flow may still turn out a long poll): such a record is evaluated once per
//! kind the flow may still turn out to be, and the answer is the set of those under which it
//! matches ([`Pick::Later`]); the view holds what it would show until the kind is known
//! ([`Selection::observe`]) and then shows it if the set holds the kind.

use crate::filter::{FieldId, Filter};
use crate::model::EventSink;
use crate::model::{
    Anomaly, Code, Event, EventCtx, FlowFacts, FlowKind, FlowSummary, InFlow, Record,
};
use crate::report::gate::{HOLD_CAP, early_kind, starts_event_stream};
use crate::report::{PacketDone, Reporter};
use crate::stats::RunStats;
use crate::tcp::{CloseHow, FlowId, FlowMeta};
use foldhash::fast::RandomState;
use std::collections::HashMap;

/// A set of flow kinds, plus "not known" (for records judged with the kind unknown once too
/// much was held).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Kinds(u16);

impl Kinds {
    pub const NONE: Kinds = Kinds(0);
    pub const ALL: Kinds = Kinds(u16::MAX);
    const UNKNOWN: u16 = 1 << 15;

    fn bit(kind: Option<FlowKind>) -> u16 {
        match kind {
            Some(k) => 1 << FlowKind::ALL.iter().position(|x| *x == k).unwrap_or(14),
            None => Kinds::UNKNOWN,
        }
    }

    /// Whether a flow of `kind` (`None`: never known) is in the set.
    pub fn holds(self, kind: Option<FlowKind>) -> bool {
        self.0 & Kinds::bit(kind) != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn union(self, other: Kinds) -> Kinds {
        Kinds(self.0 | other.0)
    }
}

/// What a view does with one record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pick {
    /// Show it.
    Yes,
    /// Leave it out.
    No,
    /// Show it if its flow turns out to be one of these kinds.
    Later(Kinds),
}

impl Pick {
    fn of(kinds: Kinds) -> Pick {
        match kinds {
            Kinds::ALL => Pick::Yes,
            Kinds::NONE => Pick::No,
            k => Pick::Later(k),
        }
    }

    /// The kinds under which the record is shown.
    pub fn kinds(self) -> Kinds {
        match self {
            Pick::Yes => Kinds::ALL,
            Pick::No => Kinds::NONE,
            Pick::Later(k) => k,
        }
    }
}

/// What a selection knows of one open flow.
#[derive(Default)]
struct FlowState {
    kind: Option<FlowKind>,
    /// The kinds under which something of the flow matched.
    matched: Kinds,
    /// Anomalies waiting for the flow's kind.
    anomalies: Vec<(Code, Kinds)>,
}

/// What a view is told when a flow ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlowEnd {
    /// The flow record itself matches.
    pub record: bool,
    /// Something of the flow matched (its record included): it stays in the tables.
    pub keep: bool,
    /// The flow's kind.
    pub kind: FlowKind,
}

/// The filter of a view, and what matched so far.
pub struct Selection {
    filter: Filter,
    needs_kind: bool,
    flows: HashMap<FlowId, FlowState, RandomState>,
    /// The last flow found with its kind known, and the kind (events of a flow come in runs).
    known: Option<(FlowId, FlowKind)>,
    /// Statistics of the flows kept (`RunStats::on_flow_closed`) and of the anomalies that
    /// matched.
    kept: RunStats,
    /// Flows that ended, kept or not.
    pub flows_seen: u64,
    /// Anomalies the filter left out.
    pub anomalies_hidden: u64,
}

/// Every kind a flow whose kind is not known yet may turn out to be, and "never known".
fn candidates() -> impl Iterator<Item = Option<FlowKind>> {
    FlowKind::ALL.into_iter().map(Some).chain([None])
}

/// The kinds of flow under which the record matches `filter`, judged in `meta`'s flow with its
/// kind known or not (`needs_kind`: the filter tests it).
fn judge(filter: &Filter, needs_kind: bool, mut subject: InFlow<'_>) -> Pick {
    if !filter.records().contains(subject.own.record_type()) {
        return Pick::No;
    }
    if subject.kind.is_some() || !needs_kind || subject.flow.is_none() {
        return if filter.matches(&subject) {
            Pick::Yes
        } else {
            Pick::No
        };
    }
    let mut kinds = Kinds::NONE;
    for k in candidates() {
        subject.kind = k;
        if filter.matches(&subject) {
            kinds = kinds.union(Kinds(Kinds::bit(k)));
        }
    }
    // Matching under every kind, or none, needs no waiting.
    let all = candidates().fold(0, |m, k| m | Kinds::bit(k));
    if kinds.0 == all {
        Pick::Yes
    } else {
        Pick::of(kinds)
    }
}

impl Selection {
    pub fn new(filter: Filter) -> Selection {
        Selection {
            needs_kind: filter.uses(FieldId::FlowKind),
            filter,
            flows: HashMap::default(),
            known: None,
            kept: RunStats {
                poll_interval: crate::config::Config::default().poll_interval.as_secs_f64(),
                ..RunStats::default()
            },
            flows_seen: 0,
            anomalies_hidden: 0,
        }
    }

    /// Prices the kept flows' "what if over HTTP" rows at `--poll-interval` (as the run's).
    pub fn with_poll_interval(mut self, interval: std::time::Duration) -> Selection {
        self.kept.poll_interval = interval.as_secs_f64();
        self
    }

    pub fn filter(&self) -> &Filter {
        &self.filter
    }

    /// Learns what `event` proves about its flow's kind (before the view handles it); returns
    /// the kind when this event made it known.
    pub fn observe(&mut self, ctx: &EventCtx<'_>, event: &Event<'_>) -> Option<FlowKind> {
        // Only a filter that tests the kind waits for it.
        if !self.needs_kind {
            return None;
        }
        if self.known.is_some_and(|(f, _)| f == ctx.flow.id) {
            return None;
        }
        let kind = match event {
            Event::FlowClosed { summary, .. } => summary.closed_kind(),
            e => early_kind(e)?,
        };
        let state = match self.flows.get_mut(&ctx.flow.id) {
            Some(s) if s.kind.is_some() => {
                self.known = s.kind.map(|k| (ctx.flow.id, k));
                return None;
            }
            Some(s) => s,
            None => self.flows.entry(ctx.flow.id).or_default(),
        };
        self.known = Some((ctx.flow.id, kind));
        state.kind = Some(kind);
        for (code, kinds) in std::mem::take(&mut state.anomalies) {
            if kinds.holds(Some(kind)) {
                self.kept.on_anomaly(code);
            } else {
                self.anomalies_hidden += 1;
            }
        }
        Some(kind)
    }

    /// Whether something of `flow` matched, as far as its kind is known.
    pub fn flow_matched(&self, flow: FlowId) -> bool {
        self.flows.get(&flow).is_some_and(|s| match s.kind {
            Some(k) => s.matched.holds(Some(k)),
            None => s.matched == Kinds::ALL,
        })
    }

    /// Judges a record of the flow of `ctx`.
    pub fn record(&mut self, ctx: &EventCtx<'_>, record: Record<'_>) -> Pick {
        if !self.needs_kind {
            // Decided at once: the flow is looked up only when something matched.
            let pick = judge(&self.filter, false, InFlow::record(ctx, record, None));
            return self.decided(ctx.flow.id, pick, record);
        }
        if let Some((flow, kind)) = self.known
            && flow == ctx.flow.id
        {
            // The kind is known: decided at once, the flow looked up only on a match.
            let pick = judge(&self.filter, true, InFlow::record(ctx, record, Some(kind)));
            return self.decided(flow, pick, record);
        }
        let state = self.flows.entry(ctx.flow.id).or_default();
        let pick = judge(
            &self.filter,
            self.needs_kind,
            InFlow::record(ctx, record, state.kind),
        );
        state.matched = state.matched.union(pick.kinds());
        if let Record::Anomaly(a) = record {
            match pick {
                Pick::Yes => self.kept.on_anomaly(a.code),
                Pick::No => self.anomalies_hidden += 1,
                Pick::Later(k) => state.anomalies.push((a.code, k)),
            }
        }
        pick
    }

    /// Counts a record of `flow` decided at once (`Yes` or `No`).
    fn decided(&mut self, flow: FlowId, pick: Pick, record: Record<'_>) -> Pick {
        match (pick, record) {
            (Pick::No, Record::Anomaly(_)) => self.anomalies_hidden += 1,
            (Pick::No, _) => {}
            (_, r) => {
                self.flows.entry(flow).or_default().matched = Kinds::ALL;
                if let Record::Anomaly(a) = r {
                    self.kept.on_anomaly(a.code);
                }
            }
        }
        pick
    }

    /// Judges an anomaly that belongs to no flow.
    pub fn global(&mut self, anomaly: &Anomaly, frame: u64) -> bool {
        let subject = InFlow::outside(anomaly, frame);
        let yes = judge(&self.filter, false, subject) == Pick::Yes;
        if yes {
            self.kept.on_anomaly(anomaly.code);
        } else {
            self.anomalies_hidden += 1;
        }
        yes
    }

    /// The end of a flow (after [`Selection::observe`] was told of it): whether its record
    /// matches and whether it stays in the tables.
    pub fn flow_closed(
        &mut self,
        meta: &FlowMeta,
        summary: &FlowSummary,
        how: CloseHow,
    ) -> FlowEnd {
        let kind = summary.closed_kind();
        let facts = FlowFacts { meta, summary, how };
        let subject = InFlow::flow(&facts);
        let record = judge(&self.filter, false, subject) == Pick::Yes;
        let state = self.flows.remove(&meta.id).unwrap_or_default();
        if self.known.is_some_and(|(f, _)| f == meta.id) {
            self.known = None;
        }
        for (code, kinds) in state.anomalies {
            if kinds.holds(Some(kind)) {
                self.kept.on_anomaly(code);
            } else {
                self.anomalies_hidden += 1;
            }
        }
        let keep = record || state.matched.holds(Some(kind));
        self.flows_seen += 1;
        if keep {
            self.kept.on_flow_closed(meta, summary);
        }
        FlowEnd { record, keep, kind }
    }

    /// The run's statistics as the tables show them under the filter: the kept flows and the
    /// anomalies that matched; packet counts and notes are the whole run's.
    pub fn table_stats(&self, run: &RunStats) -> RunStats {
        RunStats {
            flows: self.kept.flows,
            kinds: self.kept.kinds.clone(),
            overhead: self.kept.overhead.clone(),
            anomalies: self.kept.anomalies.clone(),
            what_if: self.kept.what_if.clone(),
            what_if_omitted: self.kept.what_if_omitted,
            what_if_total: self.kept.what_if_total,
            ..run.clone()
        }
    }

    /// The line under the tables: `filter: 2 of 7 flows matched http.status >= 500`, with the
    /// anomalies it left out.
    pub fn note(&self) -> String {
        let mut s = format!(
            "filter: {} of {} flow{} matched {}",
            self.kept.flows,
            self.flows_seen,
            if self.flows_seen == 1 { "" } else { "s" },
            crate::report::escape::escape(self.filter.text())
        );
        if self.anomalies_hidden > 0 {
            let n = self.anomalies_hidden;
            s.push_str(&format!(
                "; {n} anomal{} not shown",
                if n == 1 { "y" } else { "ies" }
            ));
        }
        s
    }
}

/// A view with no filter of its own (`--follow`, `--ladder`, the HTML page) behind a selection:
/// it is given the records that match and every flow's lifecycle. A record that waits for its
/// flow's kind is given if it may match (these views cannot hold what they draw).
pub struct Filtered<R> {
    inner: R,
    select: Selection,
    /// Hand the view the tables' statistics of the kept flows at the end.
    table_stats: bool,
}

impl<R: Reporter + 'static> Filtered<R> {
    /// `inner`, behind `select` if there is one.
    pub fn wrap(inner: R, select: Option<Selection>) -> Box<dyn Reporter> {
        match select {
            Some(select) => Box::new(Filtered {
                inner,
                select,
                table_stats: false,
            }),
            None => Box::new(inner),
        }
    }

    /// As [`Filtered::wrap`], for a view whose tables keep only the flows in which something
    /// matched.
    pub fn wrap_with_tables(inner: R, select: Option<Selection>) -> Box<dyn Reporter> {
        match select {
            Some(select) => Box::new(Filtered {
                inner,
                select,
                table_stats: true,
            }),
            None => Box::new(inner),
        }
    }
}

impl<R: Reporter> EventSink for Filtered<R> {
    fn event(&mut self, ctx: &EventCtx<'_>, event: Event<'_>) {
        self.select.observe(ctx, &event);
        let pick = match event {
            Event::Record(r) => self.select.record(ctx, r),
            Event::HttpHead(m) if starts_event_stream(m) => {
                self.select.record(ctx, Record::Http(m))
            }
            Event::FlowClosed { how, summary } => {
                self.select.flow_closed(ctx.flow, summary, how);
                Pick::Yes
            }
            _ => Pick::Yes,
        };
        if pick != Pick::No {
            self.inner.event(ctx, event);
        }
    }

    fn global_anomaly(&mut self, anomaly: &Anomaly, frame: u64) {
        if self.select.global(anomaly, frame) {
            self.inner.global_anomaly(anomaly, frame);
        }
    }
}

impl<R: Reporter> Reporter for Filtered<R> {
    fn packet_done(&mut self, done: &PacketDone<'_>) {
        self.inner.packet_done(done);
    }

    fn finish(&mut self, stats: &RunStats) -> std::io::Result<()> {
        if self.table_stats {
            self.inner.finish(&self.select.table_stats(stats))
        } else {
            self.inner.finish(stats)
        }
    }

    fn take_io_error(&mut self) -> Option<std::io::Error> {
        self.inner.take_io_error()
    }
    fn wants_packets(&self) -> bool {
        self.inner.wants_packets()
    }
}

/// Output lines of flows whose kind a filter waits for (JSON, `-T fields`), each with the kinds
/// under which it is shown, at most [`HOLD_CAP`] bytes in all: past that, the oldest flow's are
/// judged with the kind unknown.
#[derive(Default)]
pub struct HeldLines {
    lines: HashMap<FlowId, Vec<(Vec<u8>, Kinds)>>,
    bytes: usize,
}

impl HeldLines {
    /// Whether lines of `flow` are held (a later line of it must wait behind them).
    pub fn holds(&self, flow: FlowId) -> bool {
        self.lines.contains_key(&flow)
    }

    /// Holds `line`; what the cap lets out is appended to `out`.
    pub fn hold(&mut self, flow: FlowId, line: &[u8], kinds: Kinds, out: &mut Vec<u8>) {
        self.bytes += line.len();
        self.lines
            .entry(flow)
            .or_default()
            .push((line.to_vec(), kinds));
        if self.bytes > HOLD_CAP
            && let Some(oldest) = self.lines.keys().min().copied()
        {
            self.release(oldest, None, out);
        }
    }

    /// Appends to `out` the lines of `flow` that a flow of `kind` shows (`None`: never known).
    pub fn release(&mut self, flow: FlowId, kind: Option<FlowKind>, out: &mut Vec<u8>) {
        for (line, kinds) in self.lines.remove(&flow).unwrap_or_default() {
            self.bytes -= line.len();
            if kinds.holds(kind) {
                out.extend_from_slice(&line);
            }
        }
    }

    /// The end of the run: every flow's lines, in flow order, judged with the kind unknown.
    pub fn release_all(&mut self, out: &mut Vec<u8>) {
        let mut flows: Vec<FlowId> = self.lines.keys().copied().collect();
        flows.sort_unstable();
        for flow in flows {
            self.release(flow, None, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Anomaly, Code};
    use crate::tcp::{Dir, PacketRef, RoleBasis};
    use crate::time::Timestamp;

    fn meta(id: FlowId) -> FlowMeta {
        FlowMeta::new(
            id,
            "10.0.0.1:5000".parse().unwrap(),
            "10.0.0.2:80".parse().unwrap(),
            RoleBasis::Syn,
            Timestamp::ZERO,
        )
    }

    fn gap() -> Anomaly {
        Anomaly {
            code: Code::TcpGap,
            dir: Some(Dir::C2S),
            ts: Timestamp::ZERO,
            detail: "3 bytes".into(),
        }
    }

    #[test]
    fn a_record_waits_for_its_flows_kind_only_when_the_filter_tests_it() {
        let m = meta(1);
        let ctx = EventCtx::new(&m, Some(PacketRef::new(3, Timestamp::ZERO)));
        let a = gap();
        let mut plain = Selection::new(Filter::new("anomaly.code == tcp.gap").unwrap());
        assert_eq!(plain.record(&ctx, Record::Anomaly(&a)), Pick::Yes);
        let mut by_kind =
            Selection::new(Filter::new("anomaly && flow.kind in {http, long-poll}").unwrap());
        let Pick::Later(kinds) = by_kind.record(&ctx, Record::Anomaly(&a)) else {
            panic!("waits for the kind");
        };
        assert!(kinds.holds(Some(FlowKind::LongPoll)) && kinds.holds(Some(FlowKind::Http)));
        assert!(!kinds.holds(Some(FlowKind::WebSocket)) && !kinds.holds(None));
        // Something matched under http; the flow ends as http: it is kept, its anomaly counted.
        let summary = FlowSummary {
            kind: Some(FlowKind::Http),
            ..FlowSummary::default()
        };
        let closed = Event::FlowClosed {
            how: CloseHow::Fin,
            summary: &summary,
        };
        assert_eq!(by_kind.observe(&ctx, &closed), Some(FlowKind::Http));
        let end = by_kind.flow_closed(&m, &summary, CloseHow::Fin);
        assert!(end.keep && !end.record);
        let stats = by_kind.table_stats(&RunStats::default());
        assert_eq!(stats.flows, 1);
        assert_eq!(stats.anomalies.get(&Code::TcpGap), Some(&1));
        // A flow of another kind is not kept, and its anomaly is counted as not shown.
        let m2 = meta(2);
        let ctx2 = EventCtx::new(&m2, None);
        by_kind.record(&ctx2, Record::Anomaly(&a));
        let ws = FlowSummary {
            kind: Some(FlowKind::WebSocket),
            ..FlowSummary::default()
        };
        let end = by_kind.flow_closed(&m2, &ws, CloseHow::Fin);
        assert!(!end.keep);
        assert_eq!(by_kind.anomalies_hidden, 1);
        assert_eq!(by_kind.flows_seen, 2);
        assert!(by_kind.note().starts_with("filter: 1 of 2 flows matched"));
    }

    #[test]
    fn held_lines_come_out_in_order_for_the_kind_they_were_held_for() {
        let mut held = HeldLines::default();
        let mut out = Vec::new();
        let ws = Kinds(Kinds::bit(Some(FlowKind::WebSocket)));
        held.hold(1, b"a\n", ws, &mut out);
        held.hold(1, b"b\n", Kinds::ALL, &mut out);
        held.hold(2, b"c\n", ws, &mut out);
        assert!(out.is_empty() && held.holds(1));
        held.release(1, Some(FlowKind::Http), &mut out);
        assert_eq!(out, b"b\n");
        out.clear();
        held.release_all(&mut out);
        assert!(
            out.is_empty(),
            "a line for WebSocket flows is not shown for an unknown kind"
        );
        assert!(!held.holds(2));
    }
}
