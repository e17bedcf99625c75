//! Creates the recovery files of some files, as butcher does for a disc, and says with what
//! parameters: `create PERCENT DIR FILE...` (the files are names inside DIR; the recovery
//! files are DIR/recovery.par2 and DIR/recovery.volFFF+CCC.par2). For benchmarks against
//! other PAR2 programs, which it gives the same slice size and recovery slice count.

use std::path::Path;
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 3 {
        eprintln!("usage: create PERCENT DIR FILE...");
        std::process::exit(2);
    }
    let percent: u32 = args[0].parse().expect("PERCENT is a number");
    let dir = Path::new(&args[1]);
    let files: Vec<String> = args[2..].to_vec();
    let lengths: Vec<u64> = files
        .iter()
        .map(|f| std::fs::metadata(dir.join(f)).expect("a file").len())
        .collect();
    let s = butcher_par2::rule::slice_size(&lengths);
    let n = butcher_par2::rule::input_slices(&lengths, s);
    let r = butcher_par2::rule::recovery_slices(n, percent);
    let started = Instant::now();
    let written = butcher_par2::create(
        &butcher_par2::CreateOptions {
            dir,
            files: &files,
            base: "recovery",
            percent,
            creator: "butcher-par2 example",
            tmp_suffix: ".partial",
            memory: 256 << 20,
        },
        &|_, _| {},
    )
    .expect("created");
    println!(
        "slice_size={s} input_slices={n} recovery_slices={r} files={} seconds={:.3} kernel={}",
        written.len(),
        started.elapsed().as_secs_f64(),
        butcher_par2::kernel::path_name()
    );
}
