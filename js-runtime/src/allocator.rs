//! The global allocator of the `outpost` binary: mimalloc. It lives here
//! because this crate holds the project's `unsafe`.
//!
//! mimalloc serves most allocations from thread-local free lists, where
//! glibc's malloc takes arena locks and consolidates. It is called here the
//! way its fast paths expect: a request whose alignment mimalloc gives
//! every block anyway goes to plain `mi_malloc`. Asking `mi_malloc_aligned`
//! for those (as a wrapper that forwards every `Layout` does) sends each
//! one over 1 KiB to the over-allocating path, whose blocks then take the
//! slow path when freed.

use std::alloc::{GlobalAlloc, Layout};
use std::ffi::c_void;

use libmimalloc_sys as ffi;

/// Every mimalloc block of at least this many bytes is aligned to it
/// (`MI_MAX_ALIGN_SIZE`); smaller blocks are aligned to their size class.
const MAX_NATURAL_ALIGN: usize = 16;

/// mimalloc as Rust's global allocator.
pub struct MiMalloc;

/// Whether a plain allocation already satisfies `layout`'s alignment.
#[inline]
fn natural(layout: &Layout) -> bool {
    layout.align() <= MAX_NATURAL_ALIGN && layout.align() <= layout.size()
}

/// mimalloc's plain allocation function, and its aligned one.
type Plain = unsafe extern "C" fn(usize) -> *mut c_void;
type Aligned = unsafe extern "C" fn(usize, usize) -> *mut c_void;

/// A block for `layout` from `plain` where that suffices, else `aligned`.
#[inline(always)]
fn allocate(layout: Layout, plain: Plain, aligned: Aligned) -> *mut u8 {
    // SAFETY: mimalloc's allocation functions take any size and any
    // power-of-two alignment (which every `Layout` has).
    unsafe {
        if natural(&layout) {
            plain(layout.size()) as *mut u8
        } else {
            aligned(layout.size(), layout.align()) as *mut u8
        }
    }
}

// SAFETY: every method returns memory from mimalloc that satisfies the
// layout (plain allocations only where `natural` holds, aligned ones
// otherwise), or null on failure; `mi_free` and `mi_realloc*` accept any
// pointer mimalloc returned, whichever call made it.
unsafe impl GlobalAlloc for MiMalloc {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        allocate(layout, ffi::mi_malloc, ffi::mi_malloc_aligned)
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        allocate(layout, ffi::mi_zalloc, ffi::mi_zalloc_aligned)
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        // SAFETY: `ptr` came from this allocator, so from mimalloc.
        unsafe { ffi::mi_free(ptr as *mut c_void) }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: `ptr` came from this allocator; the new block keeps
        // `layout`'s alignment by the same rule as `alloc`.
        unsafe {
            if layout.align() <= MAX_NATURAL_ALIGN && layout.align() <= new_size {
                ffi::mi_realloc(ptr as *mut c_void, new_size) as *mut u8
            } else {
                ffi::mi_realloc_aligned(ptr as *mut c_void, new_size, layout.align()) as *mut u8
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every layout gets a block aligned as asked, small and large, plain
    /// and over-aligned, through alloc, alloc_zeroed and realloc.
    #[test]
    fn blocks_have_the_alignment_their_layout_asks_for() {
        let a = MiMalloc;
        for align in [1usize, 2, 4, 8, 16, 32, 64, 128, 4096] {
            for size in [1usize, 3, 8, 15, 16, 24, 100, 1000, 1025, 1500, 5000, 70_000, 1 << 20] {
                let layout = Layout::from_size_align(size, align).unwrap();
                // SAFETY: a non-zero-sized layout; each block is freed once.
                unsafe {
                    let p = a.alloc(layout);
                    assert!(!p.is_null());
                    assert_eq!(p as usize % align, 0, "alloc {size} {align}");
                    p.write_bytes(0xAB, size);
                    let q = a.realloc(p, layout, size * 3);
                    assert_eq!(q as usize % align, 0, "realloc {size} {align}");
                    assert_eq!(*q.add(size - 1), 0xAB);
                    a.dealloc(q, Layout::from_size_align(size * 3, align).unwrap());
                    let z = a.alloc_zeroed(layout);
                    assert_eq!(z as usize % align, 0, "alloc_zeroed {size} {align}");
                    assert!((0..size).all(|i| *z.add(i) == 0));
                    a.dealloc(z, layout);
                }
            }
        }
    }
}
