//! Files for other tools: instead of a view on stdout, `--format parquet --out DIR`; beside it,
//! `--har FILE` and `--zeek DIR` (docs/interop.md). The analysis is `read`'s (or `live`'s);
//! only the reporters differ.

use super::{Status, error_line};
use crate::cli::{Common, Outputs};
use crate::config::Config;
use crate::report::har::HarWriter;
use crate::report::zeek::ZeekWriter;
use crate::report::{Reporter, Tee, escape};

/// The file writers a run's outputs ask for, opened (by the identity that will own the files).
#[derive(Default)]
pub struct FileWriters {
    /// `--format parquet`: the writer that takes the place of the view on stdout.
    pub main: Option<Box<dyn Reporter>>,
    /// `--har`, `--zeek`: writers beside the view.
    pub beside: Vec<Box<dyn Reporter>>,
}

impl FileWriters {
    /// Opens what `outputs` ask for; `config` keeps what they need (HAR's bodies: whole
    /// messages up to `--max-message`, for every flow; Parquet's rows: their share of the
    /// memory budget).
    /// `live` writes files in place (it may not be allowed to rename them when it ends).
    pub fn open(
        outputs: &Outputs,
        common: &Common,
        config: &mut Config,
        live: bool,
    ) -> Result<Self, String> {
        let mut w = FileWriters::default();
        if outputs.parquet() {
            w.main = Some(parquet_writer(outputs, common, config, live)?);
        }
        if let Some(path) = &outputs.har {
            let file =
                std::fs::File::create(path).map_err(|e| format!("{}: {e}", escape::path(path)))?;
            w.beside
                .push(Box::new(HarWriter::new(std::io::BufWriter::new(file))));
            config.display_bytes = config.display_bytes.max(config.limits.max_message_buffer);
            config.display_flow = None;
        }
        if let Some(dir) = &outputs.zeek {
            let z = ZeekWriter::create(dir, outputs.zeek_json)
                .map_err(|e| format!("{}: {e}", escape::path(dir)))?;
            w.beside.push(Box::new(z));
        }
        Ok(w)
    }

    /// The run's reporter: the Parquet writer, or `view` (made only then), with the writers
    /// beside it.
    pub fn reporter(self, view: impl FnOnce() -> Box<dyn Reporter>) -> Box<dyn Reporter> {
        let main = self.main.unwrap_or_else(view);
        if self.beside.is_empty() {
            return main;
        }
        let mut printers = vec![main];
        printers.extend(self.beside);
        Box::new(Tee { printers })
    }
}

/// The writer of `--format parquet --out DIR`; its rows' memory comes out of the analysis's
/// budget.
#[cfg(feature = "parquet")]
fn parquet_writer(
    outputs: &Outputs,
    common: &Common,
    config: &mut Config,
    in_place: bool,
) -> Result<Box<dyn Reporter>, String> {
    use crate::report::parquet::{ParquetOptions, ParquetWriter, writer_memory};
    let Some(dir) = &outputs.out else {
        return Err("--format parquet writes files: name their directory with --out DIR".into());
    };
    let memory = writer_memory(config.limits.memory);
    config.limits.memory = config.limits.memory.saturating_sub(memory).max(1 << 20);
    let opts = ParquetOptions {
        dir: dir.clone(),
        ws_frames: outputs.ws_frames,
        memory,
        preview_chars: common.preview_chars(),
        in_place,
        roll: outputs.roll.map(|m| (m * 60e9) as i64),
    };
    let writer = ParquetWriter::create(opts).map_err(|e| format!("{}: {e}", escape::path(dir)))?;
    Ok(Box::new(writer))
}

#[cfg(not(feature = "parquet"))]
fn parquet_writer(
    _outputs: &Outputs,
    _common: &Common,
    _config: &mut Config,
    _in_place: bool,
) -> Result<Box<dyn Reporter>, String> {
    Err("this sockscope was built without Parquet (cargo feature `parquet`)".into())
}

/// `read --format parquet --out DIR`: nothing on stdout, one line on stderr when done.
pub fn read_parquet(
    files: &[String],
    count: Option<u64>,
    outputs: &Outputs,
    common: &Common,
) -> Status {
    use super::{analyze, with_progress};
    use std::io::Write;
    if let Some(dir) = files.iter().find(|f| std::path::Path::new(f).is_dir()) {
        error_line(format!("{dir}: is a directory; name capture files"));
        return Status::Error;
    }
    let Some(mut config) = super::read_config(common, count) else {
        return Status::Error;
    };
    let writers = match FileWriters::open(outputs, common, &mut config, false) {
        Ok(w) => w,
        Err(msg) => {
            error_line(msg);
            return Status::Error;
        }
    };
    let reporter = with_progress(
        writers.reporter(|| Box::new(super::Silent)),
        files,
        common,
        true,
    );
    match analyze(files, &config, reporter) {
        Ok(_) => {
            if let Some(dir) = &outputs.out {
                let _ = writeln!(
                    std::io::stderr(),
                    "sockscope: wrote the Parquet files and summary.json to {}",
                    escape::path(dir)
                );
            }
            Status::Ok
        }
        Err(e) => e.report(),
    }
}
