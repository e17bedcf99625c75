//! Progress on stderr: indicatif bars on a terminal, a plain line every few seconds otherwise,
//! nothing with `--quiet`. Warnings are always shown.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use butcher::{Progress, Stage};

use super::Ui;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

enum Mode {
    Quiet,
    Bars,
    Plain,
}

struct Current {
    stage: Stage,
    total_bytes: u64,
    total_items: u64,
    started: Instant,
    /// Time spent waiting for the user (at a disc prompt): not counted in rates.
    paused: Duration,
    last_line: Instant,
    bar: Option<ProgressBar>,
}

impl Current {
    /// Seconds of work so far, waits for the user left out.
    fn active_secs(&self) -> f64 {
        self.started
            .elapsed()
            .saturating_sub(self.paused)
            .as_secs_f64()
            .max(0.001)
    }
}

/// The CLI's implementation of the library's progress trait.
pub struct CliProgress {
    mode: Mode,
    every: Duration,
    bytes: AtomicU64,
    items: AtomicU64,
    current: Mutex<Option<Current>>,
}

impl CliProgress {
    /// Bars when stderr is a terminal, plain lines (every `ui.progress_every`) otherwise,
    /// nothing when `ui.quiet`.
    pub fn new(ui: &Ui) -> Self {
        let mode = if ui.quiet {
            Mode::Quiet
        } else if std::io::stderr().is_terminal() {
            Mode::Bars
        } else {
            Mode::Plain
        };
        CliProgress {
            mode,
            every: ui.progress_every,
            bytes: AtomicU64::new(0),
            items: AtomicU64::new(0),
            current: Mutex::new(None),
        }
    }

    /// Prints a message line unless quiet (clearing around a bar).
    pub fn say(&self, msg: &str) {
        match self.mode {
            Mode::Quiet => {}
            _ => self.println(msg),
        }
    }

    /// Runs `f` (a prompt) with any progress bar hidden, and leaves the time it takes out of
    /// the rates and the ETA: waiting for the user is not slow work.
    pub fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        let bar = self
            .current
            .lock()
            .expect("progress lock")
            .as_ref()
            .and_then(|c| c.bar.clone());
        let asked = Instant::now();
        let r = match bar {
            Some(b) => b.suspend(f),
            None => f(),
        };
        if let Some(c) = self.current.lock().expect("progress lock").as_mut() {
            c.paused += asked.elapsed();
            if let Some(b) = &c.bar {
                b.reset_eta();
            }
        }
        r
    }

    fn println(&self, msg: &str) {
        let cur = self.current.lock().expect("progress lock");
        match cur.as_ref().and_then(|c| c.bar.as_ref()) {
            Some(bar) => bar.println(msg),
            None => eprintln!("{msg}"),
        }
    }

    fn plain_line(&self, c: &Current) {
        let done = self.bytes.load(Ordering::Relaxed);
        let items = self.items.load(Ordering::Relaxed);
        let secs = c.active_secs();
        let pct = if c.total_bytes > 0 {
            format!(" ({:.0}%)", done as f64 * 100.0 / c.total_bytes as f64)
        } else {
            String::new()
        };
        eprintln!(
            "butcher: {}: {} of {}{pct}, {} of {} files, {}/s",
            c.stage.name(),
            super::human_bytes(done),
            super::human_bytes(c.total_bytes),
            items,
            c.total_items,
            super::human_bytes((done as f64 / secs) as u64)
        );
    }
}

impl Progress for CliProgress {
    fn start(&self, stage: Stage, total_bytes: u64, total_items: u64) {
        self.bytes.store(0, Ordering::Relaxed);
        self.items.store(0, Ordering::Relaxed);
        let bar = match self.mode {
            Mode::Bars => {
                let b =
                    ProgressBar::with_draw_target(Some(total_bytes), ProgressDrawTarget::stderr());
                b.set_style(
                    ProgressStyle::with_template(
                        "{prefix:>9} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} ETA {eta} {msg}",
                    )
                    .expect("invariant: the template is valid")
                    .progress_chars("=> "),
                );
                b.set_prefix(stage.name());
                Some(b)
            }
            _ => None,
        };
        let now = Instant::now();
        *self.current.lock().expect("progress lock") = Some(Current {
            stage,
            total_bytes,
            total_items,
            started: now,
            paused: Duration::ZERO,
            last_line: now,
            bar,
        });
    }

    fn advance(&self, bytes: u64, items: u64) {
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
        let done_items = self.items.fetch_add(items, Ordering::Relaxed) + items;
        match self.mode {
            Mode::Quiet => {}
            Mode::Bars => {
                if let Ok(cur) = self.current.try_lock() {
                    if let Some(bar) = cur.as_ref().and_then(|c| c.bar.as_ref()) {
                        bar.set_position(self.bytes.load(Ordering::Relaxed));
                        if items > 0 {
                            let total = cur.as_ref().map(|c| c.total_items).unwrap_or(0);
                            bar.set_message(format!("{done_items}/{total} files"));
                        }
                    }
                }
            }
            Mode::Plain => {
                if let Ok(mut cur) = self.current.try_lock() {
                    if let Some(c) = cur.as_mut() {
                        if c.last_line.elapsed() >= self.every {
                            c.last_line = Instant::now();
                            self.plain_line(c);
                        }
                    }
                }
            }
        }
    }

    fn finish(&self) {
        let cur = self.current.lock().expect("progress lock").take();
        if let Some(c) = cur {
            if let Some(bar) = c.bar {
                bar.finish_and_clear();
            }
        }
    }

    fn warn(&self, message: &str) {
        self.println(&format!("butcher: warning: {message}"));
    }

    fn note(&self, message: &str) {
        self.say(&format!("butcher: {message}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Time spent at a prompt does not count as work: the rate of a stage that waited for the
    /// user is the rate of its work.
    #[test]
    fn a_wait_at_a_prompt_is_left_out_of_the_rate() {
        let ui = Ui {
            quiet: false,
            progress_every: Duration::from_secs(3600),
        };
        let p = CliProgress::new(&ui);
        p.start(Stage::Restore, 1000, 1);
        p.advance(500, 0);
        let wait = Duration::from_millis(300);
        p.suspend(|| std::thread::sleep(wait));
        let cur = p.current.lock().unwrap();
        let c = cur.as_ref().unwrap();
        assert!(c.paused >= wait, "{:?}", c.paused);
        assert!(
            c.active_secs() < wait.as_secs_f64(),
            "{} s of work counted",
            c.active_secs()
        );
    }
}
