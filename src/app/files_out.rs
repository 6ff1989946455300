//! `read` writing files for other tools: instead of a view on stdout, `--format parquet --out
//! DIR`; beside it, `--har FILE` and `--zeek DIR` (docs/interop.md). The analysis is `read`'s;
//! only the reporters differ.

use super::{Status, error_line};
use crate::cli::{Common, Outputs};
use crate::config::Config;
use crate::report::har::HarWriter;
use crate::report::zeek::ZeekWriter;
use crate::report::{Reporter, Tee, escape};

/// `main` with the file writers `outputs` ask for beside it; `config` keeps what they need
/// (HAR's bodies: whole messages up to `--max-message`, for every flow).
pub fn with_files(
    main: Box<dyn Reporter>,
    outputs: &Outputs,
    config: &mut Config,
) -> Result<Box<dyn Reporter>, String> {
    let mut printers = vec![main];
    if let Some(path) = &outputs.har {
        let file =
            std::fs::File::create(path).map_err(|e| format!("{}: {e}", escape::path(path)))?;
        printers.push(Box::new(HarWriter::new(std::io::BufWriter::new(file))));
        config.display_bytes = config.display_bytes.max(config.limits.max_message_buffer);
        config.display_flow = None;
    }
    if let Some(dir) = &outputs.zeek {
        let w = ZeekWriter::create(dir, outputs.zeek_json)
            .map_err(|e| format!("{}: {e}", escape::path(dir)))?;
        printers.push(Box::new(w));
    }
    Ok(if printers.len() == 1 {
        printers.remove(0)
    } else {
        Box::new(Tee { printers })
    })
}

/// `read --format parquet --out DIR`.
#[cfg(feature = "parquet")]
pub fn read_parquet(files: &[String], outputs: &Outputs, common: &Common) -> Status {
    use super::{analyze, with_progress};
    use crate::report::parquet::{ParquetOptions, ParquetWriter, writer_memory};
    use std::io::Write;
    use std::path::Path;
    let Some(dir) = &outputs.out else {
        return Status::Error;
    };
    if let Some(dir) = files.iter().find(|f| Path::new(f).is_dir()) {
        error_line(format!("{dir}: is a directory; name capture files"));
        return Status::Error;
    }
    let mut config = common.config(false);
    // The rows buffered before each row group come out of the memory budget.
    let memory = writer_memory(config.limits.memory);
    config.limits.memory = config.limits.memory.saturating_sub(memory).max(1 << 20);
    let opts = ParquetOptions {
        dir: dir.clone(),
        ws_frames: outputs.ws_frames,
        memory,
        preview_chars: common.snap_preview,
    };
    let writer = match ParquetWriter::create(opts) {
        Ok(w) => w,
        Err(e) => {
            error_line(format!("{}: {e}", escape::path(dir)));
            return Status::Error;
        }
    };
    let reporter = match with_files(Box::new(writer), outputs, &mut config) {
        Ok(r) => r,
        Err(msg) => {
            error_line(msg);
            return Status::Error;
        }
    };
    let reporter = with_progress(reporter, files, common, true);
    match analyze(files, &config, reporter) {
        Ok(_) => {
            let _ = writeln!(
                std::io::stderr(),
                "sockscope: wrote the Parquet files and summary.json to {}",
                escape::path(dir)
            );
            Status::Ok
        }
        Err(e) => e.report(),
    }
}

/// `read --format parquet` in a build without Parquet.
#[cfg(not(feature = "parquet"))]
pub fn read_parquet(_files: &[String], _outputs: &Outputs, _common: &Common) -> Status {
    error_line("this sockscope was built without Parquet (cargo feature `parquet`)");
    Status::Error
}
