//! What an interrupt (Ctrl-C, SIGINT; or SIGTERM) prints before the process ends: one line
//! saying that the command was interrupted and where that leaves what it was writing. The
//! process then ends as the signal ends it (a shell shows 130 for SIGINT), so nothing after
//! the signal runs: every file butcher writes is whole under its final name or not there, and
//! the next run takes up the rest.

use std::io::IsTerminal;
use std::sync::OnceLock;

/// The line written when a signal comes, with its line feeds.
static LINE: OnceLock<Vec<u8>> = OnceLock::new();

/// From now on, an interrupt prints `butcher: interrupted: {what}` (or `butcher: interrupted`
/// when `what` is empty) before the process ends.
pub fn on_interrupt(what: &str) {
    // A progress bar may be half-way along the terminal's line.
    let start = if std::io::stderr().is_terminal() {
        "\n"
    } else {
        ""
    };
    let line = match what {
        "" => format!("{start}butcher: interrupted\n"),
        w => format!("{start}butcher: interrupted: {w}\n"),
    };
    if LINE.set(line.into_bytes()).is_err() {
        return;
    }
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: `handle` only calls functions that are async-signal-safe (write, signal,
        // raise) and reads `LINE`, which is set before the handler is installed and never
        // changed after.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = handle as extern "C" fn(libc::c_int) as libc::sighandler_t;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(sig, &action, std::ptr::null_mut());
        }
    }
}

extern "C" fn handle(sig: libc::c_int) {
    if let Some(line) = LINE.get() {
        // SAFETY: writes bytes that live for the whole process to stderr.
        unsafe {
            libc::write(2, line.as_ptr().cast(), line.len());
        }
    }
    // SAFETY: back to the default action, then the same signal again: the process ends as the
    // signal ends it, with the status a shell expects.
    unsafe {
        libc::signal(sig, libc::SIG_DFL);
        libc::raise(sig);
    }
}
