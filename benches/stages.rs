//! Where the time goes, layer by layer, on one capture file: the same input is run through
//! ever longer prefixes of the pipeline (source, + decode, + TCP reassembly, + protocol
//! analysis with a silent reporter), and each stage's throughput is printed. The difference
//! between two lines is the cost of the layer added. Two reference lines show what merely
//! getting the bytes costs: touching every cache line of a memory map, and the streaming source
//! (`read(2)` into a fixed buffer, what `sockscope read` uses for pipes) over the same file;
//! the file source of `sockscope read` is the memory map (see `source::open`).
//!
//! `cargo bench --bench stages -- FILE [RUNS [STAGE]]` (default `bench-data/mix-100m.pcap`, 3
//! runs; the best run of each stage is shown, as the machine may be shared and noise only adds
//! time). `STAGE` runs only the stages whose name contains it (e.g. under callgrind).

use sockscope::config::Config;
use sockscope::decode::{Decoded, Decoder};
use sockscope::pipeline::Analyzer;
use sockscope::source::{PacketSource, StreamSource};
use sockscope::tcp::{FlowMeta, FlowTable, PacketRef, StreamEvent, StreamHandler};
use std::hint::black_box;
use std::time::{Duration, Instant};

/// A handler that only looks at what reassembly delivers, so that the TCP layer is measured
/// without the protocol parsers.
#[derive(Default)]
struct Count {
    bytes: u64,
    events: u64,
}

impl StreamHandler for Count {
    type State = ();
    sockscope::closed_flows_keep_their_state!(());

    fn on_event(&mut self, _: &FlowMeta, _: &mut (), _: Option<PacketRef>, e: StreamEvent<'_>) {
        self.events += 1;
        if let StreamEvent::Data { bytes, .. } = e {
            self.bytes += bytes.len() as u64;
            // Touch the data, as any consumer would.
            self.bytes += u64::from(bytes.first().copied().unwrap_or(0));
        }
    }
}

fn map(path: &str) -> memmap2::Mmap {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{e}"));
    // SAFETY: the benchmark input is not modified while mapped.
    unsafe { memmap2::Mmap::map(&file) }.unwrap_or_else(|e| panic!("{e}"))
}

fn open(path: &str) -> Box<dyn PacketSource + Send> {
    sockscope::source::open(path, 1).unwrap_or_else(|e| panic!("{e}"))
}

fn open_streamed(path: &str) -> Box<dyn PacketSource + Send> {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{e}"));
    Box::new(StreamSource::new(path, file, None, 1).unwrap_or_else(|e| panic!("{e}")))
}

/// The stage filter given on the command line.
static ONLY: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// CPU time (user + system) this process has used so far.
fn cpu_time() -> Duration {
    // SAFETY: getrusage fills the struct it is given; a zeroed rusage is a valid value.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `ru` is a valid, writable rusage.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1_000);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// Runs `f` `runs` times and prints the best wall and CPU times. On a shared machine CPU time
/// is the steadier figure (waiting for a core is not counted; cache and memory contention is).
fn stage(name: &str, runs: usize, size: u64, mut f: impl FnMut() -> u64) {
    if let Some(only) = ONLY.get()
        && !name.contains(only.as_str())
    {
        return;
    }
    let (mut wall, mut cpu) = (Duration::MAX, Duration::MAX);
    let mut check = 0;
    for _ in 0..runs {
        let (t, c) = (Instant::now(), cpu_time());
        check = black_box(f());
        wall = wall.min(t.elapsed());
        cpu = cpu.min(cpu_time().saturating_sub(c));
    }
    let gbs = |d: Duration| size as f64 / d.as_secs_f64() / 1e9;
    println!(
        "{name:<30} wall {:>7.1} ms {:>5.2} GB/s   cpu {:>7.1} ms {:>5.2} GB/s  (check {check})",
        wall.as_secs_f64() * 1e3,
        gbs(wall),
        cpu.as_secs_f64() * 1e3,
        gbs(cpu),
    );
}

fn full(src: &mut dyn PacketSource, config: &Config) -> u64 {
    let mut analyzer = Analyzer::new(config, sockscope::app::Silent);
    if let Err(e) = analyzer.run(src) {
        panic!("{e:?}");
    }
    match analyzer.finish() {
        Ok((stats, _)) => stats.packets,
        Err(e) => panic!("{e}"),
    }
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let path = args
        .first()
        .cloned()
        .unwrap_or_else(|| "bench-data/mix-100m.pcap".to_string());
    let runs: usize = args.get(1).and_then(|r| r.parse().ok()).unwrap_or(3);
    if let Some(only) = args.get(2) {
        let _ = ONLY.set(only.clone());
    }
    let size = match std::fs::metadata(&path) {
        Ok(m) => m.len(),
        Err(e) => {
            eprintln!("{path}: {e} (generate it with benches/run.sh)");
            return;
        }
    };
    println!("{path}: {} MiB, best of {runs}", size >> 20);

    stage("ref: touch mapped cache lines", runs, size, || {
        let map = map(&path);
        let _ = map.advise(memmap2::Advice::Sequential);
        map.iter().step_by(64).map(|&b| u64::from(b)).sum()
    });
    stage("ref: source (read)", runs, size, || {
        let mut src = open_streamed(&path);
        let mut n = 0u64;
        while let Ok(Some(f)) = src.next_frame() {
            n += f.data.len() as u64;
        }
        n
    });
    stage("source", runs, size, || {
        let mut src = open(&path);
        let mut n = 0u64;
        while let Ok(Some(f)) = src.next_frame() {
            n += f.data.len() as u64;
        }
        n
    });
    stage("source+decode", runs, size, || {
        let mut src = open(&path);
        let mut dec = Decoder::new();
        let mut n = 0u64;
        while let Ok(Some(f)) = src.next_frame() {
            if let Decoded::Tcp(seg) = dec.decode(&f) {
                n += seg.payload.len() as u64;
            }
        }
        n
    });
    let config = Config::default();
    stage("source+decode+tcp", runs, size, || {
        let mut src = open(&path);
        let mut dec = Decoder::new();
        let mut table: FlowTable<Count> = FlowTable::new(&config, None);
        let mut count = Count::default();
        while let Ok(Some(f)) = src.next_frame() {
            if let Decoded::Tcp(seg) = dec.decode(&f) {
                table.process(&seg, &mut count);
            }
        }
        table.finish(&mut count);
        count.bytes + count.events
    });
    stage("full analysis (no printer)", runs, size, || {
        full(open(&path).as_mut(), &config)
    });
    stage("ref: full analysis (read)", runs, size, || {
        full(open_streamed(&path).as_mut(), &config)
    });
}
