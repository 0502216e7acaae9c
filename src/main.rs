fn main() -> std::process::ExitCode {
    // `ceso vm list | head` must end quietly when the reader goes away, not panic in
    // println!: restore the default SIGPIPE action that Rust's runtime ignores.
    #[cfg(unix)]
    // SAFETY: called first thing in main, before any thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    ceso::cli::main()
}
