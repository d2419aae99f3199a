//! msbctl starts as a C program does, without std's start-up: for a command that is one
//! round trip, that start-up is a tenth of its time (it reads /proc/self/maps to place the
//! main thread's stack guard, and sets up handlers for a stack overflow). What of it changes
//! what msbctl does is done here: SIGPIPE ignored (a closed pipe is a write error, which
//! msbctl reports or ends on quietly), standard descriptors open, 101 for a panic, stdout
//! flushed at the end. Under `cargo test` the test harness brings its own `main`.
#![cfg_attr(not(test), no_main)]

#[cfg(not(test))]
mod start {
    use std::ffi::{c_char, c_int};
    use std::io::Write;

    #[no_mangle]
    extern "C" fn main(_argc: c_int, _argv: *const *const c_char) -> c_int {
        // SAFETY: nothing else runs yet; the handler is the kernel's own SIG_IGN.
        unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
        open_standard_descriptors();
        let code = std::panic::catch_unwind(msbctl::main).unwrap_or(101);
        // Help that clap printed may still be in stdout's buffer; what a flush cannot write
        // has nowhere left to go.
        let _ = std::io::stdout().flush();
        c_int::from(code)
    }

    /// Opens /dev/null on whichever of stdin, stdout and stderr is closed, as std does, so
    /// that msbctl's socket never becomes its stdout.
    fn open_standard_descriptors() {
        let mut fds = [0, 1, 2].map(|fd| libc::pollfd {
            fd,
            events: 0,
            revents: 0,
        });
        // SAFETY: `fds` is an array of three pollfd, as the count says.
        if unsafe { libc::poll(fds.as_mut_ptr(), 3, 0) } < 0 {
            return;
        }
        for fd in fds {
            if fd.revents & libc::POLLNVAL != 0 {
                // The lowest free descriptor is taken: this one, the lower ones being open.
                // SAFETY: a NUL-terminated path; the descriptor is kept for the process's life.
                if unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDWR) } != fd.fd {
                    std::process::abort();
                }
            }
        }
    }
}
