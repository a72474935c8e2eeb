//! The `apd` command line: train targets, decompose them, benchmark, sweep seeds.
//! Native only; on wasm32 (where `cargo test` still builds binaries) it is empty.

#[cfg(not(target_arch = "wasm32"))]
mod bench;
#[cfg(not(target_arch = "wasm32"))]
mod cli;
#[cfg(not(target_arch = "wasm32"))]
mod decompose;
#[cfg(not(target_arch = "wasm32"))]
mod files;
#[cfg(not(target_arch = "wasm32"))]
mod foreign;
#[cfg(not(target_arch = "wasm32"))]
mod output;
#[cfg(not(target_arch = "wasm32"))]
mod shard;
#[cfg(not(target_arch = "wasm32"))]
mod sweep;

#[cfg(not(target_arch = "wasm32"))]
fn main() -> std::process::ExitCode {
    keep_freed_memory();
    cli::main()
}

/// Every step allocates and frees the same few hundred kilobytes of
/// tensors. glibc hands blocks that large back to the kernel when they are
/// freed (mmap and trim), so each step page-faults them in again: 10% of
/// an APD step on tms-5-2 in a profile, and as much again in the copies
/// that touch them first. Keeping freed memory in the process makes APD
/// steps 1.3 to 1.7 times faster natively (docs/performance.md), at the
/// price of the process keeping its peak memory until it exits.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn keep_freed_memory() {
    // SAFETY: mallopt only sets allocator parameters; called before any
    // other thread exists. 32 MiB is the largest mmap threshold glibc takes.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
    }
}

#[cfg(all(not(target_arch = "wasm32"), not(all(target_os = "linux", target_env = "gnu"))))]
fn keep_freed_memory() {}

#[cfg(target_arch = "wasm32")]
fn main() {}
