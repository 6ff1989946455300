//! The Parquet encoder thread: it owns every table's open file and turns the rows handed to it
//! into row groups (encoding and zstd compression: about half the writer's work) while the
//! analysis goes on filling the next rows. It promises:
//! - jobs are done in the order given, so a table's row groups, and the closing and renaming of
//!   its file, happen in the order the printer asked for them;
//! - at most two row groups are in its hands at a time, one being written and one waiting (a
//!   third hand-over waits), so the memory held is the rows being filled plus two row groups;
//! - each emptied buffer is handed back to be filled again (no allocation per row group);
//! - the first error stops all further writing and is reported, once, by [`Encoder::failure`]
//!   or [`Encoder::finish`].

use super::columns::Columns;
use parquet::file::writer::SerializedFileWriter;
use std::fs::File;
use std::io::{self, BufWriter};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender, SyncSender, channel, sync_channel};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

pub type FileWriter = SerializedFileWriter<BufWriter<File>>;

/// What the encoder is asked to do.
enum Job {
    /// Table `slot`'s file, opened by the caller (before a privilege drop, if any).
    Open(usize, Box<FileWriter>),
    /// Rows to write as one row group of table `slot`.
    Rows(usize, Columns),
    /// Complete table `slot`'s file, written under `partial`, and give it its name `path`.
    Close {
        slot: usize,
        partial: PathBuf,
        path: PathBuf,
    },
}

/// The error that stopped the encoder, and whether there is one to take: the printer asks
/// after every packet, which costs one load until something failed.
#[derive(Default)]
struct Failure {
    set: AtomicBool,
    error: Mutex<Option<io::Error>>,
}

impl Failure {
    fn put(&self, e: io::Error) {
        *self.error.lock().unwrap_or_else(PoisonError::into_inner) = Some(e);
        self.set.store(true, Ordering::Release);
    }

    fn take(&self) -> Option<io::Error> {
        if !self.set.load(Ordering::Acquire) {
            return None;
        }
        self.set.store(false, Ordering::Relaxed);
        self.error
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }
}

/// The encoder thread, from the printer's side.
pub struct Encoder {
    jobs: Option<SyncSender<Job>>,
    emptied: Receiver<Columns>,
    failed: Arc<Failure>,
    thread: Option<JoinHandle<()>>,
}

impl Encoder {
    pub fn start() -> io::Result<Encoder> {
        // One job may wait while one is done: the analysis hands a row group over without
        // waiting for the previous one (of another table, in the same look at the buffers) to
        // be written, and no more rows than that queue up.
        let (jobs, inbox) = sync_channel::<Job>(1);
        let (give_back, emptied) = channel();
        let failed = Arc::new(Failure::default());
        let record = Arc::clone(&failed);
        let thread = std::thread::Builder::new()
            .name("parquet".into())
            .spawn(move || work(&inbox, &give_back, &record))?;
        Ok(Encoder {
            jobs: Some(jobs),
            emptied,
            failed,
            thread: Some(thread),
        })
    }

    fn send(&self, job: Job) -> io::Result<()> {
        let gone = || io::Error::other("the Parquet encoder stopped");
        self.jobs
            .as_ref()
            .ok_or_else(gone)?
            .send(job)
            .map_err(|_| gone())
    }

    pub fn open(&self, slot: usize, writer: FileWriter) -> io::Result<()> {
        self.send(Job::Open(slot, Box::new(writer)))
    }

    /// Hands table `slot`'s rows over to be written as a row group.
    pub fn write(&self, slot: usize, rows: Columns) -> io::Result<()> {
        self.send(Job::Rows(slot, rows))
    }

    pub fn close(&self, slot: usize, partial: PathBuf, path: PathBuf) -> io::Result<()> {
        self.send(Job::Close {
            slot,
            partial,
            path,
        })
    }

    /// A buffer the encoder has emptied, ready to be filled again, if one came back.
    pub fn emptied(&self) -> Option<Columns> {
        self.emptied.try_recv().ok()
    }

    /// The error that stopped the encoder, if one did (taken: it is reported once).
    pub fn failure(&self) -> Option<io::Error> {
        self.failed.take()
    }

    /// Waits until every job given is done; the error that stopped the encoder, if any.
    pub fn finish(&mut self) -> io::Result<()> {
        self.jobs = None;
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            return Err(io::Error::other("the Parquet encoder failed"));
        }
        self.failure().map_or(Ok(()), Err)
    }
}

impl Drop for Encoder {
    fn drop(&mut self) {
        let _ = self.finish();
    }
}

/// The encoder thread's loop: jobs in order until the printer hangs up; after an error, the
/// remaining jobs are taken and dropped (the printer is told by `failed`).
fn work(inbox: &Receiver<Job>, give_back: &Sender<Columns>, failed: &Failure) {
    let mut files: Vec<Option<Box<FileWriter>>> = Vec::new();
    let mut broken = false;
    for job in inbox {
        if broken {
            continue;
        }
        if let Err(e) = run(job, &mut files, give_back) {
            broken = true;
            failed.put(e);
        }
    }
}

fn run(
    job: Job,
    files: &mut Vec<Option<Box<FileWriter>>>,
    give_back: &Sender<Columns>,
) -> io::Result<()> {
    match job {
        Job::Open(slot, writer) => {
            if files.len() <= slot {
                files.resize_with(slot + 1, || None);
            }
            files[slot] = Some(writer);
        }
        Job::Rows(slot, mut rows) => {
            let writer = files
                .get_mut(slot)
                .and_then(Option::as_mut)
                .ok_or_else(|| io::Error::other("rows for a Parquet file that is not open"))?;
            let mut rg = writer.next_row_group().map_err(io::Error::other)?;
            rows.write(&mut rg).map_err(io::Error::other)?;
            rg.close().map_err(io::Error::other)?;
            // The printer may have finished already: then the buffer is simply dropped.
            let _ = give_back.send(rows);
        }
        Job::Close {
            slot,
            partial,
            path,
        } => {
            if let Some(writer) = files.get_mut(slot).and_then(Option::take) {
                let mut file = writer.into_inner().map_err(io::Error::other)?;
                io::Write::flush(&mut file)?;
                drop(file);
                if partial != path {
                    std::fs::rename(&partial, &path)?;
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::parquet::schema;
    use parquet::file::properties::WriterProperties;
    use std::sync::Arc;

    fn anomalies(rows: usize) -> Columns {
        let def = schema::table("anomaly").expect("the anomaly table");
        let mut c = Columns::new(def);
        for i in 0..rows {
            c.start_row();
            c.field("frame", false, &(i as u64))
                .expect("a frame number");
            c.end_row();
        }
        c
    }

    fn writer(partial: &std::path::Path) -> FileWriter {
        let def = schema::table("anomaly").expect("the anomaly table");
        let message = parquet::schema::parser::parse_message_type(&def.message_type())
            .expect("the table's message type");
        let file = BufWriter::new(File::create(partial).expect("a file"));
        SerializedFileWriter::new(
            file,
            Arc::new(message),
            Arc::new(WriterProperties::builder().build()),
        )
        .expect("a writer")
    }

    #[test]
    fn row_groups_are_written_in_order_and_their_buffers_come_back_empty() {
        let dir = tempfile::tempdir().expect("a directory");
        let (partial, path) = (dir.path().join(".a.partial"), dir.path().join("a.parquet"));
        let mut enc = Encoder::start().expect("the encoder");
        enc.open(0, writer(&partial)).expect("open");
        enc.write(0, anomalies(3)).expect("rows");
        enc.write(0, anomalies(2)).expect("rows");
        enc.close(0, partial.clone(), path.clone()).expect("close");
        enc.finish().expect("every job done");
        let back: Vec<Columns> = std::iter::from_fn(|| enc.emptied()).collect();
        assert_eq!(back.len(), 2);
        assert!(back.iter().all(|c| c.rows == 0 && c.buffered() == 0));
        assert!(
            back.iter().all(|c| c.allocated() > 0),
            "buffers keep their memory"
        );
        assert!(!partial.exists());
        let reader = parquet::file::reader::SerializedFileReader::new(
            File::open(&path).expect("the renamed file"),
        )
        .expect("a Parquet file");
        use parquet::file::reader::FileReader;
        let meta = reader.metadata();
        let groups: Vec<i64> = meta.row_groups().iter().map(|g| g.num_rows()).collect();
        assert_eq!(groups, [3, 2]);
    }

    #[test]
    fn the_first_error_stops_the_writing_and_is_reported_once() {
        let dir = tempfile::tempdir().expect("a directory");
        let (partial, path) = (dir.path().join(".a.partial"), dir.path().join("a.parquet"));
        let mut enc = Encoder::start().expect("the encoder");
        // Rows for a file never opened; the file opened after it is then left alone.
        enc.write(3, anomalies(1)).expect("rows");
        enc.open(0, writer(&partial)).expect("open");
        enc.close(0, partial.clone(), path.clone()).expect("close");
        let err = enc.finish().expect_err("the rows had no file");
        assert!(err.to_string().contains("not open"), "{err}");
        assert!(enc.failure().is_none(), "reported once");
        assert!(!path.exists(), "nothing is completed after the error");
        assert!(
            enc.write(0, anomalies(1)).is_err(),
            "a finished encoder takes no jobs"
        );
    }
}
