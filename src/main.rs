//! The `snapdiff` command: parse the command line and hand over to [`cli`].

mod cli;

fn main() -> std::process::ExitCode {
    tune_allocator();
    cli::main()
}

/// Keep the scans' buffers in the process. A Parquet scan allocates and frees buffers of
/// a few megabytes for every column chunk; by default glibc maps each from the kernel
/// and unmaps it when freed, so every chunk is faulted in and zeroed again (a fifth of a
/// verification's time went to the kernel). Buffers up to 32 MiB now come from the heap,
/// and freed memory is kept (up to 1 GiB) for the next ones. Peak memory is unchanged.
fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets allocator parameters; called before any thread starts.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
        libc::mallopt(libc::M_TOP_PAD, 64 << 20);
    }
}
