//! The `sockscope` binary: everything lives in the library; this only maps the result onto the
//! process exit status.

fn main() -> std::process::ExitCode {
    sockscope::app::main()
}
