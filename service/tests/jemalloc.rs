//! The services' allocator options take effect: this test binary allocates as a service does
//! (`use_jemalloc!`), then reads jemalloc's options back.

tributary_service::use_jemalloc!();

fn option(name: &std::ffi::CStr) -> usize {
    let mut value: usize = 0;
    let mut len = std::mem::size_of::<usize>();
    // SAFETY: `value` is a `usize` of `len` bytes, the type of these jemalloc options.
    let status = unsafe {
        tikv_jemalloc_sys::mallctl(
            name.as_ptr(),
            (&mut value as *mut usize).cast(),
            &mut len,
            std::ptr::null_mut(),
            0,
        )
    };
    assert_eq!(status, 0, "mallctl {name:?} failed");
    value
}

#[test]
fn large_allocations_come_from_the_ordinary_arenas() {
    // A batch of rows or an insert block (8 MiB and more) must not go to jemalloc's oversize
    // arena, which returns pages on free (service/src/lib.rs, `jemalloc_options!`).
    let batch = vec![0u8; 64 << 20];
    assert_eq!(batch.len(), 64 << 20);
    assert_eq!(option(c"opt.oversize_threshold"), 1 << 30);
}
