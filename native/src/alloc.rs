//! The process allocator: mimalloc, set to keep the memory it frees.
//!
//! burn's CPU backends allocate a fresh buffer for almost every tensor op, and the large ones
//! (a batch's edge features run to tens of MB) come straight from the OS: glibc serves them with
//! `mmap` and returns them with `munmap`, mimalloc with its default settings purges them after a
//! delay, so each op paid again for page faults on freshly zeroed pages (12 % of an ET forward
//! pass on flex; a third of the time was system time). Kept, the pages are reused by the next
//! op of the same size: ET 128/6/8 on flex, batch 32, forward + backward 18 → 26 mol/s (README,
//! "Benchmarks"). The price: the process holds on to its peak memory until it exits.

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` in mimalloc's `mi_option_e` (include/mimalloc.h; the index is
/// stable: options are only appended, retired ones keep their slot as `deprecated_*`).
/// libmimalloc-sys 0.1.49 names the options around it but not this one.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Never return freed memory to the OS (purge delay −1). Call once at start-up.
pub fn keep_freed_memory() {
    // SAFETY: `mi_option_set` stores an integer in mimalloc's option table; it has no
    // preconditions and may be called at any time from any thread.
    #[allow(unsafe_code)]
    unsafe {
        libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// mimalloc's current purge delay in milliseconds.
    fn purge_delay_ms() -> std::ffi::c_long {
        // SAFETY: `mi_option_get` reads mimalloc's option table; no preconditions.
        #[allow(unsafe_code)]
        unsafe {
            libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY)
        }
    }

    /// Set in the process that [`option_15_is_the_purge_delay`] starts: it only prints option 15.
    const CHILD: &str = "NUCLEATE_ALLOC_TEST_CHILD";

    /// Index 15 is the purge delay: mimalloc reads each option from the environment by its
    /// *name* (`MIMALLOC_PURGE_DELAY`), so a process started with that variable set must see
    /// the value at index 15 — a wrong index reads some other option and fails. Then, in this
    /// process, `keep_freed_memory` must set it to −1.
    #[test]
    fn option_15_is_the_purge_delay() {
        if std::env::var_os(CHILD).is_some() {
            println!("purge_delay={}", purge_delay_ms());
            return;
        }
        let exe = std::env::current_exe().expect("test binary");
        let out = std::process::Command::new(exe)
            .args([
                "--exact",
                "alloc::tests::option_15_is_the_purge_delay",
                "--nocapture",
            ])
            .env(CHILD, "1")
            .env("MIMALLOC_PURGE_DELAY", "4321")
            .output()
            .expect("test binary runs");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            stdout.contains("purge_delay=4321"),
            "option 15 did not follow MIMALLOC_PURGE_DELAY: {stdout}"
        );
        keep_freed_memory();
        assert_eq!(purge_delay_ms(), -1);
    }
}
